"""Scheduled retraining on moto: `mlops pipeline upsert` deploys build/retraining.yml as the stack
<project>-retraining from build/config.yml's retraining block, deletes it with the block, and
`mlops schedule fire retraining` starts the build pipeline with what the schedule sends. (moto's
CloudFormation keeps the stack and its parameters but skips the AWS::Scheduler::Schedule.)"""

import boto3
import pytest
import yaml
from moto import mock_aws
from sagemaker_gitops import aws, retraining
from sagemaker_gitops.project import project
from sagemaker_gitops.stacks import deployed_parameters, describe_stack

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips the schedule

BLOCK = {
    "schedule": {"expression": "rate(7 days)", "enabled": False},
    "parameters": {"InputDataUrl": "s3://fresh-data/churn/", "GateThreshold": 0.5},
}


@pytest.fixture
def account():
    with mock_aws():
        target = aws.resolve_target()
        aws.create_bucket(target.bucket)
        yield target


@pytest.fixture
def with_retraining(tmp_path, use_project):
    """with_retraining(block or None): build/config.yml with that retraining block (or none)."""

    def use(block: dict | None) -> None:
        config = yaml.safe_load(project().config_path.read_text())
        config.pop("retraining", None)
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump({**config, **({"retraining": block} if block else {})}))
        use_project(config=path)

    return use


def test_upsert_deploys_the_schedule_fire_starts_it_and_removing_the_block_deletes_it(
    mlops, account, with_retraining
):
    with_retraining(BLOCK)
    code, out, err = mlops("pipeline", "upsert")
    assert code == 0, err
    assert f"retraining schedule: stack {retraining.stack_name()} created" in out
    deployed = deployed_parameters(describe_stack(retraining.stack_name()))
    assert (deployed["ScheduleExpression"], deployed["ScheduleState"]) == ("rate(7 days)", "DISABLED")
    assert (deployed["InputDataUrl"], deployed["GateThreshold"]) == ("s3://fresh-data/churn/", "0.5")
    assert deployed["TrainingInstanceType"]  # the definition's default, sent explicitly

    code, out, err = mlops("schedule", "fire", "retraining", "--aws", "real")
    assert code == 0, err
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    given = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=out.strip())
    sent = retraining.sent({"Parameters": deployed})
    assert {p["Name"]: p["Value"] for p in given["PipelineParameters"]} == {
        name: deployed[name] for name in sent
    }

    code, out, err = mlops("pipeline", "upsert")
    assert code == 0 and f"retraining schedule: stack {retraining.stack_name()} unchanged" in out, err
    with_retraining(None)
    code, out, err = mlops("pipeline", "upsert")
    assert code == 0, err
    assert f"retraining schedule: stack {retraining.stack_name()} deleted" in out
    assert describe_stack(retraining.stack_name()) is None


def test_a_block_naming_a_parameter_the_schedule_does_not_send_changes_nothing(
    mlops, account, with_retraining
):
    with_retraining({**BLOCK, "parameters": {"WarmStartParent": "x"}})
    code, out, err = mlops("pipeline", "upsert")
    assert code == 1 and not out
    assert err.strip().splitlines()[-1] == (
        "error: build/config.yml: retraining.parameters.WarmStartParent: build/retraining.yml does not send"
        " it (add it to the template's Parameters and PipelineParameterList)"
    )
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []


def test_a_schedule_in_config_with_an_expression_the_service_refuses_is_refused(
    mlops, account, with_retraining
):
    with_retraining({**BLOCK, "schedule": {"expression": "rate(1 weeks)"}})
    code, out, err = mlops("pipeline", "upsert")
    assert code == 1 and not out
    assert "retraining.schedule.expression: 'rate(1 weeks)': use rate(1 day) or cron" in err
