"""Where a project's `mlops` comes from: the sagemaker-gitops package of the release it was copied
from, pinned in uv.lock. From a git URL, the repository at the release's tag; from a local folder
(as `make demo` and a first try copy), that folder's package, live."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
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


def copy_from(cwd: Path, source: str, destination: str, *options: str) -> subprocess.CompletedProcess:
    """`copier copy SOURCE DESTINATION` run in `cwd`, as a user types it."""
    command = ["copy", "--defaults", "--vcs-ref", "HEAD", *options, source, destination]
    return subprocess.run(
        [sys.executable, "-m", "copier", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("where", "destination"),
    [
        ("beside", "teams/my-model"),
        ("beside", "../elsewhere/./teams/../my-model"),
        ("beside", "ABSOLUTE"),
        ("in the template", "RELATIVE"),  # `cd template && copier copy . ../../my-model`
    ],
)
def test_a_copy_from_a_local_folder_finds_the_package_wherever_it_is_made(tmp_path, where, destination):
    """The template named by a relative path or `.`, the destination by any path: the project's
    pyproject.toml names the template's package by a path that reaches it from the project."""
    cwd = tmp_path / "work" if where == "beside" else ROOT
    cwd.mkdir(exist_ok=True)
    source = os.path.relpath(ROOT, cwd)
    project = (tmp_path / "elsewhere" / "p").resolve()
    destination = {"ABSOLUTE": str(project), "RELATIVE": os.path.relpath(project, cwd)}.get(
        destination, destination
    )
    copied = copy_from(cwd, source, destination, "--skip-tasks")
    assert copied.returncode == 0, copied.stderr
    project = (cwd / destination).resolve()
    folder = source_of(project)["path"]
    assert not os.path.isabs(folder), "relative, so the checkout and the project move together"
    assert (project / folder).resolve() == ROOT / PACKAGE


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


def test_a_project_whose_package_folder_is_gone_says_so_and_locks_nothing(tmp_path):
    """The post-copy task, when the folder pyproject.toml names is not there (a template folder
    moved since): the copy succeeds and names the fix."""
    project = tmp_path / "p"
    run_copy(str(ROOT), project, defaults=True, vcs_ref="HEAD", quiet=True, skip_tasks=True)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(source_of(project)["path"], "../moved/sagemaker-gitops")
    )
    said = subprocess.run(
        [sys.executable, ROOT / "hooks" / "post_copy.py"], cwd=project, capture_output=True, text=True
    )
    assert said.returncode == 0, said.stderr
    assert "sagemaker-gitops is not at ../moved/sagemaker-gitops: set its path under" in said.stdout
    assert not (project / "uv.lock").exists(), "nothing was locked against a wrong path"
