"""build/config.yml is validated on load: each mistake gets one line naming the field."""

import pytest
import yaml
from sagemaker_gitops.config import load_config
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.project import project

VALID = yaml.safe_load(project().config_path.read_text())


def with_change(path: str, value):
    config = yaml.safe_load(project().config_path.read_text())
    *parents, leaf = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    node[leaf] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("gate.metric", "precision", "gate.metric"),
        ("gate.threshold", -1.0 if VALID["gate"]["metric"] in ("rmse", "mae") else 1.5, "threshold must be"),
        ("split.strategy", "shuffled", "split.strategy"),
        ("split.test_fraction", 0.9, "must be below 1"),
        ("split.strategy", "key", "split.strategy 'key' needs split.key"),
        ("split.key", "customer_id", "split.key is read by split.strategy 'key' only"),
        ("split.max_key_share", 0, "split.max_key_share"),
        ("instances.training_type", "m5.large", "instances.training_type"),
        ("instances.processing_count", 0, "instances.processing_count"),
        ("caching.expire_after", "30 days", "caching.expire_after"),
        ("problem_type", "ranking", "problem_type"),
        ("gate.thresold", 1.0, "gate.thresold: Extra inputs are not permitted"),
    ],
)
def test_a_bad_value_is_refused_with_the_field_named(tmp_path, path, value, message):
    bad = tmp_path / "config.yml"
    bad.write_text(yaml.safe_dump(with_change(path, value)))
    with pytest.raises(MlopsError, match=message) as raised:
        load_config(bad)
    assert "\n" not in str(raised.value)


def test_the_key_column_may_not_be_the_target(tmp_path):
    config = with_change("split.strategy", "key")
    config["split"]["key"] = config["target_column"]
    bad = tmp_path / "config.yml"
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(MlopsError, match=r"split.key 'target' is the target column"):
        load_config(bad)


def test_broken_yaml_is_reported_as_such(tmp_path):
    bad = tmp_path / "config.yml"
    bad.write_text("gate: [unclosed\n")
    with pytest.raises(MlopsError, match="not valid YAML"):
        load_config(bad)
