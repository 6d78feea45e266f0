"""`mlops promote` on moto: newest Approved → staging (deployed, recorded in git) → a prod pull request.

GitHub is the `github` fixture: a fake REST API on localhost, and a bare repository standing
in for the GitHub remote.
"""

import re
from pathlib import Path

import pytest
from conftest import BUILT_FROM, SAMPLE_SHA256, any_shape
from sagemaker_gitops import aws
from sagemaker_gitops.desired_state import load_stage
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.project import project
from sagemaker_gitops.stages import deploy, drift, models, promote, staging_evidence
from sagemaker_gitops.stages import status as stage_status

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips alarms and autoscaling


@any_shape
def test_nothing_approved_means_nothing_to_promote(repo, registry, git):
    registry("PendingManualApproval")
    before = git("rev-parse", "HEAD")
    done = promote.promote(repo=repo)
    assert done.version is None and "nothing to promote" in done.message
    assert git("rev-parse", "HEAD") == before


@any_shape
def test_the_newest_approved_of_many_versions_is_chosen(registry):
    for version in range(1, 121):
        registry("Approved" if version in (3, 117) else "PendingManualApproval")
    assert promote.newest_approved()["ModelPackageVersion"] == 117


def test_promote_deploys_staging_records_it_and_prepares_the_prod_branch(repo, registry, git):
    current = registry(metrics={"rmse": 60.0, "r2": 0.40})
    candidate = registry(metrics={"rmse": 55.0, "r2": 0.45})
    done = promote.promote(repo=repo)
    assert done.version == 2 and done.branch == "promote/v2" and not done.pull_request_url
    assert load_stage("staging", repo / "deploy" / "staging.yml").model_package_arn == candidate
    assert git("status", "--porcelain") == "", "deploy/staging.yml is committed"
    # Recorded by the deploy after the smoke test, in the bucket, where only the staging role writes.
    passed = staging_evidence.read(aws.client("sagemaker").describe_model_package(ModelPackageName=candidate))
    assert passed["model_package_arn"] == candidate and "answered as" in passed["result"]
    assert git("log", "-1", "--format=%s") == f"Deploy {project().slug} v2 to staging"
    assert not (repo / "deploy" / "staging-evidence.yml").exists(), "no evidence a commit could forge"
    assert candidate in git("show", "promote/v2:deploy/prod.yml")
    assert candidate not in (repo / "deploy" / "prod.yml").read_text(), (
        "prod changes only in the pull request"
    )
    assert "| rmse | 55 | |" in done.body  # no prod model yet to compare with
    assert "answered as build/steps/inference.py predicts" in done.body
    assert current != candidate


def test_the_pull_request_is_opened_then_updated_not_duplicated(repo, registry, record, github, git):
    prod = registry(metrics={"rmse": 60.0}, data_baseline=None)
    record("staging", prod)
    record("prod", prod)
    candidate = registry(metrics={"rmse": 55.0}, data_sha256="d" * 64, data_baseline="s3://b/quality/")
    first = promote.promote(repo=repo)
    assert first.pull_request_url == "https://github.example/pull/7"
    calls = [(r["method"], r["path"].split("?")[0]) for r in github.requests]
    assert calls == [("GET", "/repos/acme/my-model/pulls"), ("POST", "/repos/acme/my-model/pulls")]
    created = github.requests[1]["json"]
    assert created["head"] == "promote/v2" and created["base"] == "main"
    assert created["title"] == f"Promote {project().slug} model v2 to production"
    assert "| rmse | 55 | 60 |" in created["body"] and "prod now (v1)" in created["body"]
    trained_on = f"Trained on data sha256 `{'d' * 64}`; prod's version on `{SAMPLE_SHA256}`."
    assert trained_on in created["body"]
    assert "checked against once it serves prod): `s3://b/quality/`; prod's version's: `not recorded`." in (
        created["body"].replace("\n", " ")
    )
    assert all(r["auth"] == "Bearer test-token" for r in github.requests)
    assert candidate in git(
        "--git-dir", str(repo.parent / "origin.git"), "show", "promote/v2:deploy/prod.yml"
    )
    promote.promote(repo=repo)
    assert [r["method"] for r in github.requests[2:]] == ["GET", "PATCH"]


@any_shape
def test_a_model_already_in_prod_is_not_promoted_again(repo, registry, record):
    arn = registry()
    record("staging", arn)
    record("prod", arn)
    assert "already serves prod" in promote.promote(repo=repo).message


@pytest.mark.parametrize(
    ("commit", "why"),
    [
        (BUILT_FROM + "-dirty", f"uncommitted changes (commit {BUILT_FROM[:8]}-dirty)"),
        ("unknown", "outside a git checkout (commit unknown)"),
    ],
    ids=["dirty", "unknown"],
)
@any_shape
def test_a_version_whose_code_is_in_no_commit_is_promoted_only_when_allowed(repo, registry, git, commit, why):
    registry(commit=commit)
    before = git("rev-parse", "HEAD")
    with pytest.raises(MlopsError, match=re.escape(f"v1 was built from {why}: no commit holds the code")):
        promote.promote(repo=repo)
    assert git("rev-parse", "HEAD") == before, "nothing was recorded"
    assert promote.promote(repo=repo, allow_uncommitted=True).version == 1


