"""deploy/batch.yml as one CloudFormation stack per stage, parameterised from the `batch` block of
deploy/<stage>.yml: the schedule that starts the batch pipeline with the stage's model."""

from ..aws import AwsTarget
from ..project import project
from .desired_state import StageState

TEMPLATE = "batch.yml"


def stack_name(stage: str) -> str:
    return f"{project().slug}-{stage}-batch"


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
