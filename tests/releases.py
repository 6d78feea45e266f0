"""The template's releases, as CHANGELOG.md records them, and a project's life across them.

Tests cannot count on tags in the clone they run in, so `tagged_clone` makes a scratch clone with
a tag on each release's commit and the working tree committed on top as WORKING_TREE, the
version `copier update` moves to. A user's project is copied from a release, committed, edited
(`edit_like_a_user`), committed again, then updated.
"""

import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml
from copier import run_copy, run_update

ROOT = Path(__file__).resolve().parents[1]
RELEASE = re.compile(r"^## (\d+\.\d+\.\d+) — \S+\n\nCommit: ([0-9a-f]{40})$", re.MULTILINE)
WORKING_TREE = "999.0.0"
# The team's own words in each file they edit: what must still be there after an update.
OURS = "# ours"


def releases() -> dict[str, str]:
    """{version: commit}, newest first."""
    return dict(RELEASE.findall((ROOT / "CHANGELOG.md").read_text()))


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout


def files_of(project: Path) -> set[str]:
    """The project's files as git sees them: committed or not, but never what it ignores."""
    listed = git(project, "ls-files", "--cached", "--others", "--exclude-standard")
    return {name for name in listed.split("\n") if name and (project / name).exists()}


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "--all")
    identity = ("-c", "user.name=Test", "-c", "user.email=test@example.com")
    # Empty when nothing changed (a clean clone's working tree is its HEAD): still a commit to tag.
    git(repo, *identity, "commit", "--quiet", "--allow-empty", "-m", message)


def tagged_clone(destination: Path) -> Path:
    """This repository with each release tagged and the working tree as WORKING_TREE."""
    subprocess.run(["git", "clone", "--quiet", "--no-tags", str(ROOT), str(destination)], check=True)
    for version, commit in releases().items():
        present = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=destination)
        assert present.returncode == 0, f"release {version}'s commit {commit} is not in this clone (shallow?)"
        git(destination, "tag", version, commit)
    git(destination, "rm", "-r", "--quiet", ".")
    tracked = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, destination / name)
    commit_all(destination, "the working tree")
    git(destination, "tag", WORKING_TREE)
    return destination


def copy_release(template: Path, version: str, destination: Path, answers: dict, skip_tasks: bool) -> Path:
    run_copy(
        str(template),
        destination,
        data=answers,
        defaults=True,
        unsafe=True,
        vcs_ref=version,
        quiet=True,
        skip_tasks=skip_tasks,
    )
    if not (destination / ".git").exists():  # the copy task makes it; without tasks, we do
        git(destination, "init", "--quiet", "--initial-branch=main")
    commit_all(destination, f"generated from the template's {version}")
    return destination


def update(project: Path, skip_tasks: bool = False) -> None:
    run_update(
        str(project),
        vcs_ref=WORKING_TREE,
        defaults=True,
        overwrite=True,
        unsafe=True,  # the post-update task
        quiet=True,
        skip_tasks=skip_tasks,
    )


def source_of(project: Path) -> dict:
    """Where the project takes its sagemaker-gitops package from ([tool.uv.sources])."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    return pyproject["tool"]["uv"]["sources"]["sagemaker-gitops"]


def answers_of(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


@dataclass(frozen=True)
class Edit:
    """One change a team makes to a generated file: `old` line replaced by `new`, or (old None)
    `new` appended."""

    file: str
    old: str | None
    new: str

    def apply(self, text: str) -> str:
        if self.old is None:
            return text + self.new
        assert self.old in text, f"{self.file}: {self.old!r} not found (the edit needs updating)"
        return text.replace(self.old, self.new, 1)


def edits_for(project: Path) -> list[Edit]:
    """A gate threshold, a helper in a step script, a workflow's schedule, a promoted model."""
    helper = f"\n\ndef rows(count: int) -> str:  {OURS}\n    return str(count)\n"
    answers = answers_of(project)
    config = (project / "build" / "config.yml").read_text()
    threshold = re.search(r"^  threshold: (\S+)$", config, re.MULTILINE)
    value = float(threshold.group(1))
    looser = value * 1.25 if answers["gate_metric"] in ("rmse", "mae") else round(value * 0.8, 4)
    staging = (project / "deploy" / "staging.yml").read_text()
    group = answers["model_package_group_name"].lower()
    arn = f"arn:aws:sagemaker:{answers['aws_region']}:123456789012:model-package/{group}/7"
    return [
        Edit("build/config.yml", threshold.group(0), f"  threshold: {looser}  {OURS}: the team's bar"),
        Edit("build/steps/preprocess.py", None, helper),
        Edit(".github/workflows/drift.yml", '- cron: "17 */6 * * *"', f'- cron: "17 */2 * * *" {OURS}'),
        Edit(
            "deploy/staging.yml",
            re.search(r"^model_package_arn:.*$", staging, re.MULTILINE).group(0),
            f'model_package_arn: "{arn}"  {OURS}: promoted',
        ),
    ]


def edit_like_a_user(project: Path) -> list[Edit]:
    """Make and commit the team's edits; returns them."""
    edits = edits_for(project)
    for edit in edits:
        path = project / edit.file
        path.write_text(edit.apply(path.read_text()))
    commit_all(project, "the team's edits")
    return edits
