"""`make demo`, the README's first command: the whole loop on the emulator, nothing left running."""

import subprocess
import sys

from conftest import ROOT


def test_demo_runs_the_loop_and_leaves_nothing_running(tmp_path):
    project = tmp_path / "my-model"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), str(project)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "registered model package: arn:aws:sagemaker:" in out
    assert "version 1: PendingManualApproval -> Approved" in out
    registry_rows = out.split("==> the registry")[1]
    assert " 1 " in registry_rows and "Approved" in registry_rows
    assert "unknown" not in registry_rows, "the model must record the commit it was built from"
    assert "v1 is in staging; branch promote/v1 changes deploy/prod.yml" in out
    assert "| rmse |" in out, "the pull request shows the candidate's metrics"
    assert "prod: stack" in out and "smoke test: 5 test rows answered" in out
    status = out.split("==> desired (git) against deployed")[1]
    assert status.count("in sync") == 2
    assert "stopped the emulator" in out
    servers = subprocess.run(["ps", "-ww", "-eo", "command"], capture_output=True, text=True).stdout
    assert str(project) not in servers, "a process of the demo is still running"
