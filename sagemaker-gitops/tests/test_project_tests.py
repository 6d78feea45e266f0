"""The generated project's own tests say what failed in words a reviewer can act on."""

import json
import os
import subprocess
import sys

from conftest import PROJECT, any_shape
from sagemaker_gitops.config import load_config
from sagemaker_gitops.project import project

pytestmark = any_shape


def project_pytest(*args: str) -> subprocess.CompletedProcess:
    """The project's own tests, as `make test` runs them in its folder."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
    )


def test_a_changed_definition_fails_the_snapshot_test_with_what_changed(tmp_path):
    snapshot = project().snapshot_path
    reviewed = snapshot.read_text()
    document = json.loads(reviewed)
    next(p for p in document["Parameters"] if p["Name"] == "GateThreshold")["DefaultValue"] = 0.5
    snapshot.write_text(json.dumps(document))
    try:
        done = project_pytest("tests/test_definition.py", "-k", "reviewed_snapshot")
    finally:
        snapshot.write_text(reviewed)
    assert done.returncode == 1
    assert "the pipeline definition differs from the reviewed snapshot:" in done.stdout
    # From the reviewed snapshot (0.5, edited above) to what build/config.yml builds.
    assert "parameter GateThreshold: `DefaultValue` `0.5` → `" in done.stdout, done.stdout[:2500]


def test_data_the_preprocessing_refuses_stops_the_tests_in_its_one_line(tmp_path):
    """A team's CSV without the configured target column: preprocessing's reason, once, not a
    pandas KeyError in every test that reads the data."""
    sample = PROJECT / "data" / "sample.csv"
    bundled = sample.read_text()
    header, *rows = bundled.splitlines()
    target = load_config(project().config_path).target_column
    kept = [i for i, name in enumerate(header.split(",")) if name != target]
    without_target = [",".join(line.split(",")[i] for i in kept) for line in [header, *rows]]
    sample.write_text("\n".join(without_target) + "\n")
    try:
        done = project_pytest("tests/test_steps.py")
    finally:
        sample.write_text(bundled)
    assert done.returncode == 1
    assert f"data/sample.csv: column {target!r} not in sample.csv" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "KeyError" not in done.stdout + done.stderr
