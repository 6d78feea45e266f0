"""Copier post-copy task: make the new project ready to use.

Runs once, in the new project's folder, after `copier copy --trust`:
  1. git init (the pipeline tags itself with the commit it was built from);
  2. uv lock, so every machine and CI installs the same versions, and uv sync;
  3. the first pipeline-definition snapshot, which the project's tests compare against.
Steps 2 and 3 need PyPI. Without it the copy still succeeds and says what to run later.
"""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path


def run(*command: str) -> bool:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        print(f"  {' '.join(command)} failed: {detail[-1] if detail else 'no output'}", file=sys.stderr)
    return result.returncode == 0


def uv_command() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    if subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True).returncode == 0:
        return [sys.executable, "-m", "uv"]
    return None


def lock_and_snapshot() -> bool:
    """uv lock, then the pipeline snapshot (after a copy and after an update); on a failure,
    say which, and that `make setup snapshot` finishes the job."""
    uv = uv_command()
    if uv is None:
        print("uv is not installed: `make setup` installs it, then run `make snapshot`.")
        return False
    if not run(*uv, "lock", "--quiet"):
        print("Could not write uv.lock (is PyPI reachable?): run `make setup snapshot` when online.")
        return False
    # An exact sync, sagemaker-gitops installed last: a project made before 0.3.0 was itself a
    # package with an `mlops` script, and removing it later would delete the package's script.
    if not run(*uv, "sync", "--quiet", "--reinstall-package", "sagemaker-gitops"):
        print("Could not install the locked packages: run `make setup snapshot` to see why.")
        return False
    if not run(*uv, "run", "--quiet", "mlops", "pipeline", "snapshot"):
        print("Could not write the pipeline snapshot: run `make setup snapshot` to see why.")
        return False
    return True


def missing_package_folder() -> str | None:
    """The sagemaker-gitops folder pyproject.toml names, when it names one that is not there (a
    copy from a relative path into an absolute destination cannot know where it is)."""
    sources = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["uv"]["sources"]
    folder = sources["sagemaker-gitops"].get("path")
    return folder if folder and not (Path(folder) / "pyproject.toml").is_file() else None


def main() -> int:
    if not Path(".git").exists():
        run("git", "init", "--quiet", "--initial-branch=main")
    missing = missing_package_folder()
    if missing:
        print(
            f"sagemaker-gitops is not at {missing}: copy from the template's absolute path or its git"
            " URL, or set its path under [tool.uv.sources] in pyproject.toml, then `make setup snapshot`."
        )
    elif lock_and_snapshot():
        print("Ready: uv.lock and tests/snapshots/pipeline-definition.json written. Next: make test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