@any_shape
def test_a_failed_staging_deploy_changes_nothing(repo, registry, git):
    registry(artifact=b"not a model archive")  # the endpoint's container never becomes healthy
    before = git("rev-parse", "HEAD")
    with pytest.raises(MlopsError, match="Failed to extract model data archive"):
        promote.promote(repo=repo)
    assert git("rev-parse", "HEAD") == before
    assert git("status", "--porcelain") == ""
    assert "promote/v1" not in git("branch", "--list")


@any_shape
def test_a_failed_staging_deploy_takes_back_only_its_own_commit(repo, registry, monkeypatch, git):
    """A teammate's commit made while the deploy ran stays; promote's own commit is reverted."""
    registry()
    before = (repo / "deploy" / "staging.yml").read_text()

    def deploy_while_a_teammate_commits(stage, on_status=None, repo=None):
        (repo / "NOTES.md").write_text("a teammate's work\n")
        git("add", "NOTES.md")
        git("commit", "--quiet", "-m", "A teammate's commit")
        raise MlopsError("smoke test: the endpoint's predictions differ")

    monkeypatch.setattr(deploy, "deploy", deploy_while_a_teammate_commits)
    with pytest.raises(MlopsError, match="smoke test"):
        promote.promote(repo=repo)
    subjects = git("log", "--format=%s").splitlines()
    assert subjects[:3] == [
        f'Revert "Deploy {project().slug} v1 to staging"',
        "A teammate's commit",
        f"Deploy {project().slug} v1 to staging",
    ]
    assert (repo / "deploy" / "staging.yml").read_text() == before
    assert (repo / "NOTES.md").exists() and git("status", "--porcelain") == ""
    package = aws.client("sagemaker").describe_model_package(
        ModelPackageName=promote.newest_approved()["ModelPackageArn"]
    )
    assert staging_evidence.read(package) is None


def test_the_loop_approve_promote_merge_deploy_and_revert(repo, registry, git):
    """The GitOps loop end to end: git decides what prod serves, and a revert rolls it back."""

    def ship(version: int, arn: str) -> None:
        assert promote.promote(repo=repo).branch == f"promote/v{version}"
        git("merge", "--no-ff", "--quiet", "-m", f"Merge the promotion of v{version}", f"promote/v{version}")
        deploy.deploy("prod", repo=repo)
        status = stage_status.status("prod", repo=repo)
        assert status.deployed_arn == arn and not status.drift

    first = registry("PendingManualApproval", metrics={"rmse": 60.0})
    models.set_approval(1, "Approved", "beats the baseline")
    ship(1, first)
    ship(2, registry(metrics={"rmse": 50.0}))  # approved once v1 is in prod

    git("revert", "--no-edit", "-m", "1", "HEAD")  # revert the merge of v2's pull request
    assert deploy.deploy("prod", repo=repo).action == "updated"
    rolled_back = stage_status.status("prod", repo=repo)
    assert rolled_back.deployed_arn == first and not rolled_back.drift


@any_shape
def test_the_staging_record_reaches_main_and_prod_changes_only_in_the_pull_request(
    repo, registry, record, github, git
):
    prod = registry()
    record("staging", prod)
    record("prod", prod)
    git("push", "--quiet", "origin", "main")
    candidate = registry()
    promote.promote(repo=repo)
    origin = ("--git-dir", str(repo.parent / "origin.git"))
    assert candidate in git(*origin, "show", "main:deploy/staging.yml")
    assert candidate not in git(*origin, "show", "main:deploy/prod.yml")
    assert "refused the staging record" not in github.requests[1]["json"]["body"]


@any_shape
def test_a_protected_main_keeps_the_staging_record_in_the_pull_request_and_is_not_drift(
    tmp_path, repo, registry, record, github, git
):
    prod = registry()
    record("staging", prod)
    record("prod", prod)
    git("push", "--quiet", "origin", "main")
    protect_main(tmp_path / "origin.git")
    candidate = registry()
    promote.promote(repo=repo)
    assert "refused the staging record" in github.requests[1]["json"]["body"]

    # The next scheduled run (or the drift check) starts from a fresh clone of main.
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--branch", "main", str(tmp_path / "origin.git"), str(clone))
    assert candidate not in (clone / "deploy" / "staging.yml").read_text()
    staging = stage_status.status("staging", repo=clone)
    assert staging.ahead_on == "promote/v2" and not staging.drift, staging.differences
    assert "ahead of git: promotion pull request from promote/v2" in drift.stage_row(staging).state
    asked = len(github.requests)
    again = promote.promote(repo=clone)
    assert "awaits review" in again.message
    assert len(github.requests) == asked, "nothing redeployed, no pull request call"


@any_shape
def test_a_staging_record_on_main_after_the_promotion_branched_is_drift(
    tmp_path, repo, registry, record, github, git
):
    prod = registry()
    record("staging", prod)
    record("prod", prod)
    git("push", "--quiet", "origin", "main")
    protect_main(tmp_path / "origin.git")
    registry()
    promote.promote(repo=repo)
    git("reset", "--quiet", "--hard", "origin/main")  # staging's commit is now only on promote/v2
    git("commit", "--quiet", "--allow-empty", "-m", "unrelated")
    record("staging", registry())  # a third version recorded on main, never deployed
    assert stage_status.status("staging", repo=repo).drift


def protect_main(bare: Path) -> None:
    """Refuse pushes to main, as GitHub's branch protection does."""
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        'while read old new ref; do [ "$ref" = refs/heads/main ] && { echo protected >&2; exit 1; }; done\n'
        "exit 0\n"
    )
    hook.chmod(0o755)
