"""deploy/endpoint.yml as one CloudFormation stack per stage, parameterised from deploy/<stage>.yml."""

from pathlib import Path

from ..aws import AwsTarget
from ..desired_state import StageState
from ..project import project
from .stacks import DesiredStack

STRATEGIES = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}


def stack_name(stage: str) -> str:
    return f"{project().slug}-{stage}"


def desired(stage: str, state: StageState, target: AwsTarget, commit: str, repo: Path) -> DesiredStack:
    """The stage's endpoint stack as deploy/<stage>.yml (in `repo`) asks for it."""
    return DesiredStack(
        stack_name(stage), repo / "deploy" / "endpoint.yml", stack_parameters(stage, state, target, commit)
    )


def stack_parameters(stage: str, state: StageState, target: AwsTarget, git_commit: str) -> dict[str, str]:
    """Every template parameter for one stage, explicitly: what deploy/<stage>.yml says, and the
    template's "off" values for what it leaves out, so comparing with a deployed stack is exact."""
    capture, serverless = state.data_capture, state.serverless
    scaling, deployment = state.autoscaling, state.deployment
    return {
        "Project": project().slug,
        "Stage": stage,
        "ModelPackageArn": state.model_package_arn,
        "GitCommit": git_commit,
        "ExecutionRoleArn": target.role_arn,
        "InstanceType": state.instance_type or "",  # "" = serverless
        "InitialInstanceCount": str(state.initial_instance_count or 1),
        "ServerlessMemorySizeInMB": str(serverless.memory_size_mb if serverless else 2048),
        "ServerlessMaxConcurrency": str(serverless.max_concurrency if serverless else 5),
        "DataCaptureEnabled": str(capture.enabled).lower(),
        "DataCaptureSamplingPercentage": str(capture.sampling_percentage),
        "DataCaptureDestination": capture.destination
        or f"s3://{target.bucket}/{project().slug}/data-capture/{stage}",
        "AutoscalingMinCapacity": str(scaling.min_capacity if scaling else 0),  # 0 = off
        "AutoscalingMaxCapacity": str(scaling.max_capacity if scaling else 1),
        "AutoscalingTargetInvocations": str(scaling.target_invocations_per_instance if scaling else 100),
        "DeploymentStrategy": STRATEGIES[deployment.strategy] if deployment else "none",
        "TrafficPercent": str(deployment.traffic_percent if deployment else 10),
        "WaitSeconds": str(deployment.wait_seconds if deployment else 600),
        "RollbackOnAlarms": str(deployment.rollback_on_alarms if deployment else True).lower(),
    }
