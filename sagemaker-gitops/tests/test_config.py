"""build/config.yml is validated on load: each mistake gets one line naming the field."""

import jinja2
import pytest
import yaml
from conftest import TEMPLATE, any_shape
from pydantic import ValidationError
from sagemaker_gitops.config import LOWER_IS_BETTER, METRICS_BY_PROBLEM, Gate, load_config
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
        ("quality.on_violation", "warn", "quality.on_violation"),
        ("quality.compare_with_prod", "sometimes", "quality.compare_with_prod"),
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


XGBOOST = {**VALID, "framework": "xgboost"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hyperparameters": {"num_round": -5}}, "num_round=-5: XGBoost takes values in [1, inf)"),
        ({"hyperparameters": {"num_round": 2.5}}, "num_round=2.5: XGBoost takes a whole number"),
        ({"hyperparameters": {"num_round": 9, "eta": 1.5}}, "eta=1.5: XGBoost takes values in [0, 1]"),
        ({"hyperparameters": {"subsample": 0}}, "subsample=0: XGBoost takes values in (0, 1]"),
        ({"hyperparameters": {"num_class": 1}}, "num_class=1: XGBoost takes values in [2, inf)"),
        (
            {"batch": {"instance_type": "ml.m5.large", "instance_count": 1, "max_payload_mb": 7}},
            "batch.max_payload_mb: the built-in XGBoost container refuses requests over 6 MB",
        ),
    ],
)
def test_values_the_built_in_xgboost_algorithm_refuses_are_refused(tmp_path, change, message):
    """Its ranges as its container checks them (sagemaker-xgboost-container's
    hyperparameter_validation.py), where a run would fail minutes in with a UserError."""
    bad = tmp_path / "config.yml"
    bad.write_text(yaml.safe_dump({**XGBOOST, "tuning": None, **change}))
    with pytest.raises(MlopsError) as raised:
        load_config(bad)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def xgboost_for(problem: str, hyperparameters: dict) -> dict:
    """A valid build/config.yml for the built-in XGBoost on `problem`, with these hyperparameters."""
    gates = {"regression": ("rmse", 70.0), "binary_classification": ("auc", 0.8)}
    gate = gates.get(problem, ("accuracy", 0.8))
    split = {**VALID["split"], "strategy": "random", "key": None}
    return {
        **XGBOOST,
        "problem_type": problem,
        "hyperparameters": hyperparameters,
        "gate": dict(zip(("metric", "threshold"), gate, strict=True)),
        "split": split,
        "tuning": None,
    }


@pytest.mark.parametrize(
    ("problem", "objective", "eval_metric"),
    [
        ("regression", "reg:squarederror", "rmse"),
        ("binary_classification", "binary:logistic", "auc"),
        ("multiclass_classification", "multi:softprob", "mlogloss"),
    ],
)
def test_the_problem_type_decides_what_xgboost_trains(tmp_path, problem, objective, eval_metric):
    """One field to switch: the objective and the metric training reports follow problem_type."""
    given = {"num_round": 10, **({"num_class": 4} if problem.startswith("multiclass") else {})}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(xgboost_for(problem, given)))
    hyperparameters = load_config(path).hyperparameters
    assert (hyperparameters["objective"], hyperparameters["eval_metric"]) == (objective, eval_metric)
    path.write_text(yaml.safe_dump(xgboost_for(problem, {**given, "eval_metric": "mae"})))
    assert load_config(path).hyperparameters["eval_metric"] == "mae", "a value set in the file wins"


