"""deploy/endpoint.yml: each stage's generated settings create a stack that serves the package.

moto creates the Model, EndpointConfig and Endpoint but skips the alarms and autoscaling
resources and ignores the explicit endpoint name (AWS honours all three); cfn-lint, run by
`make lint`, checks those parts of the template against the real resource schemas.
"""

import boto3
import pytest
from moto import mock_aws
from sagemaker_gitops import aws
from sagemaker_gitops.desired_state import (
    STAGES,
    Autoscaling,
    DataCapture,
    Deployment,
    StageState,
    load_stage,
)
from sagemaker_gitops.project import project
from sagemaker_gitops.stages import stacks
from sagemaker_gitops.stages.endpoint_stack import stack_name, stack_parameters


@pytest.fixture
def packages():
    """Two approved versions in the project's model group, on moto."""
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=aws.region())
        sagemaker.create_model_package_group(ModelPackageGroupName="group")
        yield [
            sagemaker.create_model_package(ModelPackageGroupName="group", ModelApprovalStatus="Approved")[
                "ModelPackageArn"
            ]
            for _ in range(2)
        ]


def deploy_stack(stage: str, arn: str) -> str:
    """Create or update the stage's stack serving `arn`, as `mlops deploy` does; the endpoint name."""
    state = load_stage(stage).model_copy(update={"model_package_arn": arn})
    parameters = stack_parameters(stage, state, aws.resolve_target(), "abc123")
    stacks.apply_stack(
        stack_name(stage), project().root / "deploy" / "endpoint.yml", parameters, lambda _: None
    )
    return stacks.stack_output(stack_name(stage), "EndpointName")


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # the skipped resource types above
@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_serves_the_package_and_a_new_package_replaces_it_in_place(
    stage, packages, served_package
):
    endpoint = deploy_stack(stage, packages[0])
    assert served_package(stage) == packages[0]
    assert deploy_stack(stage, packages[1]) == endpoint, "the endpoint is updated, not replaced"
    assert served_package(stage) == packages[1]


def test_the_parameters_say_everything_the_stage_file_says():
    state = StageState(
        instance_type="ml.c5.large",
        initial_instance_count=2,
        data_capture=DataCapture(enabled=True, sampling_percentage=20),
        autoscaling=Autoscaling(min_capacity=2, max_capacity=4, target_invocations_per_instance=10),
        deployment=Deployment(strategy="canary", traffic_percent=20, wait_seconds=300),
    )
    prod = stack_parameters("prod", state, aws.resolve_target(offline=True), "abc123")
    assert (prod["InstanceType"], prod["InitialInstanceCount"]) == ("ml.c5.large", "2")
    assert (prod["DataCaptureEnabled"], prod["DataCaptureSamplingPercentage"]) == ("true", "20")
    assert prod["DataCaptureDestination"].endswith(f"/{project().slug}/data-capture/prod")
    assert (prod["AutoscalingMinCapacity"], prod["AutoscalingMaxCapacity"]) == ("2", "4")
    assert (prod["DeploymentStrategy"], prod["TrafficPercent"]) == ("CANARY", "20")
    assert prod["WaitSeconds"] == "300"


def test_every_template_parameter_is_given_explicitly(read_template):
    declared = set(read_template(project().root / "deploy" / "endpoint.yml")["Parameters"])
    target = aws.resolve_target(offline=True)
    for stage in STAGES:
        assert set(stack_parameters(stage, load_stage(stage), target, "abc123")) == declared


def test_the_model_gets_no_network_unless_a_version_may_fetch_code(read_template, registered_container):
    """A container whose serving code is in its model archive (SAGEMAKER_SUBMIT_DIRECTORY under
    /opt/ml/model, what the pipeline registers) needs no network: isolated. The scikit-learn
    image stays reachable, because versions registered by earlier releases name their code by an
    S3 URL, which the image downloads itself. moto's CloudFormation ignores the property: read
    from the template."""
    model = read_template(project().root / "deploy" / "endpoint.yml")["Resources"]["Model"]["Properties"]
    assert registered_container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    xgboost = "sagemaker-xgboost" in registered_container["Image"]
    assert model.get("EnableNetworkIsolation", False) is xgboost
