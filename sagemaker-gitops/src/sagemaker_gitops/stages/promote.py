"""`mlops promote`: the newest Approved model goes to staging, and a pull request proposes it for prod.

Staging is changed directly (deployed, smoke-tested, then recorded in deploy/staging.yml);
prod is only ever proposed: the pull request changes deploy/prod.yml, and a person merging
it is what deploys prod. Without GitHub credentials the branch is prepared locally and the
pull request it would open is printed.
"""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import aws
from ..contract import data_baseline
from ..desired_state import load_stage, set_model_package
from ..errors import MlopsError
from ..github import credentials, open_or_update_pull_request, push
from ..local import emulator
from ..project import project
from ..repository import branch_worktree, git
from . import deploy, models, stage_schedules, status

GIT_IDENTITY = ("-c", "user.name=mlops promote", "-c", "user.email=mlops-promote@users.noreply.github.com")


@dataclass
class Promotion:
    version: int | None  # None: nothing to promote
    message: str
    branch: str = ""
    pull_request_url: str = ""
    title: str = ""
    body: str = ""


def newest_approved() -> dict | None:
    """The newest Approved version of the group, over every page of the listing."""
    return next(iter(models.versions("Approved")), None)


def promote(
    repo: Path | None = None,
    on_status: Callable[[str], None] = lambda _: None,
    allow_uncommitted: bool = False,
) -> Promotion:
    repo = repo or deploy.record()
    local = emulator.in_use()  # then `repo` is the emulator's record, and nothing is pushed
    candidate = newest_approved()
    if candidate is None:
        return Promotion(None, f"no Approved version in {project().model_package_group}: nothing to promote")
    arn, version = candidate["ModelPackageArn"], candidate["ModelPackageVersion"]
    refuse_uncommitted_source(arn, version, allow_uncommitted)
    prod = load_stage("prod", repo / "deploy" / "prod.yml")
    prod_arn = prod.model_package_arn
    if prod_arn == arn:
        return Promotion(version, f"v{version} already serves prod: nothing to promote")
    staging = status.status("staging", repo)
    if staging.deployed_arn == arn and staging.ahead_on == f"promote/v{version}":
        # The default branch refused the staging record: the open pull request carries it.
        return Promotion(
            version, f"v{version} is in staging; its pull request from {staging.ahead_on} awaits review"
        )
    on_status(f"deploying v{version} to staging")
    evidence = to_staging(arn, version, repo, on_status)
    moved = [schedule.block for schedule in stage_schedules.ALL if schedule.asked_for(prod) is not None]
    title, body = pull_request_text(version, arn, prod_arn, evidence, moved)
    branch = prepare_prod_branch(arn, version, title, repo, local)
    if local:
        return Promotion(
            version,
            f"v{version} is in the emulator's staging; branch {branch} changes its deploy/prod.yml, in the"
            " emulator's git record: `mlops local merge` (the pull request's merge), then `mlops deploy prod"
            " --aws emulator`",
            branch,
            title=title,
            body=body,
        )
    found = credentials()
    if found is None:
        return Promotion(
            version,
            f"v{version} is in staging; branch {branch} changes deploy/prod.yml (set GITHUB_TOKEN and"
            " GITHUB_REPOSITORY to open the pull request)",
            branch,
            title=title,
            body=body,
        )
    token, repository = found
    base = default_branch(repo)
    recorded = push_staging_record(token, base, repo)
    push(token, "--force", "origin", f"{branch}:{branch}", repo=repo)
    url = open_or_update_pull_request(repository, token, branch, base, title, body + recorded)
    return Promotion(version, f"v{version} is in staging; prod pull request: {url}", branch, url, title, body)


def refuse_uncommitted_source(arn: str, version: int, allowed: bool) -> None:
    """Git is the record of what runs where: a version whose code is in no commit is promoted only
    when the person promoting says so."""
    why = models.uncommitted_source(aws.client("sagemaker").describe_model_package(ModelPackageName=arn))
    if why and not allowed:
        raise MlopsError(
            f"v{version} was built from {why}: no commit holds the code it runs. Build it again from a"
            " committed checkout, or promote it anyway with --allow-uncommitted"
        )


def push_staging_record(token: str, base: str, repo: Path) -> str:
    """Push the staging commit to the default branch; if that is protected, say where the record is.

    Refused (branch protection), the commit still reaches the default branch with the pull
    request, and `mlops status` reports staging as ahead of git rather than as drift.
    """
    try:
        push(token, "origin", f"HEAD:refs/heads/{base}", repo=repo)
    except subprocess.CalledProcessError:
        return (
            f"\n\n`{base}` refused the staging record (branch protection): this pull request"
            " carries the deploy/staging.yml commit too, and `mlops status` shows staging ahead"
            " of git until it merges."
        )
    return ""


