"""`mlops deploy STAGE` on moto: git's deploy/<stage>.yml decides what each endpoint serves.

Each test works in its own git repository holding a copy of deploy/, so the project's own
files and history are never touched.
"""

import re

import boto3
import pytest
from conftest import BUILT_FROM, SAMPLE_SHA256, any_shape
from sagemaker_gitops import aws
from sagemaker_gitops.desired_state import load_stage, set_model_package
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.project import project
from sagemaker_gitops.stages import (
    deploy,
    drift,
    endpoint_stack,
    models,
    pipeline_schedules,
    stacks,
    stage_schedules,
    staging_evidence,
)
from sagemaker_gitops.stages import status as stage_status

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips alarms and autoscaling


def test_staging_is_created_smoke_tested_and_left_alone_when_nothing_changed(
    repo, registry, record, git, served_package
):
    arn = registry()
    record("staging", arn)
    done = deploy.deploy("staging", repo=repo)
    assert (done.action, done.model_package_arn) == ("created", arn)
    assert done.smoke_test.endswith("answered as build/steps/inference.py predicts")
    assert served_package("staging") == arn
    git("commit", "--quiet", "--allow-empty", "-m", "an unrelated change")
    assert deploy.deploy("staging", repo=repo).action == "unchanged"


def test_prod_follows_git_and_a_revert_rolls_it_back(repo, registry, record, git, served_package):
    first, second = registry(), registry()
    for arn in (first, second):
        record("staging", arn)
        record("prod", arn)
        deploy.deploy("prod", repo=repo)
        assert served_package("prod") == arn
    git("revert", "--no-edit", "HEAD")  # the merge that promoted `second`
    assert deploy.deploy("prod", repo=repo).action == "updated"
    assert served_package("prod") == first


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        (
            lambda repo, registry, record: None,
            "deploy/staging.yml names no model yet (model_package_arn is empty)",
        ),
        (
            lambda repo, registry, record: record("staging", registry("PendingManualApproval")),
            "is PendingManualApproval, not Approved",
        ),
        (
            lambda repo, registry, record: record("staging", registry().rsplit("/", 2)[0] + "/other-group/1"),
            "not this project's",
        ),
        (
            lambda repo, registry, record: set_model_package(repo / "deploy" / "staging.yml", registry()),
            "deploy/staging.yml has uncommitted changes",
        ),
    ],
    ids=["no model", "not approved", "other group", "uncommitted"],
)
@any_shape
def test_a_refused_staging_deploy_changes_nothing(repo, registry, record, arrange, message):
    arrange(repo, registry, record)
    with pytest.raises(MlopsError, match=re.escape(message)):
        deploy.deploy("staging", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("staging")) is None


@any_shape
def test_a_model_from_the_emulator_is_not_deployed_to_aws(repo, registry, record, monkeypatch):
    """An emulator promotion that reached git names a model in moto's account: with the
    credentials of a real account, the deploy stops before anything is created."""
    record("staging", registry())
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")  # who the credentials are from now on
    message = "a model of the local emulator (account 123456789012), not of AWS account 111122223333"
    with pytest.raises(MlopsError, match=re.escape(message)):
        deploy.deploy("staging", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("staging")) is None


@any_shape
def test_an_artifact_changed_after_evaluation_is_not_deployed(repo, registry, record):
    """The approval was of the evaluated bytes; the CI roles cannot write there, and this is the
    check if anything else did."""
    arn = registry()
    record("staging", arn)
    url = boto3.client("sagemaker", region_name=aws.region()).describe_model_package(ModelPackageName=arn)[
        "InferenceSpecification"
    ]["Containers"][0]["ModelDataUrl"]
    bucket, key = aws.split_s3_uri(url)
    boto3.client("s3", region_name=aws.region()).put_object(Bucket=bucket, Key=key, Body=b"other bytes")
    with pytest.raises(MlopsError, match="changed after it was evaluated"):
        deploy.deploy("staging", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("staging")) is None


