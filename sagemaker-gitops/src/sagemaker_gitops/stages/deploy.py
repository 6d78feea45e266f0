"""`mlops deploy STAGE`: make a stage's endpoint match deploy/<stage>.yml, then smoke-test it.

Refusals come first and change nothing: a file that names no model, a model that is not
Approved or not this project's, an artifact changed since it was evaluated, uncommitted desired
state (git is the record), and for prod a model with no passed staging smoke test.
"""

import csv
import hashlib
import io
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from .. import aws
from ..build.schedules import refuse_what_a_scheduled_run_would
from ..contract import MODEL_SHA256, metadata
from ..errors import MlopsError
from ..images import SERVING_CODE
from ..local import emulator, pull_requests
from ..project import load_step, project
from ..repository import git, is_commit
from . import batch_stack, models, smoke, staging_evidence
from .desired_state import STAGES, load_stage
from .endpoint_stack import stack_name, stack_parameters
from .stacks import (
    apply_stack,
    delete_stack,
    deployed_parameters,
    describe_stack,
    drift,
    outputs_of,
    stack_output,
)


@dataclass
class Deployed:
    stage: str
    stack: str
    endpoint: str
    action: str  # created | updated | unchanged
    model_package_arn: str
    smoke_test: str
    batch: str = ""  # the batch stack's action (created, updated, unchanged, deleted); "" without one


def deploy(
    stage: str, on_status: Callable[[str], None] = lambda _: None, repo: Path | None = None
) -> Deployed:
    """Reconcile one stage with deploy/<stage>.yml as committed in `repo` (record() by default)."""
    repo = repo or record()
    state = load_stage(stage, repo / "deploy" / f"{stage}.yml")
    if not state.model_package_arn:
        raise MlopsError(
            f"deploy/{stage}.yml names no model yet (model_package_arn is empty): {to_name_one(stage)}"
        )
    target = aws.resolve_target()
    package = approved_package(stage, state.model_package_arn, target.account)
    refuse_what_can_be_replaced(package)
    artifact = smoke.artifact_of(package)  # read once: checked now, used by the smoke test
    verify_artifact(package, artifact)
    commit = committed_stage_file(stage, repo)
    if stage == "prod":
        staging_evidence.require(package)
    if state.batch is not None:
        check_batch_run(stage, batch_stack.stack_parameters(stage, state, target, commit))
    parameters = stack_parameters(stage, state, target, commit)
    action = apply_stack(stack_name(stage), repo / "deploy" / "endpoint.yml", parameters, on_status)
    endpoint = stack_output(stack_name(stage), "EndpointName")
    on_status("smoke test")
    passed = smoke_test(endpoint, artifact)
    if stage == "staging":  # the evidence prod deploys on, where only the staging role writes
        # The registered sha256: verify_artifact found the bytes the test ran on to have it.
        sha256 = metadata(package)[MODEL_SHA256]
        staging_evidence.record(package, sha256, endpoint, passed)
    # After the smoke test: a model that fails it never reaches the stage's schedule either.
    batch = reconcile_batch(stage, state, target, commit, repo, on_status)
    return Deployed(stage, stack_name(stage), endpoint, action, package["ModelPackageArn"], passed, batch)


def to_name_one(stage: str) -> str:
    """The next step for a stage file that names no model: promote; on the emulator, for prod,
    merge the promotion pull request that is waiting."""
    waiting = pull_requests.open_promotions() if stage == "prod" and emulator.in_use() else {}
    if waiting:
        return (
            f"the promotion pull request of v{max(waiting)} is not merged: run `mlops local merge`, then"
            " `mlops deploy prod --aws emulator`"
        )
    return f"run `{emulator.command('promote')}`"


