"""deploy/endpoint.yml as one CloudFormation stack per stage, parameterised from deploy/<stage>.yml."""

from .aws import AwsTarget
from .desired_state import DEPLOY_DIR, StageState
from .project import PROJECT_SLUG

TEMPLATE_PATH = DEPLOY_DIR / "endpoint.yml"
STRATEGIES = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}


def stack_name(stage: str) -> str:
    return f"{PROJECT_SLUG}-{stage}"


def stack_parameters(stage: str, state: StageState, target: AwsTarget, git_commit: str) -> dict[str, str]:
    """The template's parameters for one stage: everything deploy/<stage>.yml says, made explicit."""
    capture = state.data_capture
    parameters = {
        "Project": PROJECT_SLUG,
        "Stage": stage,
        "ModelPackageArn": state.model_package_arn,
        "GitCommit": git_commit,
        "ExecutionRoleArn": target.role_arn,
        "DataCaptureEnabled": str(capture.enabled).lower(),
        "DataCaptureSamplingPercentage": str(capture.sampling_percentage),
        "DataCaptureDestination": capture.destination
        or f"s3://{target.bucket}/{PROJECT_SLUG}/data-capture/{stage}",
    }
    if state.serverless:
        parameters["ServerlessMemorySizeInMB"] = str(state.serverless.memory_size_mb)
        parameters["ServerlessMaxConcurrency"] = str(state.serverless.max_concurrency)
    else:
        parameters["InstanceType"] = state.instance_type
        parameters["InitialInstanceCount"] = str(state.initial_instance_count)
    if state.autoscaling:
        parameters["AutoscalingMinCapacity"] = str(state.autoscaling.min_capacity)
        parameters["AutoscalingMaxCapacity"] = str(state.autoscaling.max_capacity)
        parameters["AutoscalingTargetInvocations"] = str(state.autoscaling.target_invocations_per_instance)
    if state.deployment:
        parameters["DeploymentStrategy"] = STRATEGIES[state.deployment.strategy]
        parameters["TrafficPercent"] = str(state.deployment.traffic_percent)
        parameters["WaitSeconds"] = str(state.deployment.wait_seconds)
        parameters["RollbackOnAlarms"] = str(state.deployment.rollback_on_alarms).lower()
    return parameters