@any_shape
def test_a_model_outside_the_write_once_prefix_is_not_deployed(repo, registry, record):
    """A version registered from the training job's output (as releases before write-once models
    did): the execution role may replace that object after the deploy, and an endpoint reads it
    again on every scale-out."""
    sagemaker = boto3.client("sagemaker", region_name=aws.region())
    kept = sagemaker.describe_model_package(ModelPackageName=registry())
    container = kept["InferenceSpecification"]["Containers"][0]
    bucket, key = aws.split_s3_uri(container["ModelDataUrl"])
    writable = f"{project().slug}/executions/x/Train/output/model.tar.gz"
    boto3.client("s3", region_name=aws.region()).copy_object(
        Bucket=bucket, Key=writable, CopySource={"Bucket": bucket, "Key": key}
    )
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=project().model_package_group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            **kept["InferenceSpecification"],
            "Containers": [{**container, "ModelDataUrl": f"s3://{bucket}/{writable}"}],
        },
        CustomerMetadataProperties=kept["CustomerMetadataProperties"],
    )["ModelPackageArn"]
    record("staging", arn)
    message = f"model s3://{bucket}/{writable} is not under {project().kept_models_key}/"
    with pytest.raises(MlopsError, match=re.escape(message)):
        deploy.deploy("staging", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("staging")) is None


@any_shape
def test_prod_refuses_a_model_that_never_went_through_staging(repo, registry, record):
    record("prod", registry())
    with pytest.raises(MlopsError, match="has no passed staging smoke test"):
        deploy.deploy("prod", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("prod")) is None


@any_shape
def test_prod_refuses_a_model_staging_named_but_never_served(repo, registry, git):
    """A staging.yml commit is what a promotion killed mid-deploy leaves: no evidence of a pass."""
    arn = registry()
    for stage in ("staging", "prod"):
        set_model_package(repo / "deploy" / f"{stage}.yml", arn)
        git("commit", "--quiet", "--all", "-m", f"{stage} names {arn}")
    with pytest.raises(MlopsError, match=r"has no passed staging smoke test \(s3://.*/staging-evidence/"):
        deploy.deploy("prod", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("prod")) is None


@any_shape
def test_prod_trusts_no_evidence_a_commit_can_write(repo, registry, git):
    """The audit's forgery: a hand-written entry in the evidence file earlier releases kept in git."""
    arn = registry()
    set_model_package(repo / "deploy" / "prod.yml", arn)
    (repo / "deploy" / "staging-evidence.yml").write_text(
        f"passed:\n- model_package_arn: {arn}\n  endpoint: e\n  passed_at: t\n  result: ok\n"
    )
    git("add", "--all")
    git("commit", "--quiet", "-m", "prod names a version staging never served")
    with pytest.raises(MlopsError, match="has no passed staging smoke test"):
        deploy.deploy("prod", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("prod")) is None


@any_shape
def test_prod_refuses_a_smoke_test_that_ran_on_other_bytes(repo, registry, record, model_tarball):
    """Evidence of version N's test on an artifact other than the one the registry records."""
    arn = registry()
    record("staging", arn)
    package = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    staging_evidence.record(package, "0" * 64, "e", "ok")
    record("prod", arn)
    with pytest.raises(MlopsError, match="staging smoke test ran on another artifact"):
        deploy.deploy("prod", repo=repo)
    assert stacks.describe_stack(deploy.stack_name("prod")) is None


def test_an_endpoint_that_answers_differently_fails_the_smoke_test(repo, registry, record):
    """The endpoint serves an inference.py that adds one to every prediction (user-module mode, in
    either image), while build/steps/inference.py, which the smoke test compares with, does not."""
    source = (project().steps_dir / "inference.py").read_text()
    off_by_one = source + "\n\n_predict = predict_fn\n\n\ndef predict_fn(features, model):\n"
    off_by_one += "    return _predict(features, model) + 1\n"
    served = registry(environment={"SAGEMAKER_PROGRAM": "inference.py"}, steps={"inference.py": off_by_one})
    record("staging", served)
    with pytest.raises(MlopsError, match="smoke test: the endpoint's predictions differ"):
        deploy.deploy("staging", repo=repo)


@any_shape
def test_the_cli_refuses_in_one_line(mlops, repo, use_project):
    use_project(root=repo)  # deploy/ as generated: no model named yet
    code, _, err = mlops("deploy", "staging")
    assert code == 1
    assert err.strip().splitlines() == [
        "error: deploy/staging.yml names no model yet (model_package_arn is empty): run `mlops promote`"
    ]


def test_status_is_clean_after_a_deploy_and_names_the_drift_after_a_change(repo, registry, record):
    first, second = registry(), registry()
    assert not stage_status.status("staging", repo=repo).drift, "nothing desired, nothing deployed"
    record("staging", first)
    missing = stage_status.status("staging", repo=repo)
    assert missing.differences == [f"stack {deploy.stack_name('staging')} does not exist"]
    deploy.deploy("staging", repo=repo)
    assert stage_status.status("staging", repo=repo).differences == []
    record("staging", second)
    drifted = stage_status.status("staging", repo=repo)
    assert drifted.deployed_arn == first and drifted.desired_arn == second
    assert f"ModelPackageArn: deployed {first!r}, git says {second!r}" in drifted.differences


