"""The package's shape: its concerns are layers (pyproject.toml's [tool.importlinter]), each
importing only the ones below it, so a change to the local interpreter cannot reach into building,
nor building into deploying: cli, then reports and stages (independent of each other), build,
local, definition. The modules beside them (project, config, images, ...) are what every layer
reads."""

import subprocess
import sys
from pathlib import Path

from conftest import any_shape

PACKAGE = Path(__file__).resolve().parents[1]


@any_shape
def test_no_concern_imports_one_above_it():
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(linter), "--no-cache"], cwd=PACKAGE, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[result.stdout.find("Broken contracts") :]
    assert "Contracts: 1 kept, 0 broken." in result.stdout
