"""`mlops template-update`: the template's newest release, proposed as a pull request.

What `copier update --trust` does by hand (README: "Taking the template's later releases"),
committed as it comes out, conflict markers included: the pull request's CI refuses them (`make
conflicts`) until someone merges the two sides. template-update.yml runs it weekly.

`--trust` runs the template's tasks and migrations: code from another repository. They run in a
throwaway clone with a `.git` of its own, so nothing they write (a hook, a `credential.helper`, an
`insteadOf`) is in the repository the token pushes from; the project fetches the finished commit
as the branch `template/<version>` (the checkout in use is never switched) and pushes it with
hooks turned off, the token in that one command.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import MlopsError
from .github import credentials, open_or_update_pull_request, push
from .project import project
from .repository import git
from .stages.promote import default_branch

# Environment variables never passed to the template's code: tokens, secrets, keys, passwords.
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|_KEY(_ID)?$|CREDENTIALS", re.IGNORECASE)
GIT_IDENTITY = (
    "-c",
    "user.name=mlops template-update",
    "-c",
    "user.email=mlops-template-update@users.noreply.github.com",
)
# Git commands that touch what the template's code wrote run no hooks (github.push, which holds
# the token, runs none either).
NO_HOOKS = ("-c", f"core.hooksPath={os.devnull}")


@dataclass(frozen=True)
class Versions:
    current: str
    latest: str

    @property
    def behind(self) -> bool:
        return self.current != self.latest


@dataclass(frozen=True)
class Proposal:
    versions: Versions
    branch: str
    conflicts: list[str]
    url: str


def check(repo: Path | None = None) -> Versions:
    """The release this project came from and the template's newest (`copier check-update`)."""
    answers = json.loads(_copier("check-update", "--output-format", "json", repo=repo or project().root))
    return Versions(str(answers["current_version"]), str(answers["latest_version"]))


def propose(versions: Versions, repo: Path | None = None) -> Proposal:
    """A branch with the update (a pull request from it) that brings `versions.latest`."""
    repo = repo or project().root
    github = credentials()
    if github is None:
        raise MlopsError(
            "template-update pushes a branch and opens a pull request: set GITHUB_TOKEN (a token"
            " that may push branches, workflow files included) and GITHUB_REPOSITORY"
        )
    branch = f"template/{versions.latest}"
    conflicts = _update_in_a_clone(versions, branch, repo)
    token, repository = github
    push(token, "--quiet", "--force", "origin", f"{branch}:refs/heads/{branch}", repo=repo)
    title, body = pull_request_text(versions, conflicts)
    url = open_or_update_pull_request(repository, token, branch, default_branch(repo), title, body)
    return Proposal(versions, branch, conflicts, url)


def pull_request_text(versions: Versions, conflicts: list[str]) -> tuple[str, str]:
    title = f"Update from the template: {versions.current} -> {versions.latest}"
    lines = [
        f"`copier update` from the template's {versions.current} to {versions.latest}: the template's",
        "changes merged with this project's. Its CHANGELOG says what the release brings and whether",
        "it needs a manual step. `deploy/*.yml` is untouched; `uv.lock` and the pipeline snapshot",
        "were refreshed, so the snapshot's diff shows how the SageMaker pipeline changes.",
    ]
    if conflicts:
        lines += [
            "",
            "**Conflicts**: these files have lines both sides changed, between `<<<<<<<` and",
            "`>>>>>>>` markers. CI fails (`make conflicts`) until they are merged by hand:",
            "",
            *(f"- `{name}`" for name in conflicts),
            "",
            "Then run `make setup snapshot` and push to this branch.",
        ]
    return title, "\n".join(lines)


def _update_in_a_clone(versions: Versions, branch: str, repo: Path) -> list[str]:
    """`copier update` committed in a throwaway clone of HEAD, fetched into `repo` as `branch`;
    the files left in conflict."""
    with tempfile.TemporaryDirectory(prefix="mlops-template-update-") as scratch:
        clone = Path(scratch) / "project"
        # Copies, not hard links: the template's code could otherwise write into repo's objects.
        git("clone", "--quiet", "--no-hardlinks", str(repo), str(clone), repo=repo)
        _copier("update", "--trust", "--defaults", "--vcs-ref", versions.latest, repo=clone)
        conflicts = _conflicts(clone)
        git("add", "--all", repo=clone)
        message = f"Update from the template: {versions.current} -> {versions.latest}"
        git(*NO_HOOKS, *GIT_IDENTITY, "commit", "--quiet", "--no-verify", "-m", message, repo=clone)
        git(*NO_HOOKS, "fetch", "--quiet", "--force", str(clone), f"HEAD:refs/heads/{branch}", repo=repo)
    return conflicts


def _conflicts(worktree: Path) -> list[str]:
    unmerged = git("diff", "--name-only", "--diff-filter=U", repo=worktree).split()
    untracked = git("ls-files", "--others", "--exclude-standard", repo=worktree).split()
    return sorted(set(unmerged) | {name for name in untracked if name.endswith(".rej")})


def _copier(*args: str, repo: Path) -> str:
    """Copier (a dev dependency, so the version uv.lock pins), run in the project; its stdout.

    `copier update --trust` runs the template's tasks and migrations, which are code from another
    repository: they run without this process's tokens and keys.
    """
    command = [sys.executable, "-m", "copier", *args]
    env = {name: value for name, value in os.environ.items() if not SECRET_NAME.search(name)}
    result = subprocess.run(
        command, cwd=repo, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env
    )
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        raise MlopsError(f"copier {args[0]} failed: {said[-1] if said else f'exit code {result.returncode}'}")
    return result.stdout