def test_with_prod_in_its_own_account_status_reads_prod_through_the_read_role(
    repo, registry, record, monkeypatch
):
    """moto keeps accounts apart: what an assumed role in another account creates, only it sees."""
    arn = registry()
    record("prod", arn)
    reader = f"arn:aws:iam::210987654321:role/{project().slug}-prod-reader"
    package = models.described(arn)  # the registry's account shares it with prod's (moto cannot)
    with aws.assumed(reader):  # stands in for the prod deploy role, in the prod account
        state = load_stage("prod", repo / "deploy" / "prod.yml")
        commit = deploy.committed_stage_file("prod", repo)
        target = aws.resolve_target()
        stacks.reconcile(endpoint_stack.desired("prod", state, target, commit, repo), lambda _: None)
        for schedule in stage_schedules.ALL:
            stacks.reconcile(schedule.desired("prod", state, target, commit, repo, package), lambda _: None)

    unseen = stage_status.status("prod", repo=repo)
    assert unseen.differences == [f"stack {deploy.stack_name('prod')} does not exist"]
    monkeypatch.setenv("MLOPS_PROD_READ_ROLE_ARN", reader)
    seen = stage_status.status("prod", repo=repo)
    assert (seen.deployed_arn, seen.differences) == (arn, [])
    assert aws.caller_account() != "210987654321", "the assumed role ends with the status call"


@any_shape
def test_mlops_status_exits_3_on_drift(mlops, monkeypatch, registry):
    monkeypatch.setattr(
        stage_status,
        "status",
        lambda stage: stage_status.StageStatus(stage, "", None, ["x differs"] if stage == "prod" else []),
    )
    code, out, _ = mlops("status")
    assert code == 3
    assert "x differs" in out and "in sync" in out


def test_models_list_says_which_stage_serves_each_version(mlops, repo, registry, record, config):
    first, second = registry(metrics={config.gate.metric: 50.0}), registry()
    record("staging", first)
    deploy.deploy("staging", repo=repo)
    code, out, err = mlops("models", "list")
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines() if "Approved" in line}
    assert rows["1"].rstrip().endswith("staging") and not rows["2"].rstrip().endswith("staging")
    assert second.endswith("/2")
    # In 80 columns, each version on one line: its gate value (named in the header) never broken.
    assert max(len(line) for line in out.splitlines()) <= 80
    assert config.gate.metric in out.splitlines()[0] and rows["1"].split()[2] == "50"
    assert rows["1"].split()[5] == SAMPLE_SHA256[:8], "the data it was trained on"


@any_shape
def test_models_show_gives_one_version_in_full_with_its_baselines(mlops, repo, registry, record, config):
    arn = registry(metrics={config.gate.metric: 0.5})
    record("staging", arn)
    deploy.deploy("staging", repo=repo)
    code, out, err = mlops("models", "show", "1")
    assert code == 0, err
    lines = dict(line.split(": ", 1) for line in out.splitlines())
    assert (lines["arn"], lines["status"], lines["serves"]) == (arn, "Approved", "staging")
    assert lines[f"metric {config.gate.metric}"] == "0.5" and lines["gate metric"] == config.gate.metric
    assert lines["trained on data sha256"] == SAMPLE_SHA256
    described = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    baseline = described["ModelMetrics"]["ModelDataQuality"]
    assert lines["ModelDataQuality statistics"] == baseline["Statistics"]["S3Uri"]
    assert lines["ModelDataQuality constraints"] == baseline["Constraints"]["S3Uri"]
    code, _, err = mlops("models", "show", "7")
    assert code == 1 and err.strip().splitlines() == [
        f"error: model group {project().model_package_group!r} has no version 7 (the latest is 1)"
    ]


@any_shape
def test_models_list_shows_a_build_from_uncommitted_or_unknown_code_as_such(mlops, registry):
    registry(), registry(commit=BUILT_FROM + "-dirty"), registry(commit="unknown")
    code, out, err = mlops("models", "list")
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines() if "Approved" in line}
    assert f"{BUILT_FROM[:8]} " in rows["1"] + " " and "-dirty" not in rows["1"]
    assert f"{BUILT_FROM[:8]}-dirty" in rows["2"]
    assert "unknown" in rows["3"]


