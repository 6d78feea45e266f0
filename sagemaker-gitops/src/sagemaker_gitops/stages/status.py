"""`mlops status`: each stage's desired state (deploy/<stage>.yml as committed) against what its
stacks deploy, the differences named; staging ahead on a promotion branch is expected, not drift."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .. import aws
from ..desired_state import STAGES, StageState, load_stage
from ..repository import git
from . import endpoint_stack, models, stage_schedules
from .deploy import committed_stage_file, record
from .endpoint_stack import stack_name
from .stacks import DesiredStack, against_git, deployed_parameters, describe_stack


@dataclass
class StageStatus:
    stage: str
    desired_arn: str  # "" when deploy/<stage>.yml names no model yet
    deployed_arn: str | None  # None when the stack does not exist
    differences: list[str]  # empty when the cloud matches git
    # Staging deployed from a promotion branch that the default branch has not merged yet
    # (main protected against the promote job's push): expected, not drift.
    ahead_on: str = ""

    @property
    def drift(self) -> bool:
        return bool(self.differences) and not self.ahead_on


def reading(stage: str):
    """Read the stage's stack where it lives: through MLOPS_<STAGE>_READ_ROLE_ARN when set (prod in
    another account, see infra/bootstrap.yml's ProdReaderRole), else with the current credentials."""
    return aws.assumed(os.environ.get(f"MLOPS_{stage.upper()}_READ_ROLE_ARN"))


def status(stage: str, repo: Path | None = None) -> StageStatus:
    """Desired (deploy/<stage>.yml as committed in `repo`, record() by default) against actual
    (the deployed stacks)."""
    repo = repo or record()
    state = load_stage(stage, repo / "deploy" / f"{stage}.yml")
    # The version as the registry's account describes it, when what a stage schedule sends comes
    # from it (monitoring: its baseline); the stacks, where the stage lives.
    package = models.described(state.model_package_arn) if stage_schedules.read_version(state) else {}
    with reading(stage):
        return compare_with_git(stage, state, package, repo)


def compare_with_git(stage: str, state: StageState, package: dict, repo: Path) -> StageStatus:
    target, commit = aws.resolve_target(), committed_stage_file(stage, repo)
    endpoint = endpoint_stack.desired(stage, state, target, commit, repo)
    stack = describe_stack(endpoint.name)
    if stack is None:
        missing = [f"stack {endpoint.name} does not exist"] if state.model_package_arn else []
        return StageStatus(stage, state.model_package_arn, None, missing)
    found, only_promoted = drift_of(endpoint, stack)
    for schedule in stage_schedules.ALL:
        desired = schedule.desired(stage, state, target, commit, repo, package)
        schedule_found, promoted = schedule_drift(schedule.block, desired)
        found, only_promoted = found + schedule_found, only_promoted and promoted
    deployed = deployed_parameters(stack)
    only_promoted = bool(found) and only_promoted
    ahead_on = (
        promotion_branch(deployed.get("GitCommit", ""), repo) if stage == "staging" and only_promoted else ""
    )
    return StageStatus(stage, state.model_package_arn, deployed.get("ModelPackageArn"), found, ahead_on)


# What `mlops promote` changes in staging's stacks: the model (and the baselines that come with
# it), and the commit that names it.
PROMOTION_KEYS = {"ModelPackageArn", "DataBaselineUrl", "ModelBaselineUrl", "GitCommit"}


def drift_of(desired: DesiredStack, stack: dict | None) -> tuple[list[str], bool]:
    """How a stack differs from git, and whether every difference is a parameter that a promotion
    changes (not the template, not the stack's state, not a stack missing or unwanted)."""
    found = against_git(desired, stack)
    if stack is None or desired.parameters is None:
        return found, not found
    deployed = deployed_parameters(stack)
    changed = {key for key, value in desired.parameters.items() if deployed.get(key) != value}
    return found, len(found) == len(changed) and changed <= PROMOTION_KEYS


def schedule_drift(block: str, desired: DesiredStack) -> tuple[list[str], bool]:
    """drift_of a stage schedule's stack, its differences prefixed with its block ("batch ...";
    a stack without a block, or a block without a stack, as they are)."""
    stack = describe_stack(desired.name)
    found, promoted = drift_of(desired, stack)
    if stack is None or desired.parameters is None:
        return found, promoted
    return [f"{block} {line}" for line in found], promoted


def promotion_branch(commit: str, repo: Path) -> str:
    """The remote promote/v* branch that holds `commit`, if HEAD has not changed the staging
    record since that branch left it; "" otherwise (then the difference is drift)."""
    try:
        branches = git("branch", "--remotes", "--contains", commit, "--list", "*/promote/v*", repo=repo)
        fork = git("merge-base", commit, "HEAD", repo=repo)
        untouched = not git("diff", "--name-only", fork, "HEAD", "--", "deploy/staging.yml", repo=repo)
    except subprocess.CalledProcessError:  # a commit this clone does not have
        return ""
    return branches.split()[0].split("/", 1)[1] if branches and untouched else ""


def serving() -> dict[str, str]:
    """Stage -> the model package ARN its deployed stack serves (stages without a stack left out)."""
    found = {}
    for stage in STAGES:
        with reading(stage):
            stack = describe_stack(stack_name(stage))
        if stack is not None:
            found[stage] = deployed_parameters(stack).get("ModelPackageArn", "")
    return found
