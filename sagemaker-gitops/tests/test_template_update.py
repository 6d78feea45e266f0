"""`mlops template-update`: the template's newer release as a branch and a pull request.

This project's own template is out of the tests' reach, so a small copier template with two
releases stands in: 1.1.0 rewrites the greeting and adds a file. The project is `repo` (a git
repository with an `origin`, see conftest) with that template copied in at 1.0.0.
"""

import base64
import json

import pytest
from conftest import any_shape
from copier import run_copy
from sagemaker_gitops import template_update
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.template_update import Versions

# A small stand-in template, not this project's: the same whatever the project's shape.
pytestmark = any_shape

# Copier's own delimiters, written so that rendering this file leaves them alone.
OPEN, CLOSE = "{" * 2, "}" * 2


def release(template, git, version: str, greeting: str, **files: str) -> None:
    (template / "greeting.txt.jinja").write_text(f"{greeting}\nsecond line\n")
    for name, text in files.items():
        (template / name).write_text(text)
    git("-C", str(template), "add", "--all")
    git("-C", str(template), "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", version)
    git("-C", str(template), "tag", version)


@pytest.fixture
def template(tmp_path, git):
    root = tmp_path / "template"
    root.mkdir()
    (root / "copier.yml").write_text("name:\n  type: str\n  default: world\n")
    (root / f"{OPEN}_copier_conf.answers_file{CLOSE}.jinja").write_text(
        f"{OPEN} _copier_answers|to_nice_yaml {CLOSE}"
    )
    git("init", "--quiet", str(root))
    release(root, git, "1.0.0", f"hello {OPEN} name {CLOSE}")
    release(root, git, "1.1.0", f"hello there, {OPEN} name {CLOSE}", **{"added.txt": "new in 1.1.0\n"})
    return root


