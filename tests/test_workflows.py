"""The generated GitHub workflows: secure by construction, thin wrappers around make and mlops.

These are the rules the workflows promise (pinned actions, least permissions, OIDC only where
AWS is called, no event data in shell, one deploy per stage at a time). The linters that
back them (actionlint, zizmor, check-jsonschema) run in every preset's `make lint`, in
test_render.py; whether each command a workflow runs exists is checked there too.
"""

import json
import re
import subprocess

import pytest
import yaml
from conftest import ROOT, render

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")
WORKFLOWS = ("ci", "build", "promote", "deploy", "drift", "template-update")
TUNING_WORKFLOWS = ("trials",)  # only when the pipeline tunes
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials@"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tuning project: it has every workflow the template can generate."""
    return render(tmp_path_factory.mktemp("workflows") / "project", {"enable_tuning": True}, skip_tasks=True)


@pytest.fixture(scope="module")
def workflows(project):
    folder = project / ".github" / "workflows"
    return {name: load(folder / f"{name}.yml") for name in WORKFLOWS + TUNING_WORKFLOWS}


def load(path):
    text = path.read_text()
    document = yaml.safe_load(text)
    document["on"] = document.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return {"text": text, **document}


def jobs(workflows):
    for name, workflow in workflows.items():
        for job_name, job in workflow["jobs"].items():
            yield f"{name}.{job_name}", job


def steps(workflows):
    for where, job in jobs(workflows):
        for step in job["steps"]:
            yield where, job, step


def test_exactly_these_workflows_and_dependabot_are_generated(tmp_path):
    plain = render(tmp_path / "project", {}, skip_tasks=True)
    generated = {p.name for p in (plain / ".github" / "workflows").iterdir()}
    assert generated == {f"{name}.yml" for name in WORKFLOWS}
    assert (plain / ".github" / "dependabot.yml").is_file()


def test_a_tuning_project_also_attaches_its_trials_to_their_executions(project, workflows):
    generated = {p.name for p in (project / ".github" / "workflows").iterdir()}
    assert generated == {f"{name}.yml" for name in WORKFLOWS + TUNING_WORKFLOWS}
    assert set(workflows["trials"]["on"]) == {"schedule", "workflow_dispatch", "repository_dispatch"}
    assert workflows["trials"]["on"]["repository_dispatch"]["types"] == ["pipeline-finished"]
    runs = [step["run"] for step in workflows["trials"]["jobs"]["attach"]["steps"] if "run" in step]
    assert runs == ["make setup", "uv run mlops pipeline attach-trials"]


def actions_used(workflows) -> list[str]:
    """Each `uses:` line, as written (its trailing comment included)."""
    return [
        line.strip().removeprefix("- ").removeprefix("uses: ")
        for workflow in workflows.values()
        for line in workflow["text"].splitlines()
        if line.strip().removeprefix("- ").startswith("uses:")
    ]


def test_every_action_is_pinned_by_commit_sha_with_its_version_in_a_comment(workflows):
    lines = actions_used(workflows)
    assert lines, "the workflows use actions"
    unpinned = [line for line in lines if not SHA_PIN.match(line)]
    assert not unpinned, unpinned


