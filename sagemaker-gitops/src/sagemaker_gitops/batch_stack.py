"""deploy/batch.yml as one CloudFormation stack per stage, parameterised from the `batch` block of
deploy/<stage>.yml: the schedule that starts the batch pipeline with the stage's model."""

from .aws import AwsTarget
from .desired_state import StageState
from .errors import MlopsError
from .project import project
from .stacks import deployed_parameters, describe_stack

TEMPLATE = "batch.yml"
# The batch pipeline's parameters, as the schedule sends them: stack parameter -> pipeline parameter.
PIPELINE_PARAMETERS = (
    "ModelPackageArn",
    "InputDataUrl",
    "OutputDataUrl",
    "TransformInstanceType",
    "TransformInstanceCount",
)


def stack_name(stage: str) -> str:
    return f"{project().slug}-{stage}-batch"


def scheduler_role_arn(target: AwsTarget) -> str:
    """infra/bootstrap.yml's SchedulerRole, beside the execution role."""
    return f"{target.role_arn.rsplit(':', 1)[0]}:role/{project().slug}-scheduler"


def stack_parameters(stage: str, state: StageState, target: AwsTarget, git_commit: str) -> dict[str, str]:
    """Every template parameter for the stage's batch stack (the stage has a batch block)."""
    batch = state.batch
    return {
        "Project": project().slug,
        "Stage": stage,
        "ModelPackageArn": state.model_package_arn,
        "GitCommit": git_commit,
        "SchedulerRoleArn": scheduler_role_arn(target),
        "ScheduleExpression": batch.schedule.expression,
        "ScheduleTimezone": batch.schedule.timezone,
        "ScheduleState": "ENABLED" if batch.schedule.enabled else "DISABLED",
        "InputDataUrl": batch.input or f"s3://{target.bucket}/{project().sample_data_key_of('batch')}",
        "OutputDataUrl": batch.output or f"s3://{target.bucket}/{project().slug}/batch-output/{stage}",
        "TransformInstanceType": batch.instance_type,
        "TransformInstanceCount": str(batch.instance_count),
    }


def scheduled_parameters(stage: str) -> list[str]:
    """The pipeline parameters the stage's deployed schedule sends, as Name=value pairs (read from
    its stack, which is what `mlops status` compares with git)."""
    stack = describe_stack(stack_name(stage))
    if stack is None:
        raise MlopsError(
            f"{stage} has no batch schedule (stack {stack_name(stage)}): give deploy/{stage}.yml a batch"
            f" block and deploy it (`mlops deploy {stage}`)"
        )
    deployed = deployed_parameters(stack)
    return [f"{name}={deployed[name]}" for name in PIPELINE_PARAMETERS]
