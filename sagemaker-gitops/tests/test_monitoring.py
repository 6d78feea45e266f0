"""Each stage's monitoring schedule (deploy/monitor.yml, from the monitoring block of
deploy/<stage>.yml): deployed with the endpoint (moto records the stack and its parameters but skips
the AWS::Scheduler::Schedule it holds), sending the stage's capture, where its labels arrive and
the baselines of the version it serves, so that they move with the model. The monitoring
pipeline's run on an endpoint's capture is test_local.py's."""

import pytest
import yaml
from conftest import monitoring_only
from sagemaker_gitops import aws, contract
from sagemaker_gitops.desired_state import set_model_package
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.project import project
from sagemaker_gitops.stages import deploy, models, stacks, stage_schedules
from sagemaker_gitops.stages import status as stage_status

pytestmark = [monitoring_only, pytest.mark.filterwarnings("ignore:Tried to parse AWS")]
MONITORING = stage_schedules.MONITORING
BLOCK = {
    "lookback_hours": 6,
    "instance_type": "ml.m5.large",
    "schedule": {"expression": "rate(6 hours)", "timezone": "UTC", "enabled": False},
}


def monitor_staging(repo, git, arn: str, block: dict | None = BLOCK) -> None:
    """Staging on an instance that captures, serving `arn`, with (or without) a monitoring block;
    committed."""
    path = repo / "deploy" / "staging.yml"
    state = yaml.safe_load(path.read_text())
    state.pop("serverless", None)
    state.pop("monitoring", None)
    state |= {"instance_type": "ml.t2.medium", "initial_instance_count": 1}
    state["data_capture"] = {"enabled": True, "sampling_percentage": 100, "destination": ""}
    path.write_text(yaml.safe_dump({**state, **({"monitoring": block} if block else {})}, sort_keys=False))
    set_model_package(path, arn)
    git("commit", "--quiet", "--all", "-m", "staging monitored")


def monitor_stack() -> dict[str, str] | None:
    stack = stacks.describe_stack(MONITORING.stack_name("staging"))
    return stacks.deployed_parameters(stack) if stack else None


def test_the_monitor_follows_the_stage_file_and_moves_with_the_version_it_serves(repo, registry, git):
    first = registry()
    monitor_staging(repo, git, first)
    assert deploy.deploy("staging", repo=repo).schedules == {"batch": "created", "monitoring": "created"}
    sent = monitor_stack()
    bucket = aws.resolve_target().bucket
    assert sent["CaptureUrl"] == (
        f"s3://{bucket}/{project().slug}/data-capture/staging/{project().slug}-staging/main"
    )
    assert sent["DataBaselineUrl"] == contract.data_baseline(models.described(first))
    assert sent["ModelBaselineUrl"] == contract.model_baseline(models.described(first))
    assert sent["GroundTruthUrl"] == f"s3://{bucket}/{project().slug}/ground-truth/staging"
    assert (sent["LookbackHours"], sent["ScheduleExpression"], sent["ScheduleState"]) == (
        "6",
        "rate(6 hours)",
        "DISABLED",
    )
    assert not stage_status.status("staging", repo=repo).drift

    # A promotion: the next version, with a baseline of its own, and the schedule follows it.
    second = registry(
        data_baseline=f"s3://{bucket}/{project().slug}/executions/next/preprocess/data/quality/"
    )
    monitor_staging(repo, git, second)
    assert "monitoring DataBaselineUrl" in " ".join(stage_status.status("staging", repo=repo).differences)
    assert deploy.deploy("staging", repo=repo).schedules["monitoring"] == "updated"
    assert monitor_stack()["DataBaselineUrl"].endswith("/executions/next/preprocess/data/quality/")

    monitor_staging(repo, git, second, None)
    gone = f"stack {MONITORING.stack_name('staging')} exists, but deploy/staging.yml has no monitoring block"
    assert gone in stage_status.status("staging", repo=repo).differences
    assert deploy.deploy("staging", repo=repo).schedules["monitoring"] == "deleted"
    assert monitor_stack() is None and not stage_status.status("staging", repo=repo).drift


def test_a_version_without_a_baseline_is_not_monitored_and_nothing_is_deployed(repo, registry, git):
    monitor_staging(repo, git, registry(data_baseline=None))
    with pytest.raises(
        MlopsError, match=r"^deploy/staging.yml monitors its endpoint, but .* has no quality baselines"
    ):
        deploy.deploy("staging", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("staging")) is None
    assert monitor_stack() is None


def test_a_stage_that_retrains_on_drift_needs_the_rule_that_does_it(repo, registry, git):
    """build/retraining.yml's rule starts the retraining: without the retraining stack, a block that
    asks for it is refused before anything is deployed."""
    monitor_staging(repo, git, registry(), {**BLOCK, "retrain_on_drift": True})
    refused = (
        f"^deploy/staging.yml retrains on drift, but the retraining stack {project().slug}-retraining"
        r" \(whose rule starts the build pipeline\) is not deployed: give build/config.yml a retraining block"
    )
    with pytest.raises(MlopsError, match=refused):
        deploy.deploy("staging", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("staging")) is None