def test_dependabot_keeps_the_pinned_actions_current(project):
    config = yaml.safe_load((project / ".github" / "dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert {"github-actions", "uv"} <= ecosystems


def test_no_permission_by_default_and_the_least_per_job(workflows):
    for name, workflow in workflows.items():
        assert workflow["permissions"] == {}, name
    for where, job in jobs(workflows):
        assert "permissions" in job, f"{where} states its permissions"
        assert "write-all" not in str(job["permissions"]), where


def test_oidc_is_granted_exactly_where_aws_credentials_are_assumed(workflows):
    for where, job in jobs(workflows):
        assumes = any(step.get("uses", "").startswith(AWS_CREDENTIALS) for step in job["steps"])
        assert (job["permissions"].get("id-token") == "write") == assumes, where


def test_roles_and_region_come_from_repository_variables(workflows):
    for where, _, step in steps(workflows):
        if step.get("uses", "").startswith(AWS_CREDENTIALS):
            role = step["with"]["role-to-assume"]
            assert re.fullmatch(r"\$\{\{ vars\.MLOPS_\w+_ROLE_ARN \}\}", role), where
            assert step["with"]["aws-region"] == "${{ vars.AWS_REGION }}", where
            assert set(step["with"]) == {"role-to-assume", "aws-region"}, f"{where}: no static keys"


def test_every_job_has_a_timeout(workflows):
    for where, job in jobs(workflows):
        assert 0 < job["timeout-minutes"] <= 90, where


def test_no_expression_is_expanded_inside_a_shell_script(workflows):
    for where, _, step in steps(workflows):
        assert "${{" not in step.get("run", ""), f"{where}: pass event data through env:"


def test_checkout_keeps_no_credentials_and_the_pushing_verb_gets_the_token(workflows):
    """Jobs that push (promote's, template-update's) hand the token to the `mlops` verb that pushes,
    which uses it for that push only: `make setup`, installing packages, never sees it."""
    for where, _, step in steps(workflows):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False and "token" not in step["with"], where
        if "GITHUB_TOKEN" in step.get("env", {}):
            assert step["run"].startswith("uv run mlops "), where


def test_one_deploy_per_stage_at_a_time_and_promotion_never_races_staging(workflows):
    deploy_jobs = workflows["deploy"]["jobs"]
    promote_job = workflows["promote"]["jobs"]["promote"]
    staging_groups = {deploy_jobs["staging"]["concurrency"]["group"], promote_job["concurrency"]["group"]}
    assert len(staging_groups) == 1
    assert deploy_jobs["prod"]["concurrency"]["group"] not in staging_groups
    for job in (deploy_jobs["staging"], deploy_jobs["prod"], promote_job):
        assert job["concurrency"]["cancel-in-progress"] is False, "a deploy is never cut off halfway"


def test_each_stage_deploys_in_its_github_environment(workflows):
    deploy_jobs = workflows["deploy"]["jobs"]
    assert deploy_jobs["staging"]["environment"] == "staging"
    assert deploy_jobs["prod"]["environment"] == "production"
    assert workflows["promote"]["jobs"]["promote"]["environment"] == "staging"
    assert "production" not in workflows["promote"]["text"], "promotion only proposes prod"


def test_the_triggers_are_those_the_gitops_loop_needs(workflows):
    assert set(workflows["ci"]["on"]) == {"pull_request", "push"}
    assert set(workflows["build"]["on"]) == {"push", "workflow_dispatch"}
    assert "build/**" in workflows["build"]["on"]["push"]["paths"]
    assert set(workflows["promote"]["on"]) == {"schedule", "workflow_dispatch", "repository_dispatch"}
    assert workflows["promote"]["on"]["repository_dispatch"]["types"] == ["model-approved"]
    assert workflows["deploy"]["on"]["push"]["paths"] == ["deploy/**"]
    assert set(workflows["drift"]["on"]) == {"schedule", "workflow_dispatch"}
    assert set(workflows["template-update"]["on"]) == {"schedule", "workflow_dispatch"}


def test_the_template_update_token_reaches_only_the_verb_that_pushes(workflows):
    """The token lives in an environment (main only, docs/set-up-in-aws.md); the checkout keeps no
    credentials, so `make setup` and the template's own code (copier update --trust) never see it."""
    job = workflows["template-update"]["jobs"]["update"]
    assert job["environment"] == "template-update"
    assert job["permissions"] == {"contents": "read"}, "GITHUB_TOKEN cannot push workflow files anyway"
    guard, checkout, *between, update = job["steps"]
    assert guard["if"] == "env.HAS_UPDATE_TOKEN != 'true'" and "MLOPS_TEMPLATE_UPDATE_TOKEN" in guard["run"]
    assert checkout["with"]["persist-credentials"] is False and "token" not in checkout["with"]
    assert all("secrets." not in json.dumps(step) for step in between)
    assert update["env"] == {"GITHUB_TOKEN": "${{ secrets.MLOPS_TEMPLATE_UPDATE_TOKEN }}"}
    assert update["run"] == "uv run mlops template-update"


# --- this repository's own workflows -----------------------------------------------------------


def test_a_release_tag_publishes_the_package_with_trusted_publishing():
    release = load(ROOT / ".github" / "workflows" / "release.yml")
    assert release["on"] == {"push": {"tags": ["[0-9]+.[0-9]+.[0-9]+"]}}
    assert release["permissions"] == {}
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    assert [s["run"] for s in build["steps"] if "run" in s] == ['make package RELEASE="$GITHUB_REF_NAME"']
    assert publish["permissions"] == {"id-token": "write"} and publish["environment"] == "pypi"
    assert publish["steps"][-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    assert "with" not in publish["steps"][-1], "no token or password: PyPI trusts the OIDC token"
    ours = {"release": release, "ci": load(ROOT / ".github" / "workflows" / "ci.yml")}
    assert [line for line in actions_used(ours) if not SHA_PIN.match(line)] == []


def test_the_release_refuses_a_tag_that_is_not_the_packages_version():
    refused = subprocess.run(["make", "package", "RELEASE=0.0.1"], cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "error: the tag is 0.0.1 but sagemaker-gitops/pyproject.toml says" in refused.stdout
    assert not (ROOT / "dist").exists(), "nothing is built"


def test_this_repositorys_workflows_pass_the_linters():
    """actionlint, zizmor and GitHub's schema, as `make lint` runs them (and every project's)."""
    result = subprocess.run(["make", "lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
