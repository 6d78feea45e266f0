"""Batch scoring: the rules a batch block and the batch config follow, the local transform's
contract with the model's container, and each stage's schedule stack on moto (whose CloudFormation
records the stack and its parameters but skips the AWS::Scheduler::Schedule it holds)."""

import http.server
import json
import re

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from conftest import BATCH, MONITORING, any_shape, batch_only, serving, stage_pipeline_definition
from sagemaker_gitops import aws
from sagemaker_gitops.config import load_config
from sagemaker_gitops.definition.csv_filters import column_filter
from sagemaker_gitops.desired_state import load_stage
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.local import endpoints
from sagemaker_gitops.local.jobs import JobFailed
from sagemaker_gitops.local.transform import mini_batches, predict
from sagemaker_gitops.project import project
from sagemaker_gitops.stages import deploy, promote, stage_schedules
from sagemaker_gitops.stages import status as stage_status

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips the schedule
BATCH_SCHEDULE = stage_schedules.BATCH

ROW = ["id7", "1.5", "2", "x", "-4"]


@any_shape
@pytest.mark.parametrize(
    ("expression", "kept"),
    [
        ("$", ROW),
        ("$[1:]", ROW[1:]),
        ("$[0]", ["id7"]),
        ("$[-1]", ["-4"]),
        ("$[1:-1]", ROW[1:-1]),
        ("$[0,3:]", ["id7", "x", "-4"]),
        ("$[ 0 , 2 ]", ["id7", "2"]),
    ],
)
def test_a_filter_keeps_the_columns_sagemaker_keeps(expression, kept):
    assert column_filter(expression)(ROW) == kept


@any_shape
@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("$.features", "use $ (every column) or $[...]"),
        ("$[]", "use $ (every column) or $[...]"),
        ("$[a]", "'a' is not a column index or a slice"),
        ("$[1::2]", "'1::2' is not a column index or a slice"),
        ("$[" + "1," * 40 + "1]", "at most 63 characters"),
    ],
)
def test_a_filter_sagemaker_would_not_read_on_csv_is_refused(expression, why):
    with pytest.raises(ValueError) as refused:
        column_filter(expression)
    assert why in str(refused.value)


@any_shape
def test_a_filter_asking_for_a_column_a_row_lacks_fails():
    with pytest.raises(IndexError):
        column_filter("$[9]")(ROW)


def with_batch_block(tmp_path, block: dict):
    """deploy/staging.yml with a batch block, as a file of its own."""
    state = yaml.safe_load((project().root / "deploy" / "staging.yml").read_text())
    path = tmp_path / "staging.yml"
    path.write_text(yaml.safe_dump({**state, "batch": block}))
    return path


BLOCK = {
    "instance_type": "ml.m5.large",
    "instance_count": 1,
    "schedule": {"expression": "cron(0 6 * * ? *)"},
}


@any_shape
@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 day)",
        "rate(12 hours)",
        "rate(5 minutes)",
        "cron(0 6 * * ? *)",
        "cron(0 6 ? * MON *)",
        "cron(0/15 8-17 ? * MON-FRI *)",
        "cron(0 6 L * ? 2027-2030)",
        "cron(0 6 15W * ? *)",
        "cron(0 6 ? * 2#1 *)",
        "cron(0 6 ? * 6L *)",
    ],
)
def test_schedules_eventbridge_scheduler_takes_are_taken(tmp_path, expression):
    block = {**BLOCK, "schedule": {"expression": expression, "timezone": "Europe/Paris"}}
    assert load_stage("staging", with_batch_block(tmp_path, block)).batch.schedule.expression == expression


@any_shape
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": {"expression": "rate(1 days)"}}, "the unit singular for 1 only"),
        ({"schedule": {"expression": "rate(2 day)"}}, "the unit singular for 1 only"),
        ({"schedule": {"expression": "cron(0 6 * * *)"}}, "cron takes six fields"),
        ({"schedule": {"expression": "cron(0 6 * * * *)"}}, "one of day-of-month and day-of-week must be ?"),
        ({"schedule": {"expression": "cron(61 25 32 13 ? *)"}}, "minutes '61' is not in 0-59"),
        ({"schedule": {"expression": "cron(0 6 ? * 8 *)"}}, "day-of-week '8' is not in 1-7 or SUN-SAT"),
        ({"schedule": {"expression": "cron(0 6 ? JAN-FOO * *)"}}, "month 'FOO' is not in 1-12"),
        ({"schedule": {"expression": "cron(0 6 * * ? 1969)"}}, "year '1969' is not in 1970-2199"),
        ({"schedule": {"expression": "daily"}}, "use rate(1 day) or cron(0 6 * * ? *)"),
        ({"schedule": {"expression": "rate(1 day)", "timezone": "Mars/Base"}}, "is not a time zone name"),
        ({"instance_type": "m5.large"}, "batch.instance_type"),
        ({"instance_count": 0}, "batch.instance_count"),
        ({"input": "bucket/key"}, "batch.input"),
        ({"scheduled": True}, "batch.scheduled: Extra inputs are not permitted"),
    ],
)
def test_a_batch_block_aws_would_refuse_is_refused_in_one_line(tmp_path, change, message):
    path = with_batch_block(tmp_path, {**BLOCK, **change})
    with pytest.raises(MlopsError) as refused:
        load_stage("staging", path)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"{path}: batch")


