"""`mlops pipeline ...` end to end against moto: what a user and CI see; and scheduled retraining,
which `upsert` deploys."""

import json
import re
from hashlib import sha256

import boto3
import pytest
import yaml
from conftest import TIGHTER_GATE, any_shape
from moto import mock_aws
from sagemaker_gitops import aws
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.project import project
from sagemaker_gitops.stages import pipeline_schedules
from sagemaker_gitops.stages.schedules import RETRAINING, refuse_what_the_scheduler_would
from sagemaker_gitops.stages.stacks import deployed_parameters, describe_stack


@pytest.fixture
def account():
    """An empty moto account with the artifact bucket infra/bootstrap.yml would create."""
    with mock_aws():
        target = aws.resolve_target()
        aws.create_bucket(target.bucket)
        yield target


@any_shape
def test_definition_prints_json_without_credentials(mlops, monkeypatch):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable)
    code, out, _ = mlops("pipeline", "definition")
    assert code == 0
    assert json.loads(out)["Version"] == "2020-12-01"


def test_upsert_creates_a_pipeline_tagged_with_the_commit_and_uploads_its_code(mlops, account):
    code, out, err = mlops("pipeline", "upsert")
    assert code == 0, err
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    described = sagemaker.describe_pipeline(PipelineName=project().pipeline_name)
    assert described["PipelineArn"] in out
    tags = sagemaker.list_tags(ResourceArn=described["PipelineArn"])["Tags"]
    assert any(tag["Key"] == "git_commit" and tag["Value"] for tag in tags)
    definition = described["PipelineDefinition"]
    s3 = boto3.client("s3", region_name=account.region)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=account.bucket)["Contents"]}
    referenced = {key for key in keys if f"s3://{account.bucket}/{key}" in definition}
    assert any(key.endswith("/preprocess.py") for key in referenced)
    assert any(key.endswith("/evaluate.py") for key in referenced)
    assert project().sample_data_key in keys
    assert f"s3://{account.bucket}/{project().sample_data_key}" in definition  # the default InputDataUrl


@any_shape
def test_upsert_twice_updates_in_place(mlops, account):
    assert mlops("pipeline", "upsert")[0] == 0
    assert mlops("pipeline", "upsert")[0] == 0
    pipelines = boto3.client("sagemaker", region_name=account.region).list_pipelines()["PipelineSummaries"]
    expected = [project().pipeline_name_of(kind) for kind in project().pipelines]  # build, and batch
    assert sorted(p["PipelineName"] for p in pipelines) == sorted(expected)


@any_shape
def test_upsert_refuses_step_code_someone_else_wrote_under_its_name(mlops, account):
    """Step code (the scikit-learn image's serving code among it) is staged write-once under keys
    naming its content: an object planted at the key of the next commit's code is never run."""
    assert mlops("pipeline", "upsert")[0] == 0
    s3 = boto3.client("s3", region_name=account.region)
    staged = s3.list_objects_v2(Bucket=account.bucket, Prefix=f"{project().slug}/code/")["Contents"]
    planted = next(o["Key"] for o in staged if o["Key"].endswith("/evaluate.py"))
    s3.put_object(Bucket=account.bucket, Key=planted, Body=b"import os; os.system('curl evil')\n")
    code, _, err = mlops("pipeline", "upsert")
    assert code == 1
    assert err.strip() == (
        f"error: s3://{account.bucket}/{planted} holds other bytes than its name says: someone else wrote"
        " it, and it is not used (the bucket policy lets no role delete it: an administrator must)"
    )


@any_shape
def test_start_returns_the_execution_arn_with_parameter_overrides(mlops, account):
    mlops("pipeline", "upsert")
    code, out, err = mlops("pipeline", "start", "--param", f"GateThreshold={TIGHTER_GATE}")
    assert code == 0, err
    arn = out.strip()
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    response = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert response["PipelineParameters"] == [{"Name": "GateThreshold", "Value": TIGHTER_GATE}]


