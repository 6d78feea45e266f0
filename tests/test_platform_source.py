"""Where a project's `mlops` comes from: the sagemaker-gitops package of the release it was copied
from, pinned in uv.lock. From a git URL, the repository at the release's tag; from a local folder
(as `make demo` and a first try copy), that folder's package, live."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from conftest import ROOT
from copier import run_copy
from releases import WORKING_TREE, git, source_of

PACKAGE = "sagemaker-gitops"


def version_of_the_package() -> str:
    return tomllib.loads((ROOT / PACKAGE / "pyproject.toml").read_text())["project"]["version"]


def test_the_project_depends_on_the_release_it_came_from(tmp_path):
    run_copy(str(ROOT), tmp_path / "project", defaults=True, vcs_ref="HEAD", quiet=True, skip_tasks=True)
    pyproject = tomllib.loads((tmp_path / "project" / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == [f"{PACKAGE}=={version_of_the_package()}"]
    assert source_of(tmp_path / "project") == {"path": str(ROOT / PACKAGE), "editable": True}
    assert not (tmp_path / "project" / "src").exists(), "no platform module is copied"


def copy_from_a_relative_path(cwd: Path, destination: str, *options: str) -> subprocess.CompletedProcess:
    """`copier copy` of this checkout, named by its path relative to `cwd`, as a user types it."""
    relative = os.path.relpath(ROOT, cwd)
    command = ["copy", "--defaults", "--vcs-ref", "HEAD", *options, relative, destination]
    return subprocess.run(
        [sys.executable, "-m", "copier", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def test_a_copy_from_a_relative_folder_finds_the_package_from_the_project(tmp_path):
    copied = copy_from_a_relative_path(tmp_path, "teams/my-model", "--skip-tasks")
    assert copied.returncode == 0, copied.stderr
    project = tmp_path / "teams" / "my-model"
    assert (project / source_of(project)["path"]).resolve() == ROOT / PACKAGE


def test_a_copy_from_a_git_url_locks_the_package_at_the_release_tag(template_with_releases, tmp_path):
    project = tmp_path / "project"
    url = f"git+file://{template_with_releases}"
    run_copy(url, project, defaults=True, vcs_ref=WORKING_TREE, quiet=True, skip_tasks=True)
    assert source_of(project) == {
        "git": f"file://{template_with_releases}",
        "subdirectory": PACKAGE,
        "tag": WORKING_TREE,
    }
    online = {name: value for name, value in os.environ.items() if name != "UV_OFFLINE"}  # git fetches
    locked = subprocess.run(["uv", "lock"], cwd=project, capture_output=True, text=True, env=online)
    assert locked.returncode == 0, locked.stderr
    commit = git(template_with_releases, "rev-parse", f"{WORKING_TREE}^{{commit}}").strip()
    assert (
        f"{template_with_releases}?subdirectory={PACKAGE}&tag={WORKING_TREE}#{commit}"
        in (project / "uv.lock").read_text()
    ), "uv.lock pins the tag's commit"


def test_a_copy_that_cannot_know_where_the_package_is_says_so(tmp_path):
    """A relative template path and an absolute destination: the copy succeeds and names the fix."""
    project = tmp_path / "elsewhere" / "p"
    copied = copy_from_a_relative_path(tmp_path, str(project), "--trust")
    assert copied.returncode == 0, copied.stderr
    relative = os.path.relpath(ROOT, tmp_path)
    said = f"sagemaker-gitops is not at {relative}/sagemaker-gitops: copy from the template's absolute path"
    assert said in copied.stdout
    assert not (project / "uv.lock").exists(), "nothing was locked against a wrong path"