@any_shape
def test_a_batch_config_with_a_json_filter_is_refused(tmp_path):
    config = yaml.safe_load(project().config_path.read_text())
    config["batch"] = {"input_filter": "$.features", "instance_type": "ml.m5.large", "instance_count": 1}
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(MlopsError, match=r"batch: input_filter: '\$.features': use \$"):
        load_config(path)


@batch_only
def test_a_batch_pipeline_without_its_config_block_is_refused_in_one_line(mlops, tmp_path, use_project):
    config = yaml.safe_load(project().config_path.read_text())
    del config["batch"]
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    use_project(config=path)
    code, out, err = mlops("pipeline", "definition", "--pipeline", "batch")
    assert (code, out) == (1, "")
    assert err.strip() == "error: build/config.yml has no batch block, which build/batch_pipeline.py reads"


@pytest.mark.skipif(BATCH, reason="the preset scores in batch: this needs a project without the pipeline")
def test_the_batch_pipeline_of_a_project_without_one_is_refused_in_one_line(mlops):
    code, out, err = mlops("pipeline", "definition", "--pipeline", "batch")
    assert (code, out) == (1, "")
    assert err.strip() == "error: batch_pipeline.py: not found (this project has no batch pipeline)"


@any_shape
@pytest.mark.parametrize(
    "value", ["", "my-model-models/1", "arn:aws:sagemaker:us-east-1:123456789012:model/x"]
)
def test_a_model_package_parameter_that_is_no_version_arn_is_refused_before_anything_runs(mlops, value):
    code, out, err = mlops("pipeline", "start", "--aws", "real", "--param", f"ModelPackageArn={value}")
    assert (code, out) == (1, "")
    assert err.strip().splitlines()[-1] == (
        f"error: --param ModelPackageArn={value}: expected a model package version's ARN"
        " (arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
    )


@any_shape
def test_mini_batches_fill_the_payload_limit_or_take_one_row_each():
    lines = ["a" * 9] * 5  # 10 bytes each with its newline
    assert [len(batch) for batch in mini_batches(lines, None, 25)] == [2, 2, 1]
    assert [len(batch) for batch in mini_batches(lines, 1, 1000)] == [1] * 5
    with pytest.raises(JobFailed, match="larger than MaxPayloadInMB"):
        mini_batches(["a" * 30], None, 25)


class Answering(http.server.BaseHTTPRequestHandler):
    """A model container on 127.0.0.1 that answers `lines` lines to whatever it is sent."""

    lines = 1

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b"0.5\n" * self.lines
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@any_shape
@pytest.mark.parametrize("answered", [2, 4])
def test_a_container_answering_another_number_of_rows_fails_the_job(tmp_path, answered):
    """SageMaker pairs each answer with its row: a different count fails the job, it is not padded."""
    handler = type("Handler", (Answering,), {"lines": answered})
    with serving(handler) as server:
        running = endpoints.Running(None, f"127.0.0.1:{server.server_address[1]}", tmp_path / "log", "image")
        with pytest.raises(JobFailed, match=f"answered {answered} records for a mini-batch of 3"):
            predict(running, ["1,2", "3,4", "5,6"], "text/csv")
        handler.lines = 3
        assert predict(running, ["1,2", "3,4", "5,6"], "text/csv") == [["0.5"]] * 3


# --- Each stage's schedule stack (moto): deployed with the endpoint, from the stage file ---------


def add_batch_block(repo, git, stage: str, block: dict | None = BLOCK) -> None:
    """Give (or take away) the stage file's batch block, and commit it."""
    path = repo / "deploy" / f"{stage}.yml"
    state = yaml.safe_load(path.read_text())
    state.pop("batch", None)
    path.write_text(yaml.safe_dump({**state, **({"batch": block} if block else {})}, sort_keys=False))
    git("commit", "--quiet", "--all", "-m", f"{stage} batch block")


def schedule_stack(stage: str) -> dict | None:
    try:
        found = boto3.client("cloudformation", region_name=aws.region()).describe_stacks(
            StackName=BATCH_SCHEDULE.stack_name(stage)
        )
    except ClientError:  # a stack that does not exist
        return None
    return {p["ParameterKey"]: p["ParameterValue"] for p in found["Stacks"][0]["Parameters"]}