def check_batch_run(stage: str, parameters: dict[str, str]) -> None:
    """A stage that scores in batch needs the batch pipeline its schedule starts, in this account,
    and a batch block whose values that pipeline's run and the schedule accept (an instance type
    CreateTransformJob knows, parameter values Scheduler takes), as `--param` values are checked."""
    name = project().pipeline_name_of("batch")
    try:
        described = aws.client("sagemaker").describe_pipeline(PipelineName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"ResourceNotFound", "ValidationException"}:
            raise
        raise MlopsError(
            f"deploy/{stage}.yml schedules batch scoring, but pipeline {name!r} does not exist in"
            f" {aws.region()}: create it with `{emulator.command('pipeline upsert')}`"
        ) from None
    definition = json.loads(described["PipelineDefinition"])
    schedule = batch_stack.stack_name(stage)
    refuse_what_a_scheduled_run_would(schedule, definition, parameters, f"deploy/{stage}.yml's batch block")


def reconcile_batch(
    stage: str, state, target: aws.AwsTarget, commit: str, repo: Path, on_status: Callable[[str], None]
) -> str:
    """Make the stage's batch stack match its batch block: deployed, updated, or deleted once the
    block is gone from deploy/<stage>.yml; "" when there is neither."""
    name = batch_stack.stack_name(stage)
    if state.batch is None:
        return delete_stack(name, on_status) if describe_stack(name) else ""
    parameters = batch_stack.stack_parameters(stage, state, target, commit)
    return apply_stack(name, batch_template(stage, repo), parameters, on_status)


def batch_template(stage: str, repo: Path) -> Path:
    template = repo / "deploy" / batch_stack.TEMPLATE
    if not template.is_file():
        raise MlopsError(
            f"deploy/{stage}.yml has a batch block, but deploy/{batch_stack.TEMPLATE} is missing"
        )
    return template


def record() -> Path:
    """The git checkout whose deploy/ is the desired state: the project's, or while the AWS calls go
    to the local emulator, the emulator's own record (never the project's branches)."""
    return emulator.git_record() if emulator.in_use() else project().root


def refuse_an_emulator_model(stage: str, arn: str, account: str) -> None:
    """A model registered on the local emulator (moto's account) does not exist in AWS: a stage file
    naming one (an emulator promotion that reached git) is refused before anything is created.
    (A model package in another real account is a shared registry, and is allowed.)"""
    from moto.core import DEFAULT_ACCOUNT_ID as EMULATOR_ACCOUNT

    arn_account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    if arn_account == EMULATOR_ACCOUNT != account:
        raise MlopsError(
            f"deploy/{stage}.yml names {arn}, a model of the local emulator (account {EMULATOR_ACCOUNT}),"
            f" not of AWS account {account}: promote a model from this account's registry"
        )


def approved_package(stage: str, arn: str, account: str) -> dict:
    """The model package deploy/<stage>.yml names, if AWS account `account` can serve it."""
    refuse_an_emulator_model(stage, arn, account)
    group, version = arn.rsplit("/", 2)[-2:]
    # SageMaker writes the group in lowercase in model package ARNs.
    if group != project().model_package_group.lower():
        raise MlopsError(
            f"{arn} is in model group {group!r}, not this project's {project().model_package_group!r}"
        )
    try:
        package = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if not aws.is_not_found(error):
            raise  # AccessDenied and the like are not "not found": the CLI says what AWS said
        raise MlopsError(f"model package {arn} not found in {aws.region()}") from None
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise MlopsError(
            f"version {version} is {status}, not Approved: approve it first"
            f" (`mlops models approve {version} --reason ...`)"
        )
    return package


def refuse_what_can_be_replaced(package: dict) -> None:
    """What an endpoint loads, and loads again on every scale-out, must be where nothing can replace
    it: the model where Evaluate keeps it, its serving code where `upsert` stages it; the bucket
    policy of infra/bootstrap.yml makes both write-once. A version whose model is elsewhere was
    registered by an earlier release, from the training job's output, which stays writable."""
    version = package["ModelPackageArn"].rsplit("/", 1)[-1]
    container = package["InferenceSpecification"]["Containers"][0]
    places = {
        "model": (container["ModelDataUrl"], project().kept_models_key),
        "serving code": (container.get("Environment", {}).get(SERVING_CODE, ""), f"{project().slug}/code"),
    }
    for what, (url, prefix) in places.items():
        if url.startswith("s3://") and not aws.split_s3_uri(url)[1].startswith(f"{prefix}/"):
            raise MlopsError(
                f"version {version}'s {what} {url} is not under {prefix}/, where nothing can replace it:"
                " run the pipeline to register it again, then approve the new version"
            )


