"""The emulator's stand-in for GitHub's promotion pull requests.

On the emulator, `mlops promote` cannot open a pull request: it makes the branch one would merge,
`mlops-emulator/promote/vN`, in the emulator's git record (emulator.git_record). `mlops local merge`
is the reviewer's merge: that branch merged into the record (a merge commit, as GitHub's default
button makes), after which `mlops deploy prod --aws emulator` deploys what deploy/prod.yml names.
"""

import contextlib
import re
import subprocess
from dataclasses import dataclass

from ..errors import MlopsError
from ..repository import git
from .emulator import branch_prefix, git_record

IDENTITY = (
    "-c",
    "user.name=mlops local merge",
    "-c",
    "user.email=mlops-local-merge@users.noreply.github.com",
)


@dataclass(frozen=True)
class Merged:
    version: int
    branch: str


def open_promotions() -> dict[int, str]:
    """The promotion branches not merged into the record yet: version -> branch."""
    record = git_record()
    listed = git(
        "branch",
        "--list",
        "--no-merged",
        "HEAD",
        "--format=%(refname:short)",
        f"{branch_prefix()}promote/v*",
        repo=record,
    )
    found = {}
    for branch in listed.split():
        number = re.fullmatch(re.escape(branch_prefix()) + r"promote/v(\d+)", branch)
        if number:
            found[int(number.group(1))] = branch
    return dict(sorted(found.items()))


def merge(version: int | None = None) -> Merged:
    """Merge the promotion of `version` (the newest open one by default) into the record."""
    found = open_promotions()
    if not found:
        raise MlopsError("no promotion pull request to merge: `mlops promote --aws emulator` makes one")
    version = max(found) if version is None else version
    if version not in found:
        listed = ", ".join(f"v{number}" for number in found)
        raise MlopsError(f"no open promotion pull request for v{version} (open: {listed})")
    branch = found[version]
    record = git_record()
    message = f"Merge the promotion pull request of v{version} ({branch})"
    try:
        git(*IDENTITY, "merge", "--no-ff", "--quiet", "-m", message, branch, repo=record)
    except subprocess.CalledProcessError as error:
        with contextlib.suppress(subprocess.CalledProcessError):  # a merge refused before it began
            git("merge", "--abort", repo=record)
        raise MlopsError(
            f"{branch} does not merge into the emulator's record: {error.stderr.strip()}"
        ) from None
    return Merged(version, branch)
