"""Which AWS a verb changes is said, not guessed, and the emulator's desired state stays out of the
project's branches: the models it names exist only in the emulator."""

import os
from hashlib import sha256

import pytest
from conftest import (
    BUILT_FROM,
    PROJECT,
    any_shape,
    create_stage_pipelines,
    data_quality_metrics,
    run_git,
    sample_baseline,
)
from sagemaker_gitops import aws
from sagemaker_gitops.definition.step_code import StepCode
from sagemaker_gitops.local import emulator
from sagemaker_gitops.project import project
from sagemaker_gitops.stages import smoke

# The same for any project's shape (serving each framework on the emulator is test_serving.py's).
pytestmark = [any_shape, pytest.mark.filterwarnings("ignore:Tried to parse AWS")]  # moto skips alarms


@pytest.fixture(scope="module")
def approved_on_the_emulator(emulated, running_emulator, model_tarball, registered_container, processing_dir):
    """An Approved version in the emulator's registry, registered as the pipeline registers."""
    artifact = model_tarball.read_bytes()
    environment = dict(registered_container["Environment"])
    with emulator.routed(running_emulator):
        target = aws.resolve_target()
        if "SAGEMAKER_SUBMIT_DIRECTORY" in environment:
            code = StepCode(project().steps_dir, target.bucket, project().slug)
            environment["SAGEMAKER_SUBMIT_DIRECTORY"] = code.sourcedir()
            code.upload(emulated.client("s3"))
    baseline = sample_baseline(processing_dir, emulated.put_s3)
    kept = f"{project().kept_models_key}/{sha256(artifact).hexdigest()}/model.tar.gz"
    container = {
        "Image": registered_container["Image"],
        "ModelDataUrl": emulated.put_s3(kept, artifact),
        "Environment": environment,
    }
    arn = emulated.client("sagemaker").create_model_package(
        ModelPackageGroupName=project().model_package_group,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties={"model_sha256": sha256(artifact).hexdigest(), "git_commit": BUILT_FROM},
        ModelMetrics={"ModelDataQuality": data_quality_metrics(baseline)},
    )["ModelPackageArn"]
    create_stage_pipelines(emulated.client("sagemaker"), target.role_arn)
    yield arn
    emulator.down(reset=True)  # the record and its branches go with the state


def project_git(*args: str) -> str:
    return run_git(PROJECT, *args)


# First in the module: later tests stop the module's emulator (`down --reset`).
def test_the_emulator_is_the_server_local_up_started_not_any_loopback_address(running_emulator, monkeypatch):
    """A tunnel to an account or another emulator (LocalStack) on 127.0.0.1 is not this project's
    emulator: it gets no emulated git record, and `deploy`/`promote` treat it as AWS."""
    with emulator.routed(running_emulator):
        assert emulator.in_use()
    for elsewhere in ("http://127.0.0.1:4566", "http://localhost:4566", ""):
        monkeypatch.setenv("AWS_ENDPOINT_URL", elsewhere)
        assert not emulator.in_use(), elsewhere


@pytest.mark.parametrize(
    ("arguments", "verb"),
    [
        (("deploy", "staging"), "deploy"),
        (("promote",), "promote"),
        (("pipeline", "upsert"), "pipeline upsert"),
    ],
)
def test_while_the_emulator_runs_a_changing_verb_must_be_told_which_aws(
    mlops, running_emulator, arguments, verb
):
    code, out, err = mlops(*arguments)
    assert code == 1 and not out
    assert err.strip().splitlines() == [
        f"error: the local AWS emulator is running: say which AWS `mlops {verb}` changes,"
        " --aws emulator or --aws real (or MLOPS_AWS)"
    ]