@any_shape
def test_start_on_a_local_file_stages_it_under_its_content_hash(mlops, account, tmp_path):
    mlops("pipeline", "upsert")
    mine = tmp_path / "exports.csv"
    mine.write_text((project().root / "data" / "sample.csv").read_text()[:2000].rsplit("\n", 1)[0] + "\n")
    code, out, err = mlops("pipeline", "start", "--data", str(mine))
    assert code == 0, err
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    sent = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=out.strip())
    key = f"{project().slug}/data/{sha256(mine.read_bytes()).hexdigest()[:16]}/exports.csv"
    assert sent["PipelineParameters"] == [{"Name": "InputDataUrl", "Value": f"s3://{account.bucket}/{key}"}]
    staged = boto3.client("s3", region_name=account.region).get_object(Bucket=account.bucket, Key=key)
    assert staged["Body"].read() == mine.read_bytes()


@any_shape
def test_start_on_a_folder_stages_its_csv_files_as_one_prefix(mlops, account, tmp_path):
    """A folder of exports, as Preprocess reads a prefix: its CSV files directly in it, one table."""
    mlops("pipeline", "upsert")
    rows = (project().root / "data" / "sample.csv").read_text().splitlines(keepends=True)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "2026-11.csv").write_text("".join(rows[:40]))
    (folder / "2026-12.csv").write_text("".join(rows[:1] + rows[40:80]))
    (folder / "notes.txt").write_text("not data")
    code, out, err = mlops("pipeline", "start", "--data", str(folder))
    assert code == 0, err
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    (sent,) = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=out.strip())[
        "PipelineParameters"
    ]
    prefix = sent["Value"].removeprefix(f"s3://{account.bucket}/")
    assert re.fullmatch(rf"{project().slug}/data/[0-9a-f]{{16}}/", prefix)
    listed = boto3.client("s3", region_name=account.region).list_objects_v2(
        Bucket=account.bucket, Prefix=prefix
    )
    assert sorted(o["Key"].removeprefix(prefix) for o in listed["Contents"]) == ["2026-11.csv", "2026-12.csv"]

    (tmp_path / "empty").mkdir()
    code, _, err = mlops("pipeline", "start", "--data", str(tmp_path / "empty"))
    assert (code, err.strip()) == (1, f"error: {tmp_path / 'empty'}: no CSV file directly in the folder")


@any_shape
def test_start_takes_overrides_from_the_environment_and_writes_a_summary(
    mlops, account, monkeypatch, tmp_path
):
    mlops("pipeline", "upsert")
    # How build.yml passes the manual dispatch's overrides: one variable, space-separated.
    monkeypatch.setenv("MLOPS_PIPELINE_PARAMETERS", f"GateThreshold={TIGHTER_GATE} ProcessingInstanceCount=2")
    summary = tmp_path / "summary.md"
    code, out, err = mlops("pipeline", "start", "--summary", str(summary))
    assert code == 0, err
    arn = out.strip()
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    response = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    assert {p["Name"]: p["Value"] for p in response["PipelineParameters"]} == {
        "GateThreshold": TIGHTER_GATE,
        "ProcessingInstanceCount": "2",
    }
    text = summary.read_text()
    assert f"execution: `{arn}`" in text and f"`GateThreshold={TIGHTER_GATE}`" in text
    assert f"https://{account.region}.console.aws.amazon.com/sagemaker/" in text


