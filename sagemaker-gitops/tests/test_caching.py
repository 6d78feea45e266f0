"""Step caching as SageMaker does it, in `mlops local run`: a step whose CacheConfig is on is a hit
when an earlier run of it succeeded with the same cache key (AWS's documented attributes per step
type, local/caching.py) within ExpireAfter, and hands on that run's properties. So a re-run must
still read every model from where a job wrote it: the tuning + caching defect of the first AWS
audit (a model path built from the *current* execution id and a *cached* step's job name) fails
here as it fails in AWS.
"""

import copy
import json
import shutil
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

import pytest
import sagemaker_gitops
from conftest import TUNING, any_shape
from sagemaker_gitops import aws
from sagemaker_gitops.build import definition_cache, pipelines
from sagemaker_gitops.local import emulator, runner
from sagemaker_gitops.local.caching import earlier_run, expiry
from sagemaker_gitops.project import project

TRAINING_STEP = "Tune" if TUNING else "Train"
# Preprocess never is: its request names a URL, and the objects behind a URL change.
CACHED = [TRAINING_STEP, "Evaluate"]


@pytest.fixture(scope="module")
def run_locally(running_emulator, tmp_path_factory, config):
    """run(definition=None, use_cache=True, **parameters) -> RunResult: local runs that share one
    runs folder (the module's), so each run may reuse any earlier one's steps."""
    assert config.caching.enabled, "the preset's project caches its steps (the template's default)"
    with emulator.routed(running_emulator):
        built = pipelines.build()
        pipelines.publish(built)
    runs = tmp_path_factory.mktemp("runs")

    def run(definition: dict | None = None, use_cache: bool = True, **parameters) -> runner.RunResult:
        overrides = [{"Name": name, "Value": value} for name, value in parameters.items()]
        with emulator.routed(running_emulator):
            return runner.run_definition(
                definition or built.definition(),
                overrides,
                built.target,
                runs,
                runner.Progress(),
                use_cache=use_cache,
            )

    run.built = built
    return run


@pytest.fixture(scope="module")
def first(run_locally) -> runner.RunResult:
    """The module's first run: nothing to reuse, every step runs."""
    return run_locally()


def hits(result: runner.RunResult) -> dict[str, str]:
    """Step -> the execution it was a cache hit on, as the run's output says it."""
    prefix = "cache hit: execution "
    return {
        step.name: step.outputs[0].removeprefix(prefix)
        for step in result.steps
        if step.outputs and step.outputs[0].startswith(prefix)
    }


def test_the_first_run_runs_every_step(first):
    assert first.status == "Succeeded" and hits(first) == {}


def test_an_unchanged_re_run_reuses_every_cacheable_step_and_registers_a_new_version(run_locally, first):
    again = run_locally()
    assert again.status == "Succeeded"
    assert set(hits(again)) == set(CACHED)
    assert again.execution_id not in hits(again).values()
    assert {step.name: step.cached_from for step in again.steps if step.cached_from} == hits(again)
    assert len(again.model_packages) == 1 and again.model_packages != first.model_packages, (
        "RegisterModel is never cached: each run registers a new version"
    )


def test_a_gate_threshold_change_re_runs_from_evaluate(run_locally, first, config):
    lowered = run_locally(GateThreshold=str(config.gate.threshold * 0.9))
    assert lowered.status == "Succeeded"
    assert set(hits(lowered)) == {TRAINING_STEP}


@any_shape
def test_no_cache_runs_every_step_and_a_later_run_may_still_reuse_them(run_locally, first):
    """`mlops local run --no-cache`: for the rare time a team wants a step run again."""
    forced = run_locally(use_cache=False)
    assert forced.status == "Succeeded" and hits(forced) == {}
    assert set(hits(run_locally())) == set(CACHED)