@batch_only
def test_the_schedule_follows_the_stage_file_and_goes_with_its_block(repo, registry, record, git):
    arn = registry()
    record("staging", arn)
    add_batch_block(repo, git, "staging")
    done = deploy.deploy("staging", repo=repo)
    assert done.schedules["batch"] == "created"
    sent = schedule_stack("staging")
    assert (sent["ModelPackageArn"], sent["ScheduleExpression"], sent["ScheduleState"]) == (
        arn,
        "cron(0 6 * * ? *)",
        "ENABLED",
    )
    # data/batch/sample.csv, where upsert staged it (under its content's hash)
    assert sent["InputDataUrl"].endswith(f"/{project().sample_data_key_of('batch')}")
    assert re.search(r"/data/[0-9a-f]{16}/sample\.csv$", sent["InputDataUrl"])
    assert not stage_status.status("staging", repo=repo).drift

    add_batch_block(repo, git, "staging", {**BLOCK, "instance_count": 3})
    assert stage_status.status("staging", repo=repo).drift  # git changed, the stack has not yet
    assert deploy.deploy("staging", repo=repo).schedules["batch"] == "updated"
    assert schedule_stack("staging")["TransformInstanceCount"] == "3"

    add_batch_block(repo, git, "staging", None)
    gone = f"stack {BATCH_SCHEDULE.stack_name('staging')} exists, but deploy/staging.yml has no batch block"
    assert gone in stage_status.status("staging", repo=repo).differences
    assert deploy.deploy("staging", repo=repo).schedules["batch"] == "deleted"
    assert schedule_stack("staging") is None and not stage_status.status("staging", repo=repo).drift


@batch_only
def test_a_batch_block_is_refused_before_anything_is_deployed_when_the_pipeline_is_missing(
    repo, registry, record, git
):
    record("staging", registry())
    add_batch_block(repo, git, "staging")
    sagemaker = boto3.client("sagemaker", region_name=aws.region())
    sagemaker.delete_pipeline(PipelineName=project().pipeline_name_of("batch"), ClientRequestToken="t" * 32)
    with pytest.raises(MlopsError, match=f"pipeline '{project().pipeline_name_of('batch')}' does not exist"):
        deploy.deploy("staging", repo=repo)
    assert deploy.describe_stack(deploy.stack_name("staging")) is None


@batch_only
def test_a_batch_block_the_batch_job_would_refuse_is_refused_before_anything_is_deployed(
    repo, registry, record, git
):
    """The instance type is checked as `--param` checks one: in the batch pipeline's request, against
    CreateTransformJob's list of instance types (the block's own check is of form only)."""
    record("staging", registry())
    add_batch_block(repo, git, "staging", {**BLOCK, "instance_type": "ml.bogus.huge"})
    with pytest.raises(MlopsError) as refused:
        deploy.deploy("staging", repo=repo)
    assert str(refused.value).startswith("deploy/staging.yml's batch block: Score: CreateTransformJob")
    assert "'ml.bogus.huge' is not one of" in str(refused.value)
    assert deploy.describe_stack(deploy.stack_name("staging")) is None
    assert schedule_stack("staging") is None


@batch_only
def test_firing_a_schedule_by_hand_starts_the_pipeline_with_what_the_schedule_sends(
    repo, registry, record, git, mlops, use_project
):
    record("staging", registry())
    add_batch_block(repo, git, "staging")
    deploy.deploy("staging", repo=repo)
    use_project(root=repo)
    code, out, err = mlops("schedule", "fire", "staging", "--aws", "real")
    assert code == 0, err
    sagemaker = boto3.client("sagemaker", region_name=aws.region())
    given = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=out.strip())[
        "PipelineParameters"
    ]
    sent = schedule_stack("staging")
    declared = [p["Name"] for p in stage_pipeline_definition("batch")["Parameters"]]
    assert {p["Name"]: p["Value"] for p in given} == {name: sent[name] for name in declared}


@batch_only
def test_firing_a_stage_without_a_schedule_is_refused_in_one_line(registry, mlops):
    code, out, err = mlops("schedule", "fire", "prod", "--aws", "real")
    assert code == 1 and not out
    assert err.strip() == (
        f"error: prod has no schedule (stack {BATCH_SCHEDULE.stack_name('prod')}): give deploy/prod.yml a"
        " batch block and deploy it (`mlops deploy prod`)"
    )


@batch_only
def test_the_batch_template_takes_every_parameter_it_is_given(read_template, repo):
    declared = set(read_template(repo / "deploy" / BATCH_SCHEDULE.template)["Parameters"])
    state = load_stage("prod", repo / "deploy" / "prod.yml")
    given = BATCH_SCHEDULE.parameters("prod", state, aws.resolve_target(offline=True), "c" * 40, {})
    assert set(given) == declared
    assert json.dumps(given)  # every value a string, as CloudFormation takes them
    assert all(isinstance(value, str) for value in given.values())


@batch_only
def test_the_prod_pull_request_says_prods_schedule_moves_with_it(repo, registry):
    registry()
    done = promote.promote(repo=repo)
    moved = "batch and monitoring schedules move" if MONITORING else "batch schedule moves"
    assert done.body and f"Prod's {moved} to this version with it." in done.body
    assert deploy.describe_stack(BATCH_SCHEDULE.stack_name("staging")) is not None  # staging's moved already
