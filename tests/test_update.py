"""`copier update`: a project made from a release, edited by its team, updated to the working tree.

conftest.UPDATED_FROM's presets are made that way (two from the previous release, one from the
oldest), and test_render.py runs their `make lint` and `make test`. Here: the team's edits
survived, the update gave what a fresh copy gives, what each stage deploys was not touched and
nothing is left to merge. Then a conflict: marked inline, refused by `make conflicts` and the
pre-commit hooks. And an update to the version a project already has changes nothing.
"""

import difflib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import COPIER_YML, PRESETS, PREVIOUS, UPDATED_FROM, render, run_in
from own_data import OWN_DATA
from releases import (
    OURS,
    ROOT,
    WORKING_TREE,
    answers_of,
    commit_all,
    copy_release,
    files_of,
    git,
    releases,
    source_of,
    update,
)

# Files the project writes itself (the copy and update tasks), not the template.
DERIVED = {"uv.lock", "tests/snapshots/pipeline-definition.json", ".copier-answers.yml"}
SKIPPED_ON_UPDATE = set(COPIER_YML["_skip_if_exists"])
# A team's own data replaces the sample after the update (own_data.py): not the template's to match.
OWN_DATA_FILES = {"data/sample.csv", "data/batch/sample.csv"}
PACKAGE_SOURCE = re.compile(r'^(sagemaker-gitops = \{ path = ")[^"]+(")', re.MULTILINE)


@pytest.fixture(scope="session", params=list(UPDATED_FROM), ids=list(UPDATED_FROM))
def updated(request, made):
    return made(request.param, PRESETS[request.param], UPDATED_FROM[request.param])


@pytest.fixture(scope="session")
def fresh(updated, tmp_path_factory):
    """The same answers, copied from the working tree: what the update should amount to."""
    project, _ = updated
    answers = {k: v for k, v in answers_of(project).items() if not k.startswith("_")}
    return copied_now(tmp_path_factory.mktemp("fresh") / "project", answers)


def copied_now(destination: Path, answers: dict) -> Path:
    """A copy of the working tree, without tasks, in a git repository (for its file list)."""
    render(destination, answers, skip_tasks=True)
    git(destination, "init", "--quiet")
    return destination


def as_copied(project: Path, name: str) -> str:
    """A file's text, with the one line that says where the project was copied from (the
    sagemaker-gitops source: this checkout for the fresh copy, the scratch clone for the update)
    reduced to its kind."""
    text = (project / name).read_text()
    if name == "pyproject.toml":
        text = PACKAGE_SOURCE.sub(r"\1<where the template is>\2", text)
    return text


def test_the_update_is_a_fresh_copy_plus_the_teams_edits(updated, fresh, request):
    project, edits = updated
    own_data = OWN_DATA_FILES if request.node.callspec.params["updated"] in OWN_DATA else set()
    assert answers_of(project)["_commit"] == WORKING_TREE
    assert files_of(project) - DERIVED == files_of(fresh) - DERIVED, "files added and removed as in a copy"
    # The stage files are the team's record, never updated (test_what_each_stage_deploys_is_never_touched).
    edited = {edit.file for edit in edits} | SKIPPED_ON_UPDATE | own_data
    differ = [
        name
        for name in sorted(files_of(fresh) - DERIVED - edited)
        if as_copied(project, name) != as_copied(fresh, name)
    ]
    assert not differ, f"unlike a fresh copy: {differ}"
    template = Path(answers_of(project)["_src_path"])
    assert source_of(project) == {"path": str(template / "sagemaker-gitops"), "editable": True}
    for edit in edits:
        if edit.file in SKIPPED_ON_UPDATE:
            continue
        expected = edit.apply((fresh / edit.file).read_text())
        assert (project / edit.file).read_text() == expected, f"{edit.file}: the template's changes and ours"


def test_what_each_stage_deploys_is_never_touched(updated):
    project, edits = updated
    (promoted,) = [edit for edit in edits if edit.file == "deploy/staging.yml"]
    assert promoted.new in (project / "deploy" / "staging.yml").read_text().splitlines()
    # deploy/endpoint.yml is the template's (a release may change it); the stage files are the team's.
    stage_files = ("deploy/staging.yml", "deploy/prod.yml")
    assert git(project, "status", "--porcelain", "--", *stage_files) == "", "the update left them alone"


def test_nothing_is_left_to_merge_by_hand(updated):
    project, _ = updated
    assert git(project, "diff", "--name-only", "--diff-filter=U") == ""
    assert not (project / ".copier-update-unfinished").exists(), "the post-update task finished it"
    result = run_in(project, "make", "conflicts")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lock_follows_the_updated_dependencies(updated):
    """(The snapshot follows the new definition: the project's own tests compare them.)"""
    project, _ = updated
    check = run_in(project, "uv", "lock", "--check")
    assert check.returncode == 0, check.stderr


# --- conflicts ---------------------------------------------------------------------------------


def a_line_the_template_changed(old: Path, new: Path) -> tuple[str, str]:
    """(file, line) of the release's render that the working tree's render replaces."""
    for name in sorted(files_of(old) & files_of(new) - DERIVED):
        before, after = (old / name).read_text().splitlines(), (new / name).read_text().splitlines()
        for tag, i1, _, _, _ in difflib.SequenceMatcher(None, before, after).get_opcodes():
            if tag == "replace" and before[i1].strip():
                return name, before[i1]
    raise AssertionError(f"the template changed no line since {PREVIOUS}: nothing can conflict")