@pytest.fixture
def project(repo, git, template):
    """`repo` generated from the template's 1.0.0 and committed."""
    run_copy(str(template), repo, vcs_ref="1.0.0", defaults=True, overwrite=True, quiet=True)
    git("add", "--all")
    git("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "from the template's 1.0.0")
    return repo


def on_origin(git, tmp_path, branch: str, path: str) -> str:
    return git("--git-dir", str(tmp_path / "origin.git"), "show", f"{branch}:{path}")


def test_the_newest_release_becomes_a_branch_and_a_pull_request(project, git, github, tmp_path):
    versions = template_update.check(project)
    assert versions == Versions("1.0.0", "1.1.0") and versions.behind

    proposal = template_update.propose(versions, project)

    assert (proposal.branch, proposal.conflicts) == ("template/1.1.0", [])
    assert on_origin(git, tmp_path, proposal.branch, "greeting.txt").startswith("hello there, world")
    assert on_origin(git, tmp_path, proposal.branch, "added.txt") == "new in 1.1.0"
    assert "_commit: 1.1.0" in on_origin(git, tmp_path, proposal.branch, ".copier-answers.yml")
    (created,) = [r for r in github.requests if r["method"] == "POST"]
    assert created["json"]["head"] == "template/1.1.0" and created["json"]["base"] == "main"
    assert created["json"]["title"] == "Update from the template: 1.0.0 -> 1.1.0"
    assert proposal.url == "https://github.example/pull/7"
    # The checkout it ran in is left as it was: same branch, same files, nothing uncommitted.
    assert git("branch", "--show-current") == "main" and git("status", "--porcelain") == ""
    assert (project / "greeting.txt").read_text().startswith("hello world")


def test_conflicts_are_committed_for_a_person_to_merge(project, git, github, tmp_path):
    (project / "greeting.txt").write_text("hello, our team\nsecond line\n")
    git("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qam", "our greeting")

    proposal = template_update.propose(template_update.check(project), project)

    assert proposal.conflicts == ["greeting.txt"]
    merged = on_origin(git, tmp_path, proposal.branch, "greeting.txt")
    assert "<<<<<<< before updating" in merged and "hello, our team" in merged and "hello there" in merged
    (created,) = [r for r in github.requests if r["method"] == "POST"]
    assert "**Conflicts**" in created["json"]["body"] and "- `greeting.txt`" in created["json"]["body"]


def test_a_second_run_updates_the_same_pull_request(project, github):
    versions = template_update.check(project)
    template_update.propose(versions, project)
    template_update.propose(versions, project)
    assert [r["method"] for r in github.requests if r["method"] != "GET"] == ["POST", "PATCH"]


def test_a_project_with_the_newest_release_is_told_so(project, git, template, mlops, use_project, github):
    run_copy(str(template), project, vcs_ref="1.1.0", defaults=True, overwrite=True, quiet=True)
    git("add", "--all")
    git("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "at 1.1.0")
    use_project(root=project)
    code, out, _ = mlops("template-update")
    assert (
        code == 0
        and out.strip() == "up to date: the template's newest release is 1.1.0, and this project has it"
    )
    assert github.requests == []


def test_the_templates_own_code_runs_without_the_token(project, git, github, template, tmp_path):
    """copier update --trust runs the template's tasks: code from another repository."""
    task = "python3 -c \"import os; open('seen.txt', 'w').write(' '.join(sorted(os.environ)))\""
    (template / "copier.yml").write_text(
        f"name:\n  type: str\n  default: world\n_tasks:\n  - {json.dumps(task)}\n"
    )
    release(template, git, "1.2.0", f"hello again, {OPEN} name {CLOSE}")
    proposal = template_update.propose(template_update.check(project), project)
    seen = on_origin(git, tmp_path, proposal.branch, "seen.txt").split()
    assert "PATH" in seen and "GITHUB_TOKEN" not in seen and "AWS_SECRET_ACCESS_KEY" not in seen


PLANT = """
import pathlib, subprocess, sys
found = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True, text=True)
if found.returncode:  # copier's scratch renders are no repositories
    sys.exit()
common = found.stdout.strip()
pathlib.Path("planted.txt").write_text(common)
git_dir = pathlib.Path(common).resolve()
spy = f"#!/bin/sh\\nenv >> {sys.argv[1]}\\ncat >/dev/null\\n"
(git_dir / "hooks").mkdir(exist_ok=True)
for hook in ("pre-push", "reference-transaction", "post-checkout"):
    (git_dir / "hooks" / hook).write_text(spy)
    (git_dir / "hooks" / hook).chmod(0o755)
helper = f"!env >> {sys.argv[1]}; true"
subprocess.run(["git", "config", "--local", "credential.helper", helper], check=True)
subprocess.run(["git", "config", "--local", "core.hooksPath", str(git_dir / "hooks")], check=True)
"""


def test_the_templates_own_code_cannot_reach_the_push_token(project, git, github, template, tmp_path):
    """A task plants hooks and git settings where a push would run them; the token's push never does."""
    plant, leaked = tmp_path / "plant.py", tmp_path / "leaked.txt"
    plant.write_text(PLANT)
    (template / "copier.yml").write_text(
        f"name:\n  type: str\n  default: world\n_tasks:\n  - {json.dumps(f'python3 {plant} {leaked}')}\n"
    )
    release(template, git, "1.2.0", f"hello again, {OPEN} name {CLOSE}")

    proposal = template_update.propose(template_update.check(project), project)

    assert on_origin(git, tmp_path, proposal.branch, "planted.txt")  # the task ran in the update
    basic = base64.b64encode(b"x-access-token:test-token").decode()
    seen = leaked.read_text() if leaked.exists() else ""
    assert basic not in seen and "test-token" not in seen
    config = (project / ".git" / "config").read_text()
    assert "credential" not in config and "hooksPath" not in config
    assert not (project / ".git" / "hooks" / "pre-push").exists()


def test_without_a_token_nothing_is_pushed(project, git, tmp_path):
    with pytest.raises(MlopsError, match="set GITHUB_TOKEN"):
        template_update.propose(template_update.check(project), project)
    assert git("branch", "--list", "template/*") == ""


def test_a_project_copier_cannot_update_is_refused_in_one_line(repo, mlops, use_project):
    use_project(root=repo)  # deploy/ only: no .copier-answers.yml
    code, _, err = mlops("template-update")
    assert code == 1 and err.startswith("error: copier check-update failed:")
    assert err.strip().count("\n") == 0