def to_staging(arn: str, version: int, repo: Path, on_status: Callable[[str], None]) -> str:
    """Record the version in deploy/staging.yml, deploy it, and return the smoke test's evidence.

    The commit comes first because a deploy takes only committed desired state; if the deploy
    fails, that commit is taken back, so nothing has changed. Only once the smoke test has passed
    does the deploy record it (staging_evidence.py), where prod reads it and no commit can write.
    """
    staging_file = repo / "deploy" / "staging.yml"
    if load_stage("staging", staging_file).model_package_arn != arn:
        set_model_package(staging_file, arn)
        message = f"Deploy {project().slug} v{version} to staging"
        git(*GIT_IDENTITY, "commit", "--quiet", "-m", message, "--", "deploy/staging.yml", repo=repo)
        ours = git("rev-parse", "HEAD", repo=repo)
        try:
            done = deploy.deploy("staging", on_status, repo=repo)
        except BaseException:
            take_back(ours, repo)
            raise
    else:  # already recorded (a deploy may have been killed): make sure it serves, test it again
        done = deploy.deploy("staging", on_status, repo=repo)
    return f"endpoint `{done.endpoint}` ({done.action}): {done.smoke_test}"


def take_back(commit: str, repo: Path) -> None:
    """Undo one commit of ours: dropped while it is HEAD, else reverted (work committed after it,
    by someone else meanwhile, is never touched)."""
    if git("rev-parse", "HEAD", repo=repo) == commit:
        git("reset", "--quiet", "--soft", "HEAD~1", repo=repo)
        git("restore", "--staged", "--worktree", "--", "deploy/staging.yml", repo=repo)
    else:
        git(*GIT_IDENTITY, "revert", "--no-edit", commit, repo=repo)


def prepare_prod_branch(arn: str, version: int, title: str, repo: Path, local: bool = False) -> str:
    """A branch from HEAD whose one commit points deploy/prod.yml at the version (a local-only
    branch for the emulator's record)."""
    branch = f"{emulator.branch_prefix() if local else ''}promote/v{version}"
    with branch_worktree(branch, repo) as worktree:
        set_model_package(worktree / "deploy" / "prod.yml", arn)
        git(*GIT_IDENTITY, "commit", "--quiet", "--all", "-m", title, repo=worktree)
    return branch


def default_branch(repo: Path) -> str:
    try:
        return git("rev-parse", "--abbrev-ref", "origin/HEAD", repo=repo).removeprefix("origin/")
    except subprocess.CalledProcessError:
        return "main"


def pull_request_text(
    version: int, arn: str, prod_arn: str, evidence: str, schedules: list[str] = ()
) -> tuple[str, str]:
    """The promotion pull request's title and body; `schedules`: the blocks of prod's stage
    schedules ("batch", "monitoring"), which move to the version with the endpoint."""
    title = f"Promote {project().slug} model v{version} to production"
    package, prod_package = models.described(arn), models.described(prod_arn)
    candidate, current = models.package_metrics(package), models.package_metrics(prod_package)
    prod_label = f"prod now (v{prod_arn.rsplit('/', 1)[-1]})" if prod_arn else "prod now (nothing)"
    rows = [f"| metric | v{version} | {prod_label} |", "|---|---|---|"]
    rows += [
        f"| {name} | {value:.4g} | {current[name]:.4g} |"
        if name in current
        else f"| {name} | {value:.4g} | |"
        for name, value in candidate.items()
    ]
    data, prod_data = (models.trained_on(p) or "not recorded" for p in (package, prod_package))
    same = " (the same data)" if data == prod_data else ""
    baseline, prod_baseline = (data_baseline(p) or "not recorded" for p in (package, prod_package))
    body = "\n".join(
        [
            f"Proposes model package `{arn}` for production.",
            "",
            f"Trained on data sha256 `{data}`"
            + (f"; prod's version on `{prod_data}`{same}." if prod_arn else "."),
            "Its data-quality baseline (the training features' statistics.json and constraints.json,"
            f" which later training data is checked against once it serves prod): `{baseline}`"
            + (f"; prod's version's: `{prod_baseline}`." if prod_arn else "."),
            "",
            "## Metrics on the test split",
            *(rows if candidate else ["(no metrics were registered with this version)"]),
            "",
            "## Staging evidence",
            evidence,
            "",
            "Merging this pull request deploys prod (`mlops deploy prod`); reverting the merge rolls back."
            + (
                f" Prod's {' and '.join(schedules)} schedule{'s move' if len(schedules) > 1 else ' moves'}"
                " to this version with it."
                if schedules
                else ""
            ),
            "If it was opened with the workflow's default GITHUB_TOKEN, GitHub runs no checks on it:"
            " use a GitHub App token where branch protection requires them.",
        ]
    )
    return title, body