@any_shape
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ("ModelApprovalStatus=Approved", "a run cannot set the approval"),
        ("GateThreshold=inf", "finite number"),
        ("GateThreshold=nan", "finite number"),
        ("GateThreshold=OUT_OF_RANGE", "threshold must be"),
        ("GateThreshold=LOOSER", "looser than build/config.yml's gate"),
        ("GateThreshold=high", "valid number"),
        ("ProcessingInstanceType=ml.fake.large", "not started: Preprocess: CreateProcessingJob"),
    ],
)
def test_start_refuses_an_override_that_skips_the_gate_or_that_the_api_refuses(
    mlops, account, monkeypatch, config, overrides, reason
):
    """Checked as build/config.yml and SageMaker's API would check them, from --param and from
    MLOPS_PIPELINE_PARAMETERS alike; nothing is started."""
    out_of_range = "-1" if config.gate.lower_is_better else "2"
    # An error metric's gate has no upper bound of its own: 1e9 would pass every model.
    looser = "1e9" if config.gate.lower_is_better else f"{config.gate.threshold / 2:g}"
    overrides = overrides.replace("OUT_OF_RANGE", out_of_range).replace("LOOSER", looser)
    mlops("pipeline", "upsert")
    monkeypatch.setenv("MLOPS_PIPELINE_PARAMETERS", overrides)
    for args in (["--param", overrides], []):
        code, _, err = mlops("pipeline", "start", *args)
        assert code == 1 and reason in err, err
        assert len(err.strip().splitlines()) == 1
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    assert (
        sagemaker.list_pipeline_executions(PipelineName=project().pipeline_name)["PipelineExecutionSummaries"]
        == []
    )


@any_shape
def test_start_wait_follows_the_execution_to_its_end(mlops, account):
    mlops("pipeline", "upsert")
    code, _, err = mlops("pipeline", "start", "--wait")
    assert code == 0
    assert "execution Succeeded" in err


@any_shape
def test_status_lists_executions_newest_first(mlops, account):
    mlops("pipeline", "upsert")
    arn = mlops("pipeline", "start")[1].strip()
    code, out, _ = mlops("pipeline", "status")
    assert code == 0
    assert "Succeeded" in out
    assert arn.rsplit("/", 1)[-1] in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pipeline", "start"], f"pipeline '{project().pipeline_name}' not found"),
        (["pipeline", "status"], f"pipeline '{project().pipeline_name}' not found"),
    ],
)
def test_verbs_before_upsert_fail_with_one_clear_line(mlops, account, args, message):
    code, _, err = mlops(*args)
    assert code == 1
    assert message in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["pipeline", "upsert"], ["pipeline", "start"], ["pipeline", "status"]])
def test_verbs_without_credentials_say_so_in_one_line(mlops, monkeypatch, tmp_path, args):
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # boto3's default session keeps the credentials an earlier test resolved: start afresh.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    code, _, err = mlops(*args)
    assert code == 1
    assert err.strip().startswith("error: no AWS credentials: configure a profile")
    assert len(err.strip().splitlines()) == 1


@any_shape
@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("GateThreshold", "expected Name=value"),
        ("=1", "expected Name=value"),
        ("NoSuchParameter=1", "unknown pipeline parameter 'NoSuchParameter'"),
    ],
)
def test_bad_parameter_overrides_are_refused_and_nothing_starts(mlops, account, param, message):
    mlops("pipeline", "upsert")
    code, _, err = mlops("pipeline", "start", "--param", param)
    assert code == 1
    assert message in err
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    assert (
        sagemaker.list_pipeline_executions(PipelineName=project().pipeline_name)["PipelineExecutionSummaries"]
        == []
    )


@pytest.fixture
def registry(account):
    """The model group with two versions, as two pipeline executions would leave it."""
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    sagemaker.create_model_package_group(ModelPackageGroupName=project().model_package_group)
    for execution in ("exec1", "exec2"):
        sagemaker.create_model_package(
            ModelPackageGroupName=project().model_package_group,
            ModelApprovalStatus="PendingManualApproval",
            CustomerMetadataProperties={"git_commit": "abc123", "pipeline_execution_id": execution},
        )
    return sagemaker


def test_models_list_shows_versions_newest_first(mlops, registry):
    code, out, err = mlops("models", "list")
    assert code == 0, err
    rows = [line for line in out.splitlines() if "PendingManualApproval" in line]
    assert [row.split()[0] for row in rows] == ["2", "1"]
    assert all("abc123" in row for row in rows), "the commit each version was built from"