def test_a_conflict_is_marked_inline_and_refused_until_resolved(template_with_releases, tmp_path):
    project = copy_release(template_with_releases, PREVIOUS, tmp_path / "project", {}, skip_tasks=True)
    newer = copied_now(tmp_path / "newer", {})
    name, line = a_line_the_template_changed(project, newer)
    path = project / name
    path.write_text(path.read_text().replace(line, f"{line} {OURS}", 1))
    commit_all(project, "the team's edit")

    update(project)

    assert "<<<<<<< before updating" in path.read_text(), f"{name}: the conflict is marked inline"
    # Unfinished until the lock and snapshot are refreshed: only the targets that finish it run.
    marker = project / ".copier-update-unfinished"
    assert marker.read_text().strip() not in {"", "a newer release"}
    stopped = run_in(project, "make", "test")
    assert stopped.returncode != 0 and f"copier update to {marker.read_text().strip()} did not finish" in (
        stopped.stderr
    )
    refused = run_in(project, "make", "conflicts")
    assert refused.returncode != 0 and name in refused.stdout
    assert "conflict markers above (from copier update)" in refused.stdout
    hook = pre_commit(project, "no-conflict-markers", name)
    assert hook.returncode == 1 and name in hook.stdout

    resolved = [
        kept
        for kept in path.read_text().splitlines(keepends=True)
        if not kept.startswith(("<<<<<<<", "=======", ">>>>>>>"))
    ]
    path.write_text("".join(resolved))
    assert run_in(project, "make", "conflicts").returncode == 0
    # Or the update undone, as the refusal says: the marker goes with it.
    git(project, "reset", "--quiet", "--hard")
    git(project, "clean", "-fdq")
    assert not marker.exists() and run_in(project, "make", "-n", "test").returncode == 0


def test_a_rej_file_is_refused(template_with_releases, tmp_path):
    project = copy_release(template_with_releases, WORKING_TREE, tmp_path / "project", {}, skip_tasks=True)
    (project / "build" / "pipeline.py.rej").write_text("@@ -1 +1 @@\n-old\n+new\n")
    refused = run_in(project, "make", "conflicts")
    assert refused.returncode != 0 and "build/pipeline.py.rej" in refused.stdout
    assert ".rej files above: apply their hunks by hand" in refused.stdout
    assert pre_commit(project, "no-rej-files", "build/pipeline.py.rej").returncode == 1


def test_updating_to_the_version_a_project_has_changes_nothing(template_with_releases, tmp_path):
    project = copy_release(template_with_releases, WORKING_TREE, tmp_path / "project", {}, skip_tasks=False)
    before = answers_of(project)
    update(project)  # the migration after it too: the lock and the snapshot are already current
    assert git(project, "status", "--porcelain") == ""
    assert answers_of(project) == before, "the answers file round-trips"


# The last release that carried the `mlops` CLI in src/<package>/ (0.3.0 made it a package).
LAST_WITH_VENDORED_CLI = "0.2.0"


def test_a_cli_module_the_team_changed_is_kept_when_the_cli_becomes_a_package(
    template_with_releases, tmp_path, capfd
):
    # With its post-copy task: its own `mlops` script is installed, as in a team's virtualenv.
    project = copy_release(template_with_releases, LAST_WITH_VENDORED_CLI, tmp_path / "project", {}, False)
    changed = project / "src" / "my_model" / "models.py"
    changed.write_text(changed.read_text() + f"\n{OURS}: the team's change\n")
    commit_all(project, "the team's change to the CLI")
    # The bytecode Python caches beside modules it ran (ignored by git, left by copier).
    assert run_in(project, sys.executable, "-m", "compileall", "-q", "src").returncode == 0

    update(project)

    assert changed.read_text().endswith(f"\n{OURS}: the team's change\n"), "kept, as the team left it"
    left = sorted(str(path.relative_to(project)) for path in (project / "src").rglob("*") if path.is_file())
    assert left == ["src/my_model/models.py"], "the modules nobody changed are gone, and their bytecode"
    assert "Kept src/my_model/models.py: you changed them" in capfd.readouterr().out
    assert not (project / ".git" / "sagemaker-gitops-kept").exists(), "nothing is left set aside"
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    assert dependencies[0].startswith("sagemaker-gitops==")
    # The project's old dist goes (it was a package, with an `mlops` script of its own): the
    # package's `mlops` must still be there after the next install.
    assert run_in(project, "make", "setup").returncode == 0
    works = run_in(project, "uv", "run", "--quiet", "mlops", "--help")
    assert works.returncode == 0 and "pipeline" in works.stdout, works.stderr


def pre_commit(project: Path, hook: str, *files: str) -> subprocess.CompletedProcess:
    """One hook of the project's .pre-commit-config.yaml, run by the template's own pre-commit."""
    return run_in(project, sys.executable, "-m", "pre_commit", "run", hook, "--files", *files)


def test_release_tags_in_this_clone_are_where_the_changelog_says():
    """Tags never move: any release tag this clone has names the commit CHANGELOG.md records."""
    listed = git(ROOT, "tag", "--list", "--format=%(refname:short) %(objectname)")
    tags = dict(line.split() for line in listed.splitlines())
    moved = {v: tags[v] for v, commit in releases().items() if tags.get(v, commit) != commit}
    assert not moved, f"release tags that moved: {moved}"
    assert releases(), "CHANGELOG.md records at least one release"