@any_shape
def test_changed_stages_are_the_stage_files_changed_since_a_commit(repo, registry, record, git):
    start = git("rev-parse", "HEAD")
    assert deploy.changed_stages(start, repo=repo) == []
    record("prod", registry())
    assert deploy.changed_stages(start, repo=repo) == ["prod"]
    assert deploy.changed_stages("HEAD", repo=repo) == []
    with (repo / "deploy" / "endpoint.yml").open("a") as template:
        template.write("# a comment changes the template of every stage\n")
    git("commit", "--quiet", "--all", "-m", "endpoint")
    assert deploy.changed_stages("HEAD~1", repo=repo) == ["staging", "prod"]


@pytest.mark.parametrize("since", ["", "0" * 40, "no-such-ref"])
@any_shape
def test_without_a_known_base_every_stage_is_reconciled(repo, since):
    assert deploy.changed_stages(since, repo=repo) == ["staging", "prod"]


@any_shape
def test_the_cli_prints_the_stages_as_one_json_line(mlops):
    code, out, _ = mlops("changed-stages")  # no base: every stage, as deploy.yml's manual run
    assert code == 0
    assert out == '["staging", "prod"]\n'


@any_shape
def test_changed_stages_needs_the_git_checkout(tmp_path):
    with pytest.raises(MlopsError, match="run it in the project's git checkout"):
        deploy.changed_stages("HEAD", repo=tmp_path)


@any_shape
def test_one_drift_issue_is_opened_updated_then_closed_when_clean(mlops, monkeypatch, github):
    drifted = {"prod": ["ModelPackageArn: deployed 'a', git says 'b'"]}
    monkeypatch.setattr(
        stage_status,
        "status",
        lambda stage: stage_status.StageStatus(stage, "", None, drifted.get(stage, [])),
    )
    monkeypatch.setattr(pipeline_schedules, "status", lambda schedule: None)  # no retraining schedule
    assert mlops("status", "--issue")[0] == 3
    assert mlops("status", "--issue")[0] == 3
    drifted.clear()
    code, out, _ = mlops("status", "--issue")
    assert code == 0 and "closed https://github.example/issues/12" in out
    paths = [r["path"].split("?")[0].removeprefix("/repos/acme/my-model") for r in github.requests]
    calls = list(zip([r["method"] for r in github.requests], paths, strict=True))
    assert calls == [
        ("GET", "/issues"),
        ("POST", "/issues"),
        ("GET", "/issues"),
        ("PATCH", "/issues/12"),
        ("GET", "/issues"),
        ("POST", "/issues/12/comments"),
        ("PATCH", "/issues/12"),
    ]
    created = github.requests[1]["json"]
    assert created["title"] == drift.ISSUE_TITLE
    assert "| prod | (none) | (no stack) | ModelPackageArn: deployed 'a', git says 'b' |" in created["body"]
    assert github.open_issues == []


@any_shape
def test_a_drift_issue_someone_else_opened_is_never_updated_or_closed(mlops, monkeypatch, github):
    """Anyone may open an issue titled like the bot's: only the bot's own is the drift record."""
    theirs = {"number": 5, "title": drift.ISSUE_TITLE, "html_url": "x", "user": {"login": "mallory"}}
    github.open_issues.append(theirs)
    monkeypatch.setattr(stage_status, "status", lambda stage: stage_status.StageStatus(stage, "", None, []))
    monkeypatch.setattr(pipeline_schedules, "status", lambda schedule: None)
    code, out, _ = mlops("status", "--issue")
    assert code == 0 and "no drift issue open" in out
    drifted = ["ModelPackageArn: deployed 'a', git says 'b'"]
    monkeypatch.setattr(
        stage_status, "status", lambda stage: stage_status.StageStatus(stage, "", None, drifted)
    )
    assert mlops("status", "--issue")[0] == 3
    writes = [(r["method"], r["path"].removeprefix("/repos/acme/my-model")) for r in github.requests]
    assert [w for w in writes if w[0] != "GET"] == [("POST", "/issues")]  # a new one, not theirs
    assert github.open_issues[0] == theirs
    assert all(
        "creator=github-actions%5Bbot%5D" in r["path"] for r in github.requests if r["method"] == "GET"
    )


@any_shape
def test_status_issue_without_github_credentials_is_refused_in_one_line(mlops, monkeypatch):
    monkeypatch.setattr(stage_status, "status", lambda stage: stage_status.StageStatus(stage, "", None, []))
    monkeypatch.setattr(pipeline_schedules, "status", lambda schedule: None)
    code, _, err = mlops("status", "--issue")
    assert code == 1
    assert err.strip().splitlines() == [
        "error: --issue needs GITHUB_TOKEN and GITHUB_REPOSITORY (GitHub Actions sets the latter)"
    ]