def test_approve_keeps_the_metadata_and_records_the_reason(mlops, registry):
    code, out, err = mlops("models", "approve", "1", "--reason", "beats prod on the holdout")
    assert code == 0, err
    assert "version 1: PendingManualApproval -> Approved" in out
    arn = registry.list_model_packages(
        ModelPackageGroupName=project().model_package_group, SortBy="CreationTime"
    )["ModelPackageSummaryList"][0]["ModelPackageArn"]
    described = registry.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "beats prod on the holdout"
    assert described["CustomerMetadataProperties"] == {
        "git_commit": "abc123",
        "pipeline_execution_id": "exec1",
    }
    assert mlops("models", "approve", "1", "--reason", "again")[1].startswith("version 1 is already Approved")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", "9", "--reason", "x"], "has no version 9 (the latest is 2)"),
        (["reject", "1", "--reason", " "], "--reason must say why"),
        # UpdateModelPackage's ApprovalDescription: at most 1,024 characters (botocore's model).
        (["approve", "1", "--reason", "x" * 1025], "--reason: ApprovalDescription: 1025 characters"),
    ],
)
def test_bad_approvals_are_refused_and_change_nothing(mlops, registry, args, message):
    code, _, err = mlops("models", *args)
    assert code == 1
    assert message in err and len(err.strip().splitlines()) == 1
    statuses = registry.list_model_packages(ModelPackageGroupName=project().model_package_group)[
        "ModelPackageSummaryList"
    ]
    assert {p["ModelApprovalStatus"] for p in statuses} == {"PendingManualApproval"}


# --- Scheduled retraining: build/retraining.yml as <project>-retraining, deployed by upsert (moto's
# CloudFormation keeps the stack and its parameters but skips the AWS::Scheduler::Schedule) -----------

RETRAINING_BLOCK = {
    "schedule": {"expression": "rate(7 days)", "enabled": False},
    "parameters": {"InputDataUrl": "s3://fresh-data/churn/", "GateThreshold": float(TIGHTER_GATE)},
}


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


@any_shape
@pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips the schedule
def test_upsert_deploys_the_schedule_fire_starts_it_and_removing_the_block_deletes_it(
    mlops, account, with_retraining
):
    with_retraining(RETRAINING_BLOCK)
    code, out, err = mlops("pipeline", "upsert")
    assert code == 0, err
    assert f"retraining schedule: stack {RETRAINING.stack_name} created" in out
    deployed = deployed_parameters(describe_stack(RETRAINING.stack_name))
    assert (deployed["ScheduleExpression"], deployed["ScheduleState"]) == ("rate(7 days)", "DISABLED")
    assert (deployed["InputDataUrl"], deployed["GateThreshold"]) == ("s3://fresh-data/churn/", TIGHTER_GATE)
    assert deployed["TrainingInstanceType"]  # the definition's default, sent explicitly

    code, out, err = mlops("schedule", "fire", "retraining", "--aws", "real")
    assert code == 0, err
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    given = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=out.strip())
    sent = pipeline_schedules.sent({"Parameters": deployed})
    assert {p["Name"]: p["Value"] for p in given["PipelineParameters"]} == {
        name: deployed[name] for name in sent
    }

    code, out, err = mlops("pipeline", "upsert")
    assert code == 0 and f"retraining schedule: stack {RETRAINING.stack_name} unchanged" in out, err
    with_retraining(None)
    code, out, err = mlops("pipeline", "upsert")
    assert code == 0, err
    assert f"retraining schedule: stack {RETRAINING.stack_name} deleted" in out
    assert describe_stack(RETRAINING.stack_name) is None


@any_shape
@pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips the schedule
def test_mlops_status_reports_a_retraining_schedule_that_differs_from_git(mlops, account, with_retraining):
    with_retraining(RETRAINING_BLOCK)
    assert mlops("pipeline", "upsert")[0] == 0
    code, out, _ = mlops("status")
    assert code == 0
    assert [line.split()[:3] for line in out.splitlines() if line.strip().startswith("retraining")] == [
        ["retraining", "rate(7", "days)"]
    ]
    with_retraining({**RETRAINING_BLOCK, "parameters": {"InputDataUrl": "s3://other-data/"}})
    code, out, _ = mlops("status")
    said = " ".join(out.split())  # the table wraps the state column
    assert (
        code == 3 and "InputDataUrl: deployed 's3://fresh-data/churn/', git says 's3://other-data/'" in said
    )
    with_retraining(None)
    code, out, _ = mlops("status")
    said = " ".join(out.split())
    # (The file is named as [tool.mlops] gives it: here, this test's copy, a long path the table cuts.)
    assert code == 3 and f"stack {RETRAINING.stack_name} exists, but /" in said
    assert "has no retraining block" in said