def test_promote_on_the_emulator_records_on_the_emulators_branches_only(
    mlops, approved_on_the_emulator, running_emulator, registered_container
):
    head, branches = project_git("rev-parse", "HEAD"), project_git("branch", "--list")
    prod_branch = f"{emulator.branch_prefix()}promote/v{approved_on_the_emulator.rsplit('/', 1)[-1]}"
    code, out, err = mlops("promote", "--aws", "emulator")
    assert code == 0, err
    assert err.strip().splitlines()[-1] == f"(on the local emulator at {running_emulator.url})"
    assert f"branch {prod_branch} " in out
    # The project's checkout and branches are as they were.
    assert project_git("rev-parse", "HEAD") == head
    assert project_git("status", "--porcelain") == ""
    assert not project_git("branch", "--list", "promote/*")
    # The emulator's record has staging's commit and evidence, and the prod branch.
    record = emulator.git_record()
    assert approved_on_the_emulator in (record / "deploy" / "staging.yml").read_text()
    assert approved_on_the_emulator in run_git(record, "show", f"{prod_branch}:deploy/prod.yml")
    assert set(project_git("branch", "--list", "--format=%(refname:short)").split()) == {
        *branches.replace("*", "").split(),
        f"{emulator.branch_prefix()}record",
        prod_branch,
    }

    # Before a reviewer's merge, prod has nothing to deploy, and says what comes next.
    version = approved_on_the_emulator.rsplit("/", 1)[-1]
    code, _, err = mlops("deploy", "prod", "--aws", "emulator")
    assert code == 1 and err.strip().splitlines() == [
        "error: deploy/prod.yml names no model yet (model_package_arn is empty): the promotion pull request"
        f" of v{version} is not merged: run `mlops local merge`, then `mlops deploy prod --aws emulator`"
    ]
    code, _, err = mlops("local", "merge", "999")  # no such promotion waits: nothing is merged
    assert code == 1 and err.strip().splitlines() == [
        f"error: no open promotion pull request for v999 (open: v{version})"
    ]
    # A reviewer's merge, on the emulator: then prod deploys from the record, and git matches.
    code, out, err = mlops("local", "merge")
    assert code == 0 and f"merged {prod_branch}: deploy/prod.yml names v{version}" in out, err
    assert approved_on_the_emulator in (record / "deploy" / "prod.yml").read_text()
    assert run_git(record, "log", "-1", "--format=%P").count(" ") == 1  # a merge commit, as GitHub makes
    code, _, err = mlops("local", "merge")
    assert code == 1 and "no promotion pull request to merge" in err
    code, out, err = mlops("deploy", "prod", "--aws", "emulator")
    assert code == 0, err
    assert "smoke test: 5 test rows answered" in out
    code, out, _ = mlops("status")
    assert code == 0 and out.count("in sync") == 2
    code, answer, err = mlops("invoke", "prod", "--body", smoke.test_rows(2))
    assert code == 0 and smoke.answered_rows(answer, 2).shape[0] == 2, err
    code, out, _ = mlops("local", "status")
    serving = [line for line in out.splitlines() if line.startswith("endpoint ")]
    image = registered_container["Image"].rsplit("/", 1)[-1]
    assert len(serving) == 2 and all(f"served by {image}'s serving stack (pid " in line for line in serving)

    emulator.down(reset=True)
    assert not project_git("branch", "--list", f"{emulator.branch_prefix()}*")
    assert not record.exists()


def test_a_test_sessions_emulator_never_shares_a_branch_with_the_projects_own():
    """A developer's own emulator record (.mlops/, mlops-emulator/record checked out there) and a
    test session's (MLOPS_LOCAL_DIR) are two worktrees: git checks a branch out in one only."""
    assert emulator.branch_prefix() != "mlops-emulator/"
    session = os.environ.pop("MLOPS_LOCAL_DIR")
    try:
        assert emulator.branch_prefix() == "mlops-emulator/"
    finally:
        os.environ["MLOPS_LOCAL_DIR"] = session


def test_a_record_of_another_repository_is_replaced(tmp_path):
    """A copied project folder (or a shared MLOPS_LOCAL_DIR) carries a record of another repository."""
    emulator.down(reset=True)
    folder = emulator.state_dir() / "emulator" / "record"
    other = tmp_path / "other"
    other.mkdir()
    run_git(other, "init", "--quiet")
    run_git(other, "commit", "--quiet", "--allow-empty", "-m", "another project")
    run_git(other, "worktree", "add", "--quiet", "-b", f"{emulator.branch_prefix()}record", str(folder))
    assert emulator.git_record() == folder
    assert run_git(folder, "rev-parse", "HEAD") == project_git("rev-parse", "HEAD")
    emulator.down(reset=True)