@any_shape
def test_other_data_behind_the_same_url_is_trained_on_and_recorded(run_locally, first, running_emulator):
    """The audit's stale result: new data copied over the old under the same URL. SageMaker's cache
    key is the request, so a cached Preprocess would hand on the old splits (and every step after it
    the old model). Preprocess reads the data every run and hands on its splits by content: the
    same data under another URL is a hit from Train on, other data under the same URL is trained
    on, and each version records the sha256 of the data it was trained on."""
    bucket = run_locally.built.target.bucket
    sample = (project().root / "data" / "sample.csv").read_text()
    fewer = "".join(sample.splitlines(keepends=True)[:-20])
    with emulator.routed(running_emulator):
        s3 = aws.client("s3")
        s3.put_object(Bucket=bucket, Key="landing/newest.csv", Body=sample.encode())
        same = run_locally(InputDataUrl=f"s3://{bucket}/landing/")
        s3.put_object(Bucket=bucket, Key="landing/newest.csv", Body=fewer.encode())
        other = run_locally(InputDataUrl=f"s3://{bucket}/landing/")
        recorded = [
            aws.client("sagemaker").describe_model_package(ModelPackageName=result.model_packages[0])[
                "CustomerMetadataProperties"
            ]["data_sha256"]
            for result in (first, same, other)
        ]
    assert set(hits(same)) == set(CACHED), "the same data under another URL"
    assert hits(other) == {}, "other data under the same URL"
    assert recorded[0] == recorded[1] == sha256(sample.encode()).hexdigest() != recorded[2]


def test_a_model_path_built_from_the_current_execution_fails_the_cached_run(run_locally, first):
    """The defect, planted: training's output path and Evaluate's model path both name the
    current execution. A run of its own would pass; after an earlier run, training is a cache hit
    (its output path is not in the key), so the model path names this execution's folder with
    the earlier job's name: nothing is there."""
    planted = copy.deepcopy(run_locally.built.definition())
    steps = {step["Name"]: step for step in planted["Steps"]}
    models = f"s3://{run_locally.built.target.bucket}/models"
    this_execution = {"Std:Join": {"On": "/", "Values": [models, {"Get": "Execution.PipelineExecutionId"}]}}
    training = steps[TRAINING_STEP]["Arguments"]
    job_definition = training["TrainingJobDefinition"] if TUNING else training
    job_definition["OutputDataConfig"]["S3OutputPath"] = this_execution
    job = f"Steps.{TRAINING_STEP}.{'BestTrainingJob.TrainingJobName' if TUNING else 'TrainingJobName'}"
    model = next(i for i in steps["Evaluate"]["Arguments"]["ProcessingInputs"] if i["InputName"] == "model")
    model["S3Input"]["S3Uri"] = {
        "Std:Join": {"On": "/", "Values": [this_execution, {"Get": job}, "output", "model.tar.gz"]}
    }

    planted_run = run_locally(planted)
    assert TRAINING_STEP in hits(planted_run)
    assert planted_run.failed.name == "Evaluate"
    assert "ClientError: no S3 objects found under S3 URL" in planted_run.failed.failure
    assert f"/models/{planted_run.execution_id}/" in planted_run.failed.failure


# --- the lookup's rules --------------------------------------------------------------------------
PIPELINE = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/my-model"
RECORD = """{{"PipelineExecutionArn": "{pipeline}/execution/{name}", "CreationTime": "{created}", "Steps": [
  {{"StepName": "Train", "StepStatus": "{status}", "CacheKey": "k", "Properties": {{"from": "{name}"}}}}]}}"""
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def record(runs, name: str, created: datetime, status: str = "Succeeded", pipeline: str = PIPELINE) -> None:
    (runs / name).mkdir()
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = RECORD.format(pipeline=pipeline, created=stamp, status=status, name=name)
    (runs / name / "execution.json").write_text(text)


