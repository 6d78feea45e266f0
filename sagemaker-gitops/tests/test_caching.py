"""Step caching as SageMaker does it, in `mlops local run`: a step whose CacheConfig is on is a hit
when an earlier run of it succeeded with the same cache key (AWS's documented attributes per step
type, local/caching.py) within ExpireAfter, and hands on that run's properties. So a re-run must
still read every model from where a job wrote it: the tuning + caching defect of the first AWS
audit (a model path built from the *current* execution id and a *cached* step's job name) fails
here as it fails in AWS.
"""

import copy
from datetime import UTC, datetime, timedelta

import pytest
from conftest import TUNING
from sagemaker_gitops import pipelines
from sagemaker_gitops.local import emulator, runner
from sagemaker_gitops.local.caching import earlier_run, expiry

TRAINING_STEP = "Tune" if TUNING else "Train"
CACHED = ["Preprocess", TRAINING_STEP, "Evaluate"]


@pytest.fixture
def run_locally(running_emulator, tmp_path, config):
    """run(definition=None, **parameters) -> RunResult: local runs that share one runs folder."""
    assert config.caching.enabled, "the preset's project caches its steps (the template's default)"
    with emulator.routed(running_emulator):
        built = pipelines.build()
        pipelines.publish(built)

    def run(definition: dict | None = None, **parameters) -> runner.RunResult:
        overrides = [{"Name": name, "Value": value} for name, value in parameters.items()]
        with emulator.routed(running_emulator):
            return runner.run_definition(
                definition or built.definition(), overrides, built.target, tmp_path, runner.Progress()
            )

    run.built = built
    return run


def hits(result: runner.RunResult) -> dict[str, str]:
    """Step -> the execution it was a cache hit on, as the run's output says it."""
    prefix = "cache hit: execution "
    return {
        step.name: step.outputs[0].removeprefix(prefix)
        for step in result.steps
        if step.outputs and step.outputs[0].startswith(prefix)
    }


def test_an_unchanged_re_run_reuses_every_cacheable_step_and_registers_a_new_version(run_locally):
    first = run_locally()
    second = run_locally()
    assert first.status == second.status == "Succeeded"
    assert hits(first) == {}
    assert hits(second) == dict.fromkeys(CACHED, first.execution_id)
    assert len(first.model_packages) == len(second.model_packages) == 1, "RegisterModel is never cached"
    assert first.model_packages != second.model_packages


def test_a_gate_threshold_change_re_runs_from_evaluate(run_locally, config):
    first = run_locally()
    lowered = run_locally(GateThreshold=str(config.gate.threshold * 0.9))
    assert hits(lowered) == dict.fromkeys(["Preprocess", TRAINING_STEP], first.execution_id)
    assert lowered.status == "Succeeded"


def test_a_model_path_built_from_the_current_execution_fails_the_cached_re_run(run_locally):
    """The defect, planted: the first run passes (every path is its own); the re-run reuses the
    training, so the path names this execution's folder with the earlier job's name: nothing."""
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

    assert run_locally(planted).status == "Succeeded"
    again = run_locally(planted)
    assert again.failed.name == "Evaluate"
    assert "ClientError: no S3 objects found under S3 URL" in again.failed.failure
    assert f"/models/{again.execution_id}/" in again.failed.failure


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


def test_after_the_emulator_is_reset_the_next_run_runs_every_step(mlops, monkeypatch, tmp_path):
    """Its state (every output) is gone, so the runs recorded against it are forgotten with it;
    a run against AWS stays."""
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    against_aws = tmp_path / "runs" / "against-aws" / "execution.json"
    against_aws.parent.mkdir(parents=True)
    against_aws.write_text('{"Emulator": false}')
    assert mlops("local", "up")[0] == 0
    try:
        code, _, err = mlops("local", "run")
        assert code == 0, err
        assert mlops("local", "down", "--reset")[0] == 0
        assert mlops("local", "up")[0] == 0
        code, out, err = mlops("local", "run")
        assert code == 0, err
        assert "cache hit" not in out + err
        assert against_aws.exists()
    finally:
        mlops("local", "down")
