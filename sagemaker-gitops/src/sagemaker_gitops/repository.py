"""The project's git repository: git run in it, the commit a pipeline is built from, a branch
checked out in a scratch worktree, and what an execution was started from (its description)."""

import hashlib
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import MlopsError
from .project import project


def git(*args: str, repo: Path | None = None) -> str:
    """Run git in the project (or `repo`) and return its output (OSError, CalledProcessError on failure)."""
    return subprocess.run(
        ["git", *args], cwd=repo or project().root, capture_output=True, text=True, check=True
    ).stdout.strip()


@contextmanager
def branch_worktree(branch: str, repo: Path | None = None) -> Iterator[Path]:
    """`branch`, made (again) at HEAD, checked out in a scratch worktree: the checkout in use, and
    any uncommitted work in it, is never switched."""
    git("branch", "--force", branch, "HEAD", repo=repo)
    with tempfile.TemporaryDirectory() as scratch:
        worktree = Path(scratch) / "worktree"
        git("worktree", "add", "--quiet", str(worktree), branch, repo=repo)
        try:
            yield worktree
        finally:
            git("worktree", "remove", "--force", str(worktree), repo=repo)


def is_commit(ref: str, repo: Path | None = None) -> bool:
    """Whether `ref` names a commit this clone has (a shallow or stale clone may not)."""
    try:
        git("rev-parse", "--verify", "--quiet", ref + "^{commit}", repo=repo)
    except subprocess.CalledProcessError:
        return False
    return True


def git_commit() -> str:
    """The commit the pipeline is built from, marked "-dirty" with uncommitted changes."""
    try:
        commit = git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if git("status", "--porcelain") else "")


def short_commit(commit: str, length: int = 8) -> str:
    """A commit as people read it: its first `length` digits, "-dirty" kept, "unknown" as it is."""
    dirty = commit.endswith("-dirty")
    return commit.removesuffix("-dirty")[:length] + ("-dirty" if dirty else "")


def run_description(label: str = "") -> str:
    """What an execution starts from, as its PipelineExecutionDescription (a local run keeps the same
    text): the commit, dirty or not, a hash of build/config.yml, and the person's label, if any.
    `mlops report experiments` reads it back (parse_run_description) as the execution's inputs."""
    if label and (len(label) > 200 or any(c in label for c in ";\n\r")):
        raise MlopsError("--label: one line of at most 200 characters, without ';'")
    config = hashlib.sha256(project().config_path.read_bytes()).hexdigest()[:12]
    return "; ".join([f"git {git_commit()}", f"config {config}", *([f"label {label}"] if label else [])])


def parse_run_description(text: str) -> dict[str, str]:
    """{"git": ..., "config": ..., "label": ...} from run_description's text (what it holds of them)."""
    found = {}
    for part in (text or "").split("; "):
        name, _, value = part.partition(" ")
        if name in ("git", "config", "label") and value:
            found[name] = value
    return found