def test_the_newest_successful_run_within_expire_after_is_reused(tmp_path):
    record(tmp_path, "old", NOW - timedelta(days=40))
    record(tmp_path, "recent", NOW - timedelta(days=2))
    record(tmp_path, "newest-failed", NOW - timedelta(hours=1), status="Failed")
    record(tmp_path, "other-account", NOW, pipeline=PIPELINE.replace("123456789012", "210987654321"))
    (tmp_path / "cut-off").mkdir()  # a run stopped before it recorded anything
    thirty_days = expiry({"CacheConfig": {"ExpireAfter": "P30D"}})
    hit = earlier_run(tmp_path, PIPELINE, "Train", "k", thirty_days, NOW)
    assert (hit.execution_id, hit.properties) == ("recent", {"from": "recent"})
    assert earlier_run(tmp_path, PIPELINE, "Train", "k", timedelta(days=1), NOW) is None, "expired"
    assert earlier_run(tmp_path, PIPELINE, "Train", "other key", None, NOW) is None
    never = expiry({"CacheConfig": {}})
    assert earlier_run(tmp_path, PIPELINE, "Train", "k", never, NOW).execution_id == "recent"


def test_an_expire_after_that_is_not_a_duration_is_refused():
    with pytest.raises(ValueError, match="'30 days' is not an ISO 8601 duration"):
        expiry({"CacheConfig": {"ExpireAfter": "30 days"}})


def test_resetting_the_emulator_forgets_the_runs_recorded_against_it(mlops, monkeypatch, tmp_path):
    """Their outputs were in its state, so no later run may take a step from them; a run against
    AWS stays."""
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    for name, emulated in (("against-the-emulator", True), ("against-aws", False)):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "execution.json").write_text(json.dumps({"Emulator": emulated}))
    assert mlops("local", "down", "--reset")[0] == 0
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == ["against-aws"]


def test_a_run_says_whether_it_ran_against_the_emulator(first):
    assert json.loads((first.workspace / "execution.json").read_text())["Emulator"] is True


# --- the definition a local run builds, kept between runs (definition_cache) ---------------------


@any_shape
def test_a_run_reuses_the_last_definition_until_anything_it_is_built_from_changes(
    running_emulator, repo, git, use_project, monkeypatch, tmp_path
):
    """An unchanged re-run skips the SDK (seconds); a change to build/, to the data, to the commit,
    to the AWS target or to the objects in the bucket builds again, and what is reused is what a
    build gives. (Each change is undone after it is seen: the kept definition is reused again.)"""
    use_project(root=repo)

    def prepare():
        with emulator.routed(running_emulator):
            prepared = definition_cache.for_run("build")
            prepared.code.upload(aws.client("s3"))  # as a run does, once its parameters are checked
            return prepared

    def reusable() -> bool:
        with emulator.routed(running_emulator):
            return definition_cache.kept("build") is not None

    assert Path(sagemaker_gitops.__file__).parent == definition_cache.PACKAGE_DIR, "every module an input"
    assert not prepare().reused  # nothing kept yet
    again = prepare()
    assert again.reused
    with emulator.routed(running_emulator):
        assert again.definition == pipelines.build().definition()

    sample = repo / "data" / "sample.csv"
    for path, added in (
        (repo / "build" / "config.yml", "# a comment is a change\n"),
        (sample, sample.read_text().splitlines()[-1] + "\n"),
    ):
        original = path.read_text()
        path.write_text(original + added)
        assert not reusable(), path.name
        path.write_text(original)
        assert reusable()
    git("commit", "--quiet", "--allow-empty", "-m", "the commit the definition records")
    assert not reusable()
    git("reset", "--quiet", "--soft", "HEAD~1")
    with monkeypatch.context() as patch:
        patch.setenv("MLOPS_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/another-role")
        assert not reusable()
    assert reusable()

    code_key = next(
        key
        for key in json.loads((emulator.state_dir() / "definitions" / "build.json").read_text())["objects"]
    )
    with emulator.routed(running_emulator):
        aws.client("s3").delete_object(Bucket=aws.resolve_target().bucket, Key=code_key)
    assert not prepare().reused and prepare().reused  # uploaded again

    # A file staged from outside the project (build/notebooks.yml may name a notebook anywhere).
    outside = tmp_path / "steps-elsewhere"
    shutil.copytree(repo / "build" / "steps", outside)
    use_project(root=repo, steps=outside)
    assert not prepare().reused and prepare().reused
    script = next(outside.glob("*.py"))
    script.write_text(script.read_text() + "# changed where git cannot see it\n")
    assert not reusable()
