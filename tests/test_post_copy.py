"""The post-copy task: without PyPI the copy still succeeds and says what to run later."""

import subprocess
import sys

from conftest import ROOT


def test_a_copy_without_pypi_succeeds_and_says_what_to_run(tmp_path):
    project = tmp_path / "project"
    env = {
        "PATH": "/usr/bin:/bin:" + str(sys.prefix) + "/bin",
        "HOME": str(tmp_path),
        # An index nobody listens on, and no cache: what a laptop on a plane sees.
        "UV_INDEX_URL": "http://127.0.0.1:9/simple",
        "UV_NO_CACHE": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            str(ROOT),
            str(project),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "Could not write uv.lock (is PyPI reachable?): run `make setup snapshot` when online."
        in result.stdout
    )
    assert (project / "build" / "pipeline.py").is_file()
    assert (project / ".git").is_dir()
    assert not (project / "uv.lock").exists()
