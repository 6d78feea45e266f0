"""deploy/batch.yml as one CloudFormation stack per stage, parameterised from the `batch` block of
deploy/<stage>.yml: the schedule that starts the batch pipeline with the stage's model."""

from pathlib import Path

from ..aws import AwsTarget
from ..desired_state import StageState
from ..errors import MlopsError
from ..project import project
from .stacks import DesiredStack

TEMPLATE = "batch.yml"


def stack_name(stage: str) -> str:
    return f"{project().slug}-{stage}-batch"


def desired(stage: str, state: StageState, target: AwsTarget, commit: str, repo: Path) -> DesiredStack:
    """The stage's batch stack as deploy/<stage>.yml (in `repo`) asks for it: none without a batch block."""
    template = repo / "deploy" / TEMPLATE
    if state.batch is None:
        return DesiredStack(stack_name(stage), template, None, f"deploy/{stage}.yml has no batch block")
    if not template.is_file():
        raise MlopsError(f"deploy/{stage}.yml has a batch block, but deploy/{TEMPLATE} is missing")
    return DesiredStack(stack_name(stage), template, stack_parameters(stage, state, target, commit))


def stack_parameters(stage: str, state: StageState, target: AwsTarget, git_commit: str) -> dict[str, str]:
    """Every template parameter for the stage's batch stack (the stage has a batch block)."""
    batch = state.batch
    return {
        "Project": project().slug,
        "Stage": stage,
        "ModelPackageArn": state.model_package_arn,
        "GitCommit": git_commit,
        "SchedulerRoleArn": target.scheduler_role_arn,
        "ScheduleExpression": batch.schedule.expression,
        "ScheduleTimezone": batch.schedule.timezone,
        "ScheduleState": "ENABLED" if batch.schedule.enabled else "DISABLED",
        "InputDataUrl": batch.input or f"s3://{target.bucket}/{project().sample_data_key_of('batch')}",
        "OutputDataUrl": batch.output or f"s3://{target.bucket}/{project().slug}/batch-output/{stage}",
        "TransformInstanceType": batch.instance_type,
        "TransformInstanceCount": str(batch.instance_count),
    }