@pytest.mark.parametrize(
    ("problem", "hyperparameters", "message"),
    [
        (
            "multiclass_classification",
            {"objective": "reg:squarederror", "num_class": 3},
            "hyperparameters.objective 'reg:squarederror' does not fit problem_type"
            " multiclass_classification (it takes multi:softprob): leave objective out",
        ),
        (
            "regression",
            {"objective": "multi:softmax"},
            "does not fit problem_type regression (it takes reg:* or count:poisson)",
        ),
        (
            "binary_classification",
            {"num_class": 2},
            "hyperparameters.num_class is for problem_type multiclass_classification, not"
            " binary_classification: remove it",
        ),
        (
            "multiclass_classification",
            {},
            "hyperparameters.num_class: problem_type multiclass_classification needs the number of classes",
        ),
    ],
)
def test_hyperparameters_that_contradict_the_problem_type_are_one_line_naming_both(
    tmp_path, problem, hyperparameters, message
):
    """The audit's run: `objective: reg:squarederror` in a multiclass project passed the check and
    failed in Evaluate, blaming the split."""
    bad = tmp_path / "config.yml"
    bad.write_text(yaml.safe_dump(xgboost_for(problem, hyperparameters)))
    with pytest.raises(MlopsError) as raised:
        load_config(bad)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_tuning_range_reaching_outside_what_xgboost_takes_is_refused(tmp_path):
    tuning = {
        "strategy": "Random",
        "max_jobs": 2,
        "max_parallel_jobs": 1,
        "objective": {"metric": "validation:rmse", "type": "Minimize"},
        "ranges": {"eta": {"type": "continuous", "min": 0.1, "max": 2.0}},
    }
    hyperparameters = {"num_round": 10, "eval_metric": "rmse"}
    config = {**XGBOOST, "problem_type": "regression", "hyperparameters": hyperparameters}
    config["gate"] = {"metric": "rmse", "threshold": 1.0}
    config["split"] = {**VALID["split"], "strategy": "random", "key": None}
    bad = tmp_path / "config.yml"
    bad.write_text(yaml.safe_dump({**config, "tuning": tuning}))
    with pytest.raises(MlopsError, match=r"tuning.ranges.eta=2.0: XGBoost takes values in \[0, 1\]"):
        load_config(bad)
    tuning["ranges"]["eta"]["max"] = 0.5
    bad.write_text(yaml.safe_dump({**config, "tuning": tuning}))
    assert load_config(bad).tuning.ranges["eta"].max == 0.5


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


# --- one gate rule: copier's validators and build/config.yml's loader agree -------------------------

QUESTIONS = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
THRESHOLDS = ["-1", "0", "1e-9", "0.05", "0.5", "0.999", "1", "1.0001", "2", "74", "1e6", "nan", "inf"]
MARGINS = ["-0.1", "0", "0.05", "0.5", "0.999", "1", "2", "nan"]


def copier_refuses(question: str, answers: dict) -> str:
    """The rule copier.yml's validator prints for these answers ("" when it takes them), rendered as
    copier renders it (its Ansible filters, hooks/ from the template's folder)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE),
        extensions=["jinja2_ansible_filters.AnsibleCoreFiltersExtension"],
    )
    return environment.from_string(QUESTIONS[question]["validator"]).render(answers).strip()


def platform_refuses(**gate) -> bool:
    try:
        Gate(**gate)
    except ValidationError:
        return True
    return False


@any_shape
@pytest.mark.parametrize(
    "metric", sorted({metric for metrics in METRICS_BY_PROBLEM.values() for metric in metrics})
)
def test_copier_and_the_platform_hold_one_gate_rule(metric):
    """What a copy refuses, build/config.yml's loader refuses, and what one takes the other takes:
    the threshold, for every metric, and the margin over the naive answer."""
    assert {"rmse", "mae"} == LOWER_IS_BETTER  # the metrics copier.yml's rule calls errors
    for threshold in THRESHOLDS:
        refused = copier_refuses("gate_threshold", {"gate_threshold": threshold, "gate_metric": metric})
        assert bool(refused) == platform_refuses(metric=metric, threshold=float(threshold)), (
            threshold,
            refused,
        )
    for margin in MARGINS:
        refused = copier_refuses("gate_margin", {"gate_margin": margin})
        agreed = platform_refuses(metric=metric, threshold=0.5, beat_baseline_by=float(margin))
        assert bool(refused) == agreed, (margin, refused)