def verify_artifact(package: dict, artifact: bytes) -> None:
    """The model artifact is the one the pipeline evaluated: its sha256 is what Evaluate recorded
    and registration stored with the version (an approval approves those bytes, not a URL)."""
    version = package["ModelPackageArn"].rsplit("/", 1)[-1]
    recorded = metadata(package).get(MODEL_SHA256)
    if not recorded:
        raise MlopsError(
            f"version {version} records no model_sha256 (registered before checksums): register it again"
            " by running the pipeline, then approve the new version"
        )
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    if hashlib.sha256(artifact).hexdigest() != recorded:
        raise MlopsError(
            f"version {version}'s artifact {url} changed after it was evaluated (sha256 differs from the"
            " registered one): not deployed; register and approve a new version"
        )


def committed_stage_file(stage: str, repo: Path) -> str:
    """The last commit that changed deploy/<stage>.yml: the deployed stack records it.

    Unrelated commits leave it unchanged, so they never cause an update.
    """
    relative = f"deploy/{stage}.yml"
    try:
        if git("status", "--porcelain", "--", relative, repo=repo):
            raise MlopsError(
                f"{relative} has uncommitted changes: commit them first (git records what runs where)"
            )
        commit = git("log", "-1", "--format=%H", "--", relative, repo=repo)
    except (OSError, subprocess.CalledProcessError):
        raise MlopsError(
            "deploy reads the project's git history: run it in the project's git checkout"
        ) from None
    if not commit:
        raise MlopsError(f"{relative} is not committed yet: commit it first (git records what runs where)")
    return commit


def smoke_test(endpoint: str, artifact: bytes) -> str:
    """The endpoint (in AWS, or the emulator's serving container) answers the test rows as the
    model's inference code does."""
    rows = smoke.test_rows()
    answer = smoke.invoke(endpoint, rows)  # first: a model the endpoint cannot serve fails here
    expected = smoke.local_predictions(artifact, rows)
    count = rows.count("\n")
    smoke.compare(answer, expected, count)
    return f"{count} test rows answered as build/steps/inference.py predicts"


def endpoint_of(stage: str) -> str:
    """The name of the endpoint the stage's stack deployed."""
    stack = describe_stack(stack_name(stage))
    if stack is None:
        raise MlopsError(f"{stage} has no endpoint: deploy it first (`mlops deploy {stage}`)")
    return outputs_of(stack)["EndpointName"]


def invoke(stage: str, rows: str) -> str:
    """What the stage's endpoint answers for CSV rows (no header), once they are rows the model
    it serves can read (its features.json, as build/steps/features.py reads a request)."""
    if not rows.strip():
        raise MlopsError("nothing to send: give CSV rows, features only, no header")
    rule = models.features(served_package(stage))
    if rule is not None:
        try:
            load_step("features").encode(rule, [row for row in csv.reader(io.StringIO(rows)) if row])
        except ValueError as error:
            raise MlopsError(f"not sent to {stage}: {error}") from None
    return smoke.invoke(endpoint_of(stage), rows if rows.endswith("\n") else rows + "\n")


def served_package(stage: str) -> dict:
    """The model package the stage's stack serves, described; {} when that cannot be read (no
    stack, a version gone): what it tells is a courtesy, not a condition."""
    try:
        stack = describe_stack(stack_name(stage))
        arn = deployed_parameters(stack).get("ModelPackageArn") if stack else None
        return aws.client("sagemaker").describe_model_package(ModelPackageName=arn) if arn else {}
    except ClientError:
        return {}