@any_shape
def test_a_block_naming_a_parameter_the_schedule_does_not_send_changes_nothing(
    mlops, account, with_retraining
):
    with_retraining({**RETRAINING_BLOCK, "parameters": {"WarmStartParent": "x"}})
    code, out, err = mlops("pipeline", "upsert")
    assert code == 1 and not out
    assert err.strip().splitlines()[-1] == (
        f"error: {project().settings.config.as_posix()}: retraining.parameters.WarmStartParent:"
        " build/retraining.yml does not send it (add it to the template's Parameters and"
        " PipelineParameterList)"
    )
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []


@any_shape
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"schedule": {"expression": "rate(1 weeks)"}}, "'rate(1 weeks)': use rate(1 day) or cron"),
        ({"schedule": {"expression": "cron(61 25 32 13 ? *)"}}, "minutes '61' is not in 0-59"),
        ({"parameters": {"InputDataUrl": ""}}, "S3Input.S3Uri: '' does not match the pattern"),
        ({"parameters": {"GateThreshold": "LOOSER"}}, "looser than build/config.yml's gate"),
        ({"parameters": {"ProcessingInstanceType": "ml.fake.large"}}, "retraining not scheduled: "),
        ({"parameters": {"TrainingInstanceCount": "two"}}, "TrainingInstanceCount=two: expected an integer"),
    ],
)
def test_a_retraining_block_the_service_or_the_gate_would_refuse_deploys_nothing(
    mlops, account, with_retraining, config, change, reason
):
    looser = 1e9 if config.gate.lower_is_better else config.gate.threshold / 2
    if change.get("parameters", {}).get("GateThreshold") == "LOOSER":
        change = {"parameters": {"GateThreshold": looser}}
    with_retraining({**RETRAINING_BLOCK, **change})
    code, out, err = mlops("pipeline", "upsert")
    assert code == 1 and not out
    assert reason in err and len(err.strip().splitlines()) == 1, err
    sagemaker = boto3.client("sagemaker", region_name=account.region)
    assert sagemaker.list_pipelines()["PipelineSummaries"] == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [("", "valid min length: 1"), ("x" * 1025, "1025 characters, at most 1024 allowed")],
)
def test_every_value_a_schedule_sends_is_checked_as_eventbridge_scheduler_checks_it(value, reason):
    """botocore's model of the scheduler API: 1 to 1,024 characters per pipeline parameter, which
    neither CloudFormation's parameter types nor cfn-lint check."""
    parameters = {
        "ScheduleExpression": "rate(1 day)",
        "ScheduleTimezone": "UTC",
        "ScheduleState": "ENABLED",
        "SchedulerRoleArn": "arn:aws:iam::123456789012:role/scheduler",
        "Notes": value,
    }
    with pytest.raises(MlopsError, match="^x: CreateSchedule .*" + re.escape(reason)):
        refuse_what_the_scheduler_would("my-model-notebooks", parameters, "x")
    refuse_what_the_scheduler_would("my-model-notebooks", {**parameters, "Notes": "fine"}, "x")


@pytest.mark.parametrize(
    ("name", "block"),
    [
        ("retraining", "build/config.yml a retraining block"),
        ("notebooks", "build/notebooks.yml a scheduled_runs block"),
    ],
)
def test_firing_a_schedule_that_is_not_deployed_says_which_block_makes_it(mlops, account, name, block):
    code, out, err = mlops("schedule", "fire", name, "--aws", "real")
    assert code == 1 and not out
    assert err.strip() == (
        f"error: {name} has no schedule (stack {project().slug}-{name}): give {block} and run"
        " `mlops pipeline upsert`"
    )
    assert boto3.client("sagemaker", region_name=account.region).list_pipelines()["PipelineSummaries"] == []
