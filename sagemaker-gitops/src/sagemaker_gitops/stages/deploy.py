"""`mlops deploy STAGE`: make a stage's endpoint match deploy/<stage>.yml, then smoke-test it.

Refusals come first and change nothing: a file that names no model, a model that is not
Approved or not this project's, an artifact changed since it was evaluated, uncommitted desired
state (git is the record), and for prod a model with no passed staging smoke test.
"""

import csv
import io
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from .. import aws
from ..contract import MODEL_SHA256, metadata
from ..desired_state import STAGES, load_stage
from ..errors import MlopsError
from ..local import emulator, pull_requests
from ..project import load_step, project
from ..repository import git, is_commit
from . import endpoint_stack, models, smoke, stage_schedules, staging_evidence
from .artifacts import approved_package, refuse_what_can_be_replaced, verify_artifact
from .endpoint_stack import stack_name
from .schedules import RETRAINING, refuse_what_a_scheduled_run_would
from .stacks import deployed_parameters, describe_stack, outputs_of, reconcile, stack_output


@dataclass
class Deployed:
    stage: str
    stack: str
    endpoint: str
    action: str  # created | updated | unchanged
    model_package_arn: str
    smoke_test: str
    # A stage schedule's block ("batch", "monitoring") -> what its stack's deploy did (created,
    # updated, unchanged, deleted); the ones with neither a block nor a stack left out.
    schedules: dict[str, str] = field(default_factory=dict)


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
    schedules = [
        (schedule, schedule.desired(stage, state, target, commit, repo, package))
        for schedule in stage_schedules.ALL
    ]
    for schedule, desired in schedules:
        if desired.parameters is not None:
            check_scheduled_run(stage, schedule, desired.parameters)
    if state.monitoring and state.monitoring.retrain_on_drift:
        require_drift_rule(stage)
    action = reconcile(endpoint_stack.desired(stage, state, target, commit, repo), on_status)
    endpoint = stack_output(stack_name(stage), "EndpointName")
    on_status("smoke test")
    passed = smoke_test(endpoint, artifact)
    if stage == "staging":  # the evidence prod deploys on, where only the staging role writes
        # The registered sha256: verify_artifact found the bytes the test ran on to have it.
        sha256 = metadata(package)[MODEL_SHA256]
        staging_evidence.record(package, sha256, endpoint, passed)
    # After the smoke test: a model that fails it never reaches the stage's schedules either.
    scheduled = {schedule.block: reconcile(desired, on_status) for schedule, desired in schedules}
    done = {name: action for name, action in scheduled.items() if action}
    return Deployed(stage, stack_name(stage), endpoint, action, package["ModelPackageArn"], passed, done)


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


def check_scheduled_run(
    stage: str, schedule: stage_schedules.StageSchedule, parameters: dict[str, str]
) -> None:
    """A stage schedule needs the pipeline it starts, in this account, and a block whose values
    that pipeline's run and the schedule accept (an instance type the job's API knows, parameter
    values Scheduler takes), as `--param` values are checked."""
    name = project().pipeline_name_of(schedule.kind)
    try:
        described = aws.client("sagemaker").describe_pipeline(PipelineName=name)
    except ClientError as error:
        if error.response["Error"]["Code"] not in {"ResourceNotFound", "ValidationException"}:
            raise
        raise MlopsError(
            f"deploy/{stage}.yml has a {schedule.block} block, but pipeline {name!r} does not exist in"
            f" {aws.region()}: create it with `{emulator.command('pipeline upsert')}`"
        ) from None
    definition = json.loads(described["PipelineDefinition"])
    refused = f"deploy/{stage}.yml's {schedule.block} block"
    refuse_what_a_scheduled_run_would(schedule.stack_name(stage), definition, parameters, refused)


def require_drift_rule(stage: str) -> None:
    """A stage that retrains on drift needs the rule that does it: the retraining stack's, which
    `mlops pipeline upsert` deploys from build/config.yml's retraining block."""
    name = RETRAINING.stack_name
    if describe_stack(name) is None:
        raise MlopsError(
            f"deploy/{stage}.yml retrains on drift, but the retraining stack {name} (whose rule starts"
            f" the build pipeline) is not deployed: give {RETRAINING.block_shown} a retraining block"
            f" (its schedule may be disabled) and run `{emulator.command('pipeline upsert')}`"
        )


def record() -> Path:
    """The git checkout whose deploy/ is the desired state: the project's, or while the AWS calls go
    to the local emulator, the emulator's own record (never the project's branches)."""
    return emulator.git_record() if emulator.in_use() else project().root


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


def invoke(stage: str, rows: str, inference_id: str = "") -> str:
    """What the stage's endpoint answers for CSV rows (no header), once they are rows the model
    it serves can read (its features.json, as build/steps/features.py reads a request); sent with
    `inference_id` when given (smoke.invoke)."""
    if not rows.strip():
        raise MlopsError("nothing to send: give CSV rows, features only, no header")
    rule = models.features(served_package(stage))
    if rule is not None:
        try:
            load_step("features").encode(rule, [row for row in csv.reader(io.StringIO(rows)) if row])
        except ValueError as error:
            raise MlopsError(f"not sent to {stage}: {error}") from None
    return smoke.invoke(endpoint_of(stage), rows if rows.endswith("\n") else rows + "\n", inference_id)


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
    templates = {"deploy/endpoint.yml", *(f"deploy/{schedule.template}" for schedule in stage_schedules.ALL)}
    if templates & set(changed):
        return list(STAGES)
    return [stage for stage in STAGES if f"deploy/{stage}.yml" in changed]