def answer_meaning(stage: str) -> str:
    """What a classifier's answers stand for, in the labels of its training data (the model the
    stage's stack serves); "" for a regression model or one registered without its labels."""
    labels = models.classes(served_package(stage))
    if len(labels) == 2:
        return f"each answer is the probability of {labels[1]!r} (against {labels[0]!r})"
    if labels:
        return "each answer is one probability per class: " + ", ".join(repr(label) for label in labels)
    return ""


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
    (the deployed stack)."""
    repo = repo or record()
    with reading(stage):
        return compare_with_git(stage, repo)


def compare_with_git(stage: str, repo: Path) -> StageStatus:
    state = load_stage(stage, repo / "deploy" / f"{stage}.yml")
    target, commit = aws.resolve_target(), committed_stage_file(stage, repo)
    desired = stack_parameters(stage, state, target, commit)
    stack = describe_stack(stack_name(stage))
    if stack is None:
        missing = [f"stack {stack_name(stage)} does not exist"] if state.model_package_arn else []
        return StageStatus(stage, state.model_package_arn, None, missing)
    found, promoted = drift_of(stack, repo / "deploy" / "endpoint.yml", desired)
    batch_found, batch_promoted = batch_drift(stage, state, target, commit, repo)
    found += batch_found
    deployed = deployed_parameters(stack)
    only_promoted = found and promoted and batch_promoted
    ahead_on = (
        promotion_branch(deployed.get("GitCommit", ""), repo) if stage == "staging" and only_promoted else ""
    )
    return StageStatus(stage, state.model_package_arn, deployed.get("ModelPackageArn"), found, ahead_on)


# What `mlops promote` changes in staging's stacks: the model, and the commit that names it.
PROMOTION_KEYS = {"ModelPackageArn", "GitCommit"}


def drift_of(stack: dict, template: Path, desired: dict[str, str]) -> tuple[list[str], bool]:
    """How a stack differs from git, and whether every difference is a parameter that a promotion
    changes (not the template, not the stack's state)."""
    found = drift(stack, template, desired)
    deployed = deployed_parameters(stack)
    changed = {key for key, value in desired.items() if deployed.get(key) != value}
    return found, len(found) == len(changed) and changed <= PROMOTION_KEYS


def batch_drift(stage: str, state, target: aws.AwsTarget, commit: str, repo: Path) -> tuple[list[str], bool]:
    """drift_of the stage's batch stack, prefixed "batch"; a stack without a block, or a block
    without a stack, is drift."""
    name = batch_stack.stack_name(stage)
    stack = describe_stack(name)
    if state.batch is None:
        return (
            ([f"stack {name} exists, but deploy/{stage}.yml has no batch block"], False)
            if stack
            else ([], True)
        )
    if stack is None:
        return [f"stack {name} does not exist"], False
    desired = batch_stack.stack_parameters(stage, state, target, commit)
    found, promoted = drift_of(stack, batch_template(stage, repo), desired)
    return [f"batch {line}" for line in found], promoted


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


def changed_stages(since: str, repo: Path | None = None) -> list[str]:
    """The stages whose desired state changed from `since` to HEAD (deploy/endpoint.yml and
    deploy/batch.yml are every stage's).

    No `since`, or one this clone does not have (a new branch, a force push), counts every stage.
    """
    try:
        git("rev-parse", "--git-dir", repo=repo)
    except (OSError, subprocess.CalledProcessError):
        raise MlopsError(
            "this reads the project's git history: run it in the project's git checkout"
        ) from None
    if not since or not is_commit(since, repo):
        return list(STAGES)
    changed = git("diff", "--name-only", f"{since}...HEAD", "--", "deploy/", repo=repo).splitlines()
    if {"deploy/endpoint.yml", f"deploy/{batch_stack.TEMPLATE}"} & set(changed):
        return list(STAGES)
    return [stage for stage in STAGES if f"deploy/{stage}.yml" in changed]


def serving() -> dict[str, str]:
    """Stage -> the model package ARN its deployed stack serves (stages without a stack left out)."""
    found = {}
    for stage in STAGES:
        with reading(stage):
            stack = describe_stack(stack_name(stage))
        if stack is not None:
            found[stage] = deployed_parameters(stack).get("ModelPackageArn", "")
    return found
