"""`mlops local ...`: the pipeline's real definition, run on this machine against the emulator."""

import copy
import csv
import errno
import io
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import pytest
from conftest import TUNING, any_shape, monitoring_only
from sagemaker_gitops import aws, contract
from sagemaker_gitops.build import pipelines, run_locally
from sagemaker_gitops.definition.expressions import Scope, StepError
from sagemaker_gitops.definition.parameters import resolve_parameters
from sagemaker_gitops.definition.step_kinds import KINDS
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.local import data_capture, emulator, image_envs, launchers, runner
from sagemaker_gitops.local.jobs import _relative
from sagemaker_gitops.local.launchers import FreshProcesses, Timeout, WarmHost
from sagemaker_gitops.project import project
from sagemaker_gitops.pytest_plugin import Emulated, LocalRun
from sagemaker_gitops.reports import experiments as experiments_report
from sagemaker_gitops.stages import stacks
from sagemaker_gitops.stages.pipeline_schedules import sent
from sagemaker_gitops.stages.schedules import RETRAINING
from sagemaker_gitops.stages.stage_schedules import MONITORING

TRAINING_STEP = "Tune" if TUNING else "Train"


def client(found: emulator.Emulator, service: str):
    return Emulated(found).client(service)


def model_packages(found: emulator.Emulator) -> list[dict]:
    return Emulated(found).model_packages()


def step_named(definition: dict, name: str) -> dict:
    steps = definition["Steps"] + [
        s
        for top in definition["Steps"]
        for b in ("IfSteps", "ElseSteps")
        for s in top["Arguments"].get(b, [])
    ]
    return next(s for s in steps if s["Name"] == name)


@pytest.fixture(scope="module")
def local_runs(local_run, gate_that_cannot_pass) -> dict[str, LocalRun]:
    """Two runs, shared by the tests that read them: one passes the gate, one cannot."""
    return {"passed": local_run("--label", "baseline"), "gate failed": local_run(*gate_that_cannot_pass)}


def test_evaluate_keeps_every_model_it_scores_and_only_the_condition_step_decides(local_runs, emulated):
    """Evaluate reports the gate's verdict and keeps the model it scored, write-once under its
    sha256, passing or not; whether a version is registered is the ConditionStep's decision."""
    failed = local_runs["gate failed"]
    report = failed.workspace / "Evaluate" / "opt/ml/processing/evaluation/evaluation.json"
    model = json.loads(report.read_text())["model"]
    assert json.loads(report.read_text())["gate"]["passed"] is False
    assert (
        model["url"] == f"s3://{emulated.bucket}/{project().kept_models_key}/{model['sha256']}/model.tar.gz"
    )
    assert sha256(emulated.read_s3(model["url"])).hexdigest() == model["sha256"]
    assert failed.code == 1 and failed.packages_after == failed.packages_before


@any_shape
def test_a_version_carries_its_quality_baselines_and_data_that_drifted_from_prods_stops_the_next_run(
    local_runs, emulated, local_run, repo, record, use_project, config, tmp_path
):
    """A version is registered with its baselines in Model Monitor's formats: its training features'
    statistics and constraints (Preprocess), its metrics and its gate as constraints (Evaluate);
    the run says once that they are not Model Monitor's analyzer's numbers. Once prod serves it,
    training data whose feature drifted from its data baseline stops the run at Preprocess, in one
    line naming the feature and the check, and registers nothing."""
    assert local_runs["passed"].err.count(f"note: {run_locally.ANALYZER}") == 1
    arn = local_runs["passed"].packages_after[-1]["ModelPackageArn"]
    described = emulated.client("sagemaker").describe_model_package(ModelPackageName=arn)
    quality = described["ModelMetrics"]["ModelDataQuality"]
    assert described["DriftCheckBaselines"]["ModelDataQuality"] == quality
    statistics = json.loads(emulated.read_s3(quality["Statistics"]["S3Uri"]))
    with (project().root / "data" / "sample.csv").open(newline="") as sample:
        rows = list(csv.DictReader(sample))
    features = [name for name in rows[0] if name not in (config.target_column, config.split.key)]
    assert [feature["name"] for feature in statistics["features"]] == features
    assert 0 < statistics["dataset"]["item_count"] < len(rows), "the training split's"
    constraints = json.loads(emulated.read_s3(quality["Constraints"]["S3Uri"]))
    assert [feature["name"] for feature in constraints["features"]] == features
    # Its model quality: evaluation.json's metrics, and the gate it passed as constraints.
    model_quality = described["ModelMetrics"]["ModelQuality"]
    assert described["DriftCheckBaselines"]["ModelQuality"] == model_quality
    evaluation = json.loads(emulated.read_s3(model_quality["Statistics"]["S3Uri"]))
    gate = json.loads(emulated.read_s3(model_quality["Constraints"]["S3Uri"]))
    operator = "GreaterThanThreshold" if config.gate.lower_is_better else "LessThanThreshold"
    assert gate == {
        "version": 0.0,
        f"{config.problem_type}_constraints": {
            config.gate.metric: {"threshold": evaluation["gate"]["required"], "comparison_operator": operator}
        },
    }

    use_project(root=repo)
    record("prod", arn)
    drifted = next(f["name"] for f in statistics["features"] if f["inferred_type"] == "Fractional")
    path = tmp_path / "drifted.csv"
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, drifted: str(float(row[drifted]) * 3 + 1)} for row in rows)
    stopped = local_run("--data", str(path))
    assert stopped.code == 1 and stopped.packages_after == stopped.packages_before
    last = stopped.err.strip().splitlines()[-1]
    folder = quality["Constraints"]["S3Uri"].rsplit("/", 1)[0]
    assert last.startswith("error: pipeline failed at step 'Preprocess': "), last
    assert re.search(
        f"preprocess: the training data violates the data baseline at {re.escape(folder)}:"
        f" {drifted!r}: baseline_drift_check: distance [0-9.]+ from the baseline's distribution"
        f" exceeds [0-9.]+$",
        last,
    ), last


@monitoring_only
def test_the_monitor_reads_what_an_endpoint_was_sent_and_answered_and_drift_retrains_where_the_stage_says(
    local_runs, emulated, running_emulator, mlops, definition, config
):
    """The monitoring pipeline reads an endpoint's data capture in SageMaker's layout (written as
    the emulator's endpoints write it, each request with the InferenceId its caller gave) against
    the data baseline the version was registered with, and the team's labels for those requests
    (SageMaker's ground-truth layout, named by InferenceId) against its model-quality baseline.
    Fired from a stage that retrains on drift, once most requests have a feature moved and every
    answer is wrong, the run fails at DriftedRetrain in one line naming the feature and the check,
    writes the gate metric's violation, and the retraining rule (played by the emulator) runs the
    build pipeline with the retraining stack's parameters, its provenance the monitoring run.
    (Requests like the training data pass, answers as good as the gate's pass, and a stage that
    does not retrain ends at Drifted: the project's tests/test_monitoring.py, on its own data.)"""
    arn = local_runs["passed"].packages_after[-1]["ModelPackageArn"]
    package = emulated.client("sagemaker").describe_model_package(ModelPackageName=arn)
    classes = json.loads(emulated.read_s3(package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]))
    code_of = {str(label): code for code, label in enumerate(classes["labels"]["classes"])}
    capture_config = {
        "DestinationS3Uri": f"s3://{emulated.bucket}/{project().slug}/data-capture/prod",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }
    labels_url = f"s3://{emulated.bucket}/{project().slug}/ground-truth/prod"
    with (project().root / "data" / "sample.csv").open(newline="") as sample:
        rows = list(csv.DictReader(sample))
    features = [name for name in rows[0] if name not in (config.target_column, config.split.key)]
    endpoint = f"{project().slug}-prod"
    moved = next(name for name in features if all(_is_number(row[name]) for row in rows))
    shifted = [{**row, moved: str(float(row[moved]) * 3 + 1)} for row in rows]
    for start in range(0, len(rows), 50):  # requests of up to 50 rows, as clients batch them
        batch = shifted[start : start + 50]
        body = io.StringIO()
        csv.writer(body, lineterminator="\n").writerows([r[n] for n in features] for r in batch)
        wrong = "".join(f"{1 - code_of[r[config.target_column]]}\n" for r in batch)  # every answer
        now = datetime.now(UTC)
        request, answer = (body.getvalue().encode(), "text/csv"), (wrong.encode(), "text/csv")
        captured = data_capture.record(capture_config, request, answer, now, f"order-{start}")
        bucket, key = data_capture.key_of(capture_config, endpoint, "main", now)
        emulated.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(captured).encode())
        labelled = "".join(f"{r[config.target_column]}\n" for r in batch)
        truth = {"groundTruthData": {"data": labelled, "encoding": "CSV"}, "eventVersion": "0"}
        truth["eventMetadata"] = {"eventId": f"order-{start}"}
        key = f"{project().slug}/ground-truth/prod/{now:%Y/%m/%d/%H}/labels-{start}.jsonl"
        emulated.client("s3").put_object(Bucket=emulated.bucket, Key=key, Body=json.dumps(truth).encode())

    # prod's monitoring and retraining stacks, as `mlops deploy prod` and `mlops pipeline upsert`
    # leave them (the emulator's CloudFormation keeps their parameters, not the schedule or rule).
    sends = {"CaptureUrl": f"{capture_config['DestinationS3Uri']}/{endpoint}/main", "LookbackHours": "24"}
    sends |= {"DataBaselineUrl": contract.data_baseline(package), "RetrainOnDrift": "true"}
    sends |= {"GroundTruthUrl": labels_url, "ModelBaselineUrl": contract.model_baseline(package)}
    retrain = {p["Name"]: str(p["DefaultValue"]) for p in definition["Parameters"] if "DefaultValue" in p}
    retrain[contract.INPUT_DATA_URL] = f"s3://{emulated.bucket}/{project().sample_data_key_of('build')}"
    retraining = RETRAINING.template_path
    with emulator.routed(running_emulator):
        monitor_template = project().root / "deploy" / MONITORING.template
        deploy_stack(
            MONITORING.stack_name("prod"),
            monitor_template,
            {"Stage": "prod", **sends, "MinLabelledRows": "100", "ProcessingInstanceType": "ml.m5.large"},
        )
        deploy_stack(
            RETRAINING.stack_name, retraining, {n: retrain[n] for n in sent(stacks.read_template(retraining))}
        )
    before = emulated.model_packages()
    code, out, err = mlops("schedule", "fire", "prod-monitor", "--aws", "emulator")
    last = err.strip().splitlines()[-1]
    assert code == 1 and last.startswith(f"error: pipeline failed at step '{contract.DRIFT_RETRAINS}': "), err
    assert re.search(
        "The endpoint's requests or answers violate its model's baselines:"
        f" {moved!r}: baseline_drift_check: distance [0-9.]+ from the baseline's distribution exceeds",
        last,
    ), last
    monitored = re.findall(r"local execution (\w+)", out)[0]
    checked = f"s3://{emulated.bucket}/{project().slug}/executions/{monitored}/CheckCapture/model_quality"
    answered = json.loads(emulated.read_s3(f"{checked}/statistics.json"))
    assert answered["dataset"]["item_count"] == len(rows)
    violations = json.loads(emulated.read_s3(f"{checked}/constraint_violations.json"))["violations"]
    assert [v["metric_name"] for v in violations] == [config.gate.metric], violations
    assert "note: drift: the retraining rule starts the build pipeline, here" in err
    retrained = [p for p in emulated.model_packages() if p not in before]
    assert len(retrained) == 1, out + err
    runs = {e.id: e for e in experiments_report.load_local()}
    newest = runs[re.findall(r"local execution (\w+)", out)[-1]]
    assert newest.provenance["label"] == f"drift found by prod-monitor run {monitored}"


def deploy_stack(name: str, template: Path, parameters: dict[str, str]) -> None:
    """A schedule's stack as its deploy leaves it: these parameters, a disabled daily schedule."""
    schedule = {"ScheduleExpression": "rate(1 day)", "ScheduleTimezone": "UTC", "ScheduleState": "DISABLED"}
    made_by = {"Project": project().slug, "GitCommit": "c" * 40}
    made_by["SchedulerRoleArn"] = aws.resolve_target().scheduler_role_arn
    stacks.apply_stack(name, template, {**made_by, **schedule, **parameters}, lambda _: None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_the_experiments_report_compares_the_local_runs(
    local_runs, mlops, emulated, definition, config, tmp_path, gate_that_cannot_pass
):
    code, out, err = mlops("report", "experiments", "--local", "--out-dir", str(tmp_path))
    assert code == 0 and "experiments-report.html" in out, err
    executions = {e.id: e for e in experiments_report.load_local()}
    passed, failed = (executions[local_runs[name].execution_id] for name in ("passed", "gate failed"))
    assert (passed.status, failed.status) == ("Succeeded", "Failed")
    assert passed.parameters["GateThreshold"] == str(config.gate.threshold)
    assert failed.parameters["GateThreshold"] != passed.parameters["GateThreshold"]
    # The trained model's hyperparameters, as the definition gives them to training
    # (and, when tuning, the best trial's values for the tuned ones).
    if TUNING:
        job = step_named(definition, "Tune")["Arguments"]["TrainingJobDefinition"]
        tuning_job = json.loads((local_runs["passed"].workspace / "Tune" / "tuning-job.json").read_text())
        expected = {**job["StaticHyperParameters"], **tuning_job["BestTrainingJob"]["TunedHyperParameters"]}
    else:
        expected = step_named(definition, "Train")["Arguments"]["HyperParameters"]
    assert {k: v for k, v in expected.items() if not k.startswith(("sagemaker_", "_"))}.items() <= (
        {**passed.hyperparameters, **passed.tuned}.items()
    )
    # What it was started from, as `pipeline start` describes an execution in SageMaker.
    assert passed.provenance["label"] == "baseline" and "label" not in failed.provenance
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", passed.provenance["git"])
    assert re.fullmatch(r"[0-9a-f]{12}", passed.provenance["config"])
    assert "GateThreshold" not in passed.model_parameters and "InputDataUrl" in passed.model_parameters
    # The data: data/sample.csv by default, staged under its content's hash; --data names another.
    sample = (project().root / "data" / "sample.csv").read_bytes()
    staged = f"/data/{sha256(sample).hexdigest()[:16]}/sample.csv"
    assert passed.parameters["InputDataUrl"].endswith(staged)
    assert passed.data == sha256(sample).hexdigest()[:12] and passed.can_change_metrics("data")
    if "--data" in gate_that_cannot_pass:
        given = Path(gate_that_cannot_pass[gate_that_cannot_pass.index("--data") + 1]).read_bytes()
        assert failed.data == sha256(given).hexdigest()[:12]
    # Test metrics: the evaluation report the run wrote, each as test:<name>.
    package = emulated.client("sagemaker").describe_model_package(
        ModelPackageName=local_runs["passed"].packages_after[-1]["ModelPackageArn"]
    )
    report_uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    evaluation = json.loads(emulated.read_s3(report_uri))
    test_metrics = {f"test:{k}": v["value"] for k, v in evaluation[f"{config.problem_type}_metrics"].items()}
    assert test_metrics.items() <= passed.metrics.items()
    assert f"test:{config.gate.metric}" in failed.metrics, "a run stopped by the gate still shows its metrics"

    page = (tmp_path / "experiments-report.html").read_text()
    assert passed.id in page and failed.id in page and "<th>GateThreshold</th>" in page
    assert passed.data in page  # a column when it differs, else among what every execution shares
    assert "<td>baseline</td>" in page and "cannot change one: GateThreshold" in page
    assert (tmp_path / "metrics-by-execution.png").read_bytes().startswith(b"\x89PNG")
    # Against the metric: what tuning chose, and the shuffled data of the run that cannot pass a
    # score's gate; an error metric's gate fails on GateThreshold alone, which is never plotted.
    if TUNING or not config.gate.lower_is_better:
        assert (tmp_path / "inputs-vs-metric.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert not (tmp_path / "inputs-vs-metric.png").exists()
        assert experiments_report.NOTHING_TO_PLOT in page


@any_shape
def test_a_jsonget_path_missing_from_the_report_fails_the_step_that_reads_it(running_emulator, tmp_path):
    with emulator.routed(running_emulator):
        built = pipelines.build()
        pipelines.publish(built)
        broken = built.definition()
        condition = step_named(broken, "CheckGate")["Arguments"]["Conditions"][0]
        condition["LeftValue"]["Std:JsonGet"]["Path"] = "gate.no_such_metric"
        before = model_packages(running_emulator)
        result = runner.run_definition(broken, [], built.target, tmp_path, runner.Progress())
    assert result.status == "Failed"
    assert result.failed.name == "CheckGate"
    assert (
        "path 'gate.no_such_metric' does not exist in property file 'EvaluationReport' of step 'Evaluate'"
        in result.failed.failure
    )
    assert model_packages(running_emulator) == before


def _rename_model_reference(definition: dict) -> None:
    inputs = step_named(definition, "Evaluate")["Arguments"]["ProcessingInputs"]
    model = next(i for i in inputs if i["InputName"] == "model")
    model["S3Input"]["S3Uri"] = {"Get": f"Steps.{TRAINING_STEP}.ModelArtifacts.S3ModelArtifact"}


def _reference_a_missing_step(definition: dict) -> None:
    inputs = step_named(definition, "Evaluate")["Arguments"]["ProcessingInputs"]
    next(i for i in inputs if i["InputName"] == "model")["S3Input"]["S3Uri"] = {
        "Get": "Steps.Training.ModelArtifacts.S3ModelArtifacts"
    }


def _misname_the_property_file(definition: dict) -> None:
    json_get = step_named(definition, "CheckGate")["Arguments"]["Conditions"][0]["LeftValue"]["Std:JsonGet"]
    json_get["PropertyFile"] = {"Get": "Steps.Evaluate.PropertyFiles.Evaluation"}


def _change_the_training_step_type(definition: dict) -> None:
    step_named(definition, TRAINING_STEP)["Type"] = "Training" if TUNING else "Tuning"


def _use_an_unknown_step_type(definition: dict) -> None:
    step_named(definition, TRAINING_STEP)["Type"] = "Quantum"


def _use_an_unknown_function(definition: dict) -> None:
    step_named(definition, "GateFailed")["Arguments"]["ErrorMessage"] = {"Std:Upper": "x"}


def _reference_a_missing_parameter(definition: dict) -> None:
    step_named(definition, "CheckGate")["Arguments"]["Conditions"][0]["RightValue"] = {
        "Get": "Parameters.Gate"
    }


def _depend_in_a_cycle(definition: dict) -> None:
    step_named(definition, "Preprocess")["DependsOn"] = ["Evaluate"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            _rename_model_reference,
            "step 'Evaluate': Steps.Tune.ModelArtifacts.S3ModelArtifact: DescribeHyperParameterTuningJob or"
            " ListTrainingJobsForHyperParameterTuningJob has no Steps.Tune.ModelArtifacts"
            if TUNING
            else "step 'Evaluate': Steps.Train.ModelArtifacts.S3ModelArtifact: DescribeTrainingJob has no"
            " Steps.Train.ModelArtifacts.S3ModelArtifact",
        ),
        (
            _reference_a_missing_step,
            "step 'Evaluate': depends on step 'Training', which the pipeline does not have",
        ),
        (
            _misname_the_property_file,
            "step 'CheckGate': Steps.Evaluate.PropertyFiles.Evaluation: step 'Evaluate' declares no such"
            " property file (it has: EvaluationReport)",
        ),
        (
            _change_the_training_step_type,
            "step 'Evaluate': Steps.Tune.TrainingJobSummaries[0].TrainingJobName: DescribeTrainingJob has no"
            " Steps.Tune.TrainingJobSummaries (step 'Tune' is a Training step)"
            if TUNING
            else "step 'Evaluate': Steps.Train.ModelArtifacts.S3ModelArtifacts:"
            " DescribeHyperParameterTuningJob or ListTrainingJobsForHyperParameterTuningJob has no"
            " Steps.Train.ModelArtifacts (step 'Train' is a Tuning step)",
        ),
        (_use_an_unknown_step_type, f"step '{TRAINING_STEP}': `mlops local run` cannot run Quantum steps"),
        (
            _use_an_unknown_function,
            "step 'GateFailed': `mlops local run` does not support the function Std:Upper",
        ),
        (
            _reference_a_missing_parameter,
            "step 'CheckGate': Parameters.Gate: the pipeline has no parameter 'Gate'",
        ),
        (_depend_in_a_cycle, "dependency cycle among steps"),
    ],
)
def test_a_broken_definition_is_refused_before_any_step_runs(definition, tmp_path, mutate, message):
    broken = copy.deepcopy(definition)
    mutate(broken)
    target = aws.resolve_target(offline=True)
    with pytest.raises(MlopsError) as refused:
        runner.run_definition(broken, [], target, tmp_path, runner.Progress())
    assert message in str(refused.value)
    assert not any(tmp_path.iterdir()), "no step may run"


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("GateThreshold=high", "--param GateThreshold=high: expected a number"),
        ("ProcessingInstanceCount=1.5", "--param ProcessingInstanceCount=1.5: expected an integer"),
        ("Nope=1", "unknown pipeline parameter 'Nope'"),
    ],
)
def test_bad_parameters_are_refused_in_one_line(definition, param, message):
    name, _, value = param.partition("=")
    with pytest.raises(MlopsError, match=re.escape(message)):
        resolve_parameters(definition["Parameters"], [{"Name": name, "Value": value}])


@pytest.mark.parametrize(
    ("param", "reason"),
    [
        ("ModelApprovalStatus=Approved", "a run cannot set the approval"),
        ("GateThreshold=inf", "finite"),
        ("TrainingInstanceType=ml.fake.large", f"not run: {TRAINING_STEP}: Create"),
    ],
)
def test_local_run_refuses_what_sagemaker_would_refuse(mlops, running_emulator, param, reason):
    before = model_packages(running_emulator)
    code, _, err = mlops("local", "run", "--param", param)
    assert code == 1 and reason in err and len(err.strip().splitlines()) == 1, err
    assert model_packages(running_emulator) == before


def test_data_given_twice_is_refused_in_one_line(mlops, running_emulator, tmp_path):
    (tmp_path / "mine.csv").write_text((project().root / "data" / "sample.csv").read_text())
    before = model_packages(running_emulator)
    code, _, err = mlops(
        "local", "run", "--data", str(tmp_path / "mine.csv"), "--param", "InputDataUrl=s3://b/k"
    )
    assert (code, err.strip()) == (
        1,
        "error: --data and --param InputDataUrl=... name the input twice: give one",
    )
    assert model_packages(running_emulator) == before


def test_local_run_without_the_emulator_says_how_to_start_it(mlops, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    code, _, err = mlops("local", "run")
    assert code == 1
    assert (
        err.strip()
        == "error: the local AWS emulator is not running: start it with `mlops local up` (or use --aws real)"
    )


def test_a_full_disk_ends_a_verb_in_one_line(mlops, running_emulator, monkeypatch):
    full = OSError(errno.ENOSPC, "No space left on device", ".mlops/runs/x/Train/model.tar.gz")
    monkeypatch.setattr(run_locally, "run_project", lambda *args, **kwargs: (_ for _ in ()).throw(full))
    code, _, err = mlops("local", "run")
    assert code == 1
    assert err.strip().splitlines() == ["error: No space left on device: .mlops/runs/x/Train/model.tar.gz"]


@any_shape
def test_emulator_state_survives_down_and_up_and_reset_forgets_it(mlops, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    code, out, err = mlops("local", "up")
    assert code == 0, err
    assert "created the project's bucket, role and model package group" in out
    found = emulator.running()
    client(found, "sagemaker").create_model_package(
        ModelPackageGroupName=project().model_package_group, ModelApprovalStatus="Approved"
    )
    assert mlops("local", "down")[0] == 0
    assert emulator.running() is None
    assert mlops("local", "status")[0] == 3

    code, out, _ = mlops("local", "up")
    assert "restored" in out
    restarted = emulator.running()
    assert restarted.url != found.url or restarted.pid != found.pid
    assert [p["ModelApprovalStatus"] for p in model_packages(restarted)] == ["Approved"]
    assert mlops("local", "status")[0] == 0

    assert mlops("local", "down", "--reset")[0] == 0
    mlops("local", "up")
    assert model_packages(emulator.running()) == []
    mlops("local", "down")  # no server left running after the tests


@any_shape
def test_the_state_is_a_snapshot_of_what_it_holds_and_keeps_creation_times(mlops, monkeypatch, tmp_path):
    """Not a request log replayed on each start: the same state, saved twice, is as large; and
    what was created keeps its creation time across the restart."""
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    assert mlops("local", "up")[0] == 0
    sagemaker = client(emulator.running(), "sagemaker")
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=project().model_package_group, ModelApprovalStatus="Approved"
    )["ModelPackageArn"]
    created = sagemaker.describe_model_package(ModelPackageName=arn)["CreationTime"]
    mlops("local", "down")
    first = emulator.snapshot_file().stat().st_size
    for _ in range(2):  # restarts and reads: requests a log would have grown by
        assert "restored its state" in mlops("local", "up")[1]
        restored = client(emulator.running(), "sagemaker")
        assert restored.describe_model_package(ModelPackageName=arn)["CreationTime"] == created
        for _ in range(20):
            restored.list_model_packages(ModelPackageGroupName=project().model_package_group)
        mlops("local", "down")
    assert abs(emulator.snapshot_file().stat().st_size - first) < first // 10


@any_shape
@pytest.mark.parametrize(
    "damage",
    [lambda saved: saved[: len(saved) // 2], lambda saved: b"not a snapshot"],
    ids=["cut off", "not a snapshot"],
)
def test_a_damaged_state_file_is_refused_in_one_line(mlops, monkeypatch, tmp_path, damage):
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    assert mlops("local", "up")[0] == 0
    mlops("local", "down")
    emulator.snapshot_file().write_bytes(damage(emulator.snapshot_file().read_bytes()))
    code, _, err = mlops("local", "up")
    assert code == 1 and emulator.running() is None
    (line,) = err.strip().splitlines()
    assert "the emulator's state cannot be read" in line and "`mlops local down --reset`" in line
    assert mlops("local", "down", "--reset")[0] == 0
    assert "started empty" in mlops("local", "up")[1]
    mlops("local", "down")


class RunsCode:
    """What a planted state file could hold: unpickling it would run a command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@any_shape
def test_a_state_file_this_machine_did_not_write_is_never_unpickled(mlops, monkeypatch, tmp_path):
    """Unpickling runs code: a state file from elsewhere (one committed to a repository) is refused
    on its signature, before it is read."""
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    (tmp_path / "emulator").mkdir()
    ran = tmp_path / "ran"
    emulator.snapshot_file().write_bytes(b"\0" * 32 + pickle.dumps(RunsCode(ran)))
    code, _, err = mlops("local", "up")
    assert code == 1 and emulator.running() is None and not ran.exists()
    (line,) = err.strip().splitlines()
    assert "signature does not match" in line and "`mlops local down --reset`" in line


def saved_after(found, change) -> None:
    """Make a change, then wait for the server to save it (it saves after each burst of requests)."""
    before = emulator.snapshot_file().stat().st_mtime_ns if emulator.snapshot_file().exists() else 0
    change()
    deadline = time.monotonic() + 30
    while not emulator.snapshot_file().exists() or emulator.snapshot_file().stat().st_mtime_ns == before:
        assert time.monotonic() < deadline, "the emulator did not save the change"
        time.sleep(0.1)


@any_shape
def test_a_killed_emulator_keeps_what_it_saved_and_the_next_start_says_so(mlops, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    assert mlops("local", "up")[0] == 0
    found = emulator.running()
    sagemaker = client(found, "sagemaker")
    group = project().model_package_group
    saved_after(found, lambda: sagemaker.create_model_package(ModelPackageGroupName=group))
    os.kill(found.pid, signal.SIGKILL)  # as the OOM killer or a closed laptop lid would
    code, out, err = mlops("local", "up")
    assert code == 0, err
    assert "the previous emulator did not stop cleanly" in out and "as saved at" in out
    assert len(model_packages(emulator.running())) == 1
    assert mlops("local", "down")[0] == 0
    assert "did not stop cleanly" not in mlops("local", "up")[1]
    mlops("local", "down")


@any_shape
def test_a_state_that_cannot_be_saved_stops_nothing_and_says_so(mlops, monkeypatch, tmp_path):
    """A full disk, or any write that fails: `down` refuses, the server keeps the state in memory."""
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    assert mlops("local", "up")[0] == 0
    found = emulator.running()
    saved_after(
        found,
        lambda: client(found, "sagemaker").create_model_package(
            ModelPackageGroupName=project().model_package_group
        ),
    )
    blocked = emulator.snapshot_file().with_suffix(".tmp")
    blocked.mkdir()  # where the next save writes first: it cannot
    code, out, err = mlops("local", "down")
    assert code == 1 and not out
    (line,) = err.strip().splitlines()
    assert line.startswith("error: the emulator's state could not be saved to ")
    assert "the emulator is still running" in line and "`mlops local down` again" in line
    assert emulator.running() == found
    blocked.rmdir()
    assert mlops("local", "down")[0] == 0
    assert "restored its state" in mlops("local", "up")[1]
    assert len(model_packages(emulator.running())) == 1
    mlops("local", "down")


@any_shape
def test_a_request_log_of_an_earlier_release_is_not_replayed(mlops, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    (tmp_path / "emulator").mkdir()
    (tmp_path / "emulator" / "recording.jsonl").write_text('{"module": "sagemaker"}\n')
    code, out, err = mlops("local", "up")
    assert code == 0, err
    assert "started empty (the request log of an earlier release is not replayed)" in out
    assert not (tmp_path / "emulator" / "recording.jsonl").exists()
    mlops("local", "down")


@any_shape
def test_down_stops_only_the_server_it_started(mlops, monkeypatch, tmp_path):
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path))
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "emulator.json").write_text(
            json.dumps({"pid": stranger.pid, "url": "http://127.0.0.1:1"})
        )
        code, out, _ = mlops("local", "down")
        assert code == 0 and "not running" in out
        assert stranger.poll() is None, "another process was killed"
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"Type": "Equals", "LeftValue": "0.5", "RightValue": 0.5}, True),
        ({"Type": "GreaterThan", "LeftValue": 2, "RightValue": {"Get": "Parameters.Threshold"}}, True),
        ({"Type": "LessThan", "LeftValue": 2, "RightValue": 1}, False),
        ({"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1, "RightValue": 1}}, False),
        (
            {
                "Type": "Or",
                "Conditions": [
                    {"Type": "Equals", "LeftValue": 1, "RightValue": 2},
                    {"Type": "GreaterThanOrEqualTo", "LeftValue": 2, "RightValue": 2},
                ],
            },
            True,
        ),
        (
            {"Type": "In", "QueryValue": {"Get": "Execution.PipelineExecutionId"}, "Values": ["x", "abc"]},
            True,
        ),
    ],
)
def test_conditions_evaluate_as_sagemaker_does(condition, holds):
    scope = Scope(parameters={"Threshold": 1.5}, execution={"PipelineExecutionId": "abc"})
    assert scope.condition(condition, "Check") is holds


@any_shape
def test_a_warm_host_serves_the_processs_later_runs_until_its_environment_changes(tmp_path):
    """The step libraries are imported once per process and image, never into a changed one."""
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    site_packages = tmp_path / "env" / "lib" / "python3.12" / "site-packages"
    site_packages.mkdir(parents=True)
    host = launchers.warm_host(python, ["json"])
    assert launchers.warm_host(python, ["json"]) is host
    assert launchers.warm_host(python, ["json", "csv"]) is not host  # other libraries to import
    (site_packages / "installed-since.pth").write_text("")
    changed = launchers.warm_host(python, ["json"])
    assert changed is not host
    changed.close()  # a host that stopped is never handed out again
    assert launchers.warm_host(python, ["json"]) is not changed


@any_shape
def test_every_kind_of_step_runs_here():
    """step_kinds.py declares the kinds a definition may hold; each one runs locally."""
    assert set(runner.RUNS) == set(KINDS)


def test_an_unknown_condition_type_names_the_step():
    with pytest.raises(StepError, match=r"step 'Check': .* condition type 'Between'"):
        Scope(parameters={}, execution={}).condition({"Type": "Between"}, "Check")


@pytest.mark.parametrize(
    ("key", "prefix", "local"),
    [
        ("p/code/abc/preprocess.py", "p/code/abc/preprocess.py", "preprocess.py"),
        ("p/preprocess/train/train.csv", "p/preprocess/train", "train.csv"),
        ("p/preprocess/train/train.csv", "p/preprocess/train/", "train.csv"),
        ("p/train/job/output/model.tar.gz", "p/train/job/output/model.tar.gz", "model.tar.gz"),
        ("p/train-extra/a.csv", "p/train", "train-extra/a.csv"),
    ],
)
def test_s3_inputs_land_where_sagemaker_puts_them(key, prefix, local):
    assert _relative(key, prefix) == local


@pytest.fixture(params=["fresh", "warm"])
def launcher(request):
    """Both ways a job starts; they must be indistinguishable to the script."""
    started = FreshProcesses() if request.param == "fresh" else WarmHost(Path(sys.executable), ["json"])
    yield started
    started.close()


def test_a_job_gets_its_arguments_environment_folder_and_exit_code(launcher, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(
        "import os, sys\n"
        "print(sys.argv[1:], os.environ['JOB_SETTING'], os.getcwd(), sys.path[0])\n"
        "sys.exit(3)\n"
    )
    log = tmp_path / "job.log"
    env = {**os.environ, "JOB_SETTING": "on"}
    code = launcher.run([sys.executable, str(script), "--seed", "7"], env, tmp_path, log, timeout=60)
    assert code == 3
    assert log.read_text().split() == ["['--seed',", "'7']", "on", str(tmp_path), str(tmp_path)]


def test_a_job_that_raises_fails_with_its_traceback_in_the_log(launcher, tmp_path):
    script = tmp_path / "job.py"
    script.write_text("raise ValueError('bad input')\n")
    log = tmp_path / "job.log"
    assert launcher.run([sys.executable, str(script)], dict(os.environ), tmp_path, log, timeout=60) == 1
    assert "ValueError: bad input" in log.read_text()


@any_shape
def test_a_job_over_its_time_limit_is_stopped(launcher, tmp_path):
    script = tmp_path / "job.py"
    script.write_text("import time\ntime.sleep(30)\n")
    with pytest.raises(Timeout):
        launcher.run([sys.executable, str(script)], dict(os.environ), tmp_path, tmp_path / "log", timeout=0.5)


# --- each job in its image's libraries ------------------------------------------------------------
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"
VERSIONS = "import sys, numpy, sklearn; print(sys.version_info[:2], numpy.__version__, sklearn.__version__)"


@any_shape
@pytest.mark.parametrize(
    "image, expected",
    [(SKLEARN_IMAGE, "(3, 12) 2.5.1 1.9.0"), (XGBOOST_IMAGE, "(3, 12) 2.1.0 1.8.0")],
    ids=["scikit-learn", "xgboost"],
)
def test_an_images_environment_has_its_python_and_library_versions(image, expected):
    """As the images' published locks give them, not this project's (numpy 2.x, scikit-learn 1.9.x)."""
    python = image_envs.interpreter(image)
    done = subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True)
    assert done.stdout.strip() == expected, done.stderr


@any_shape
def test_an_images_environment_broken_after_it_was_built_is_rebuilt(monkeypatch, tmp_path):
    """Checked against its manifest (the image's package list) before every run: a package gone
    (uninstalled by hand, a cache cleaned halfway) or changed, or its Python gone, is rebuilt."""
    monkeypatch.setattr(image_envs, "cache_folder", lambda: tmp_path)  # not the environments in use
    python = image_envs.interpreter(SKLEARN_IMAGE)
    environment, manifest = python.parent.parent, image_envs.pins(image_envs.image_name(SKLEARN_IMAGE))
    assert image_envs.whole(environment, manifest)
    (numpy,) = environment.glob("lib/python*/site-packages/numpy-*.dist-info")
    shutil.rmtree(numpy)
    assert not image_envs.whole(environment, manifest)
    numpy.mkdir()  # only its record: the environment looks whole again, but is not
    assert image_envs.whole(environment, manifest)
    python.unlink()
    python.symlink_to(tmp_path / "a-python-since-uninstalled")
    assert not image_envs.whole(environment, manifest)
    # One rebuild (what the test costs) replaces it all: numpy is importable again.
    assert image_envs.interpreter(SKLEARN_IMAGE) == python
    assert image_envs.whole(environment, manifest) and numpy.is_dir()
    done = subprocess.run([python, "-c", VERSIONS], capture_output=True, text=True)
    assert done.stdout.strip() == "(3, 12) 2.5.1 1.9.0", done.stderr


@any_shape
def test_an_images_environment_is_built_online_when_uv_offline_is_a_projects_setting(monkeypatch, tmp_path):
    """UV_OFFLINE (set for a project's lock once CI's cache is warm) would leave an image's first
    build, which needs packages no project locked, failing: the build tries the cache, then the
    index. A stand-in for uv that, like uv, finds nothing offline with a cold cache."""
    calls = tmp_path / "calls"
    uv = tmp_path / "uv"
    uv.write_text(f'#!/bin/sh\necho "${{UV_OFFLINE:-online}}" >> {calls}\n[ -z "$UV_OFFLINE" ] || exit 2\n')
    uv.chmod(0o755)
    monkeypatch.setattr(image_envs, "find_uv_bin", lambda: str(uv))
    monkeypatch.setenv("UV_OFFLINE", "1")
    image_envs._uv("pip", "install", "numpy")
    assert calls.read_text().split() == ["1", "online"]
    monkeypatch.delenv("UV_OFFLINE")
    calls.unlink()
    image_envs._uv("pip", "install", "numpy")
    assert calls.read_text().split() == ["online"]


def test_gpu_only_packages_are_left_out_of_the_xgboost_images_environment():
    pinned = image_envs.pins("sagemaker-xgboost:3.2-0")
    assert "xgboost==3.2.0" in pinned and "dask==2026.1.1" in pinned
    gpu_only = ("cuda-", "nvidia-", "pynvml", "dask-cuda", "rapids-")
    assert not [pin for pin in pinned if pin.startswith(gpu_only)]


@pytest.fixture
def preprocess_importing(running_emulator, tmp_path):
    """run(module) -> the local run's result with build/steps/preprocess.py importing module first."""
    script = project().steps_dir / "preprocess.py"
    original = script.read_text()

    def run(module: str) -> runner.RunResult:
        script.write_text(f"import {module}  # noqa: F401\n{original}")
        with emulator.routed(running_emulator):
            built = pipelines.build()
            pipelines.publish(built)
            return runner.run_definition(built.definition(), [], built.target, tmp_path, runner.Progress())

    yield run
    script.write_text(original)


@any_shape
def test_a_step_importing_a_library_its_image_lacks_fails_locally_as_in_sagemaker(
    preprocess_importing, definition
):
    """Preprocess runs in the scikit-learn image, which has no XGBoost; this environment has it."""
    image = step_named(definition, "Preprocess")["Arguments"]["AppSpecification"]["ImageUri"]
    assert "/sagemaker-scikit-learn:" in image
    result = preprocess_importing("xgboost")
    assert result.failed.name == "Preprocess"
    assert result.failed.failure.endswith("ModuleNotFoundError: No module named 'xgboost'")


@any_shape
def test_an_image_whose_python_cannot_be_had_runs_here_and_says_so_once(tmp_path, use_project, monkeypatch):
    listed = tmp_path / "image_packages.json"
    team_image = {"python": "3.99", "packages": {"numpy": "2.3.0"}}
    listed.write_text(json.dumps({"images": {"team-image:1": team_image}}))
    use_project(image_packages=listed)
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")  # a machine uv may not download Pythons on
    notes = []
    pick = image_envs.Interpreters(notes.append)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-image:1"
    assert pick(image) == pick(image) == Path(sys.executable)
    assert notes == [
        "team-image:1: Python 3.99, which team-image:1 runs, is not on this machine (uv python install 3.99);"
        " its jobs run in this project's environment, which may hold libraries the image lacks"
    ]


def test_a_run_compares_with_the_kept_model_of_the_version_prod_yml_names(
    repo, registry, record, use_project
):
    """gate.not_worse_than_prod: the pipeline cannot read git, so `mlops local run` and `pipeline
    start` pass the champion (ChampionModelUrl) from deploy/prod.yml, as the registry has it."""
    config = repo / "build" / "config.yml"
    config.write_text(config.read_text().replace("not_worse_than_prod: false", "not_worse_than_prod: true"))
    use_project(root=repo)
    declares = pipelines.build(offline=True).definition()
    champion = contract.CHAMPION_MODEL_URL
    assert {"Name": champion, "Type": "String", "DefaultValue": ""} in declares["Parameters"]
    evaluate = next(step for step in declares["Steps"] if step["Name"] == "Evaluate")["Arguments"]
    arguments = evaluate["AppSpecification"]["ContainerArguments"]
    assert arguments[arguments.index("--champion-model-url") + 1] == {"Get": f"Parameters.{champion}"}
    assert pipelines.with_prod([], declares) == [], "nothing in prod: nothing to compare with"
    arn = registry()
    record("prod", arn)
    described = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    kept = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    assert pipelines.with_prod(["GateThreshold=0.9"], declares) == [
        "GateThreshold=0.9",
        f"ChampionModelUrl={kept}",
        f"{contract.DATA_BASELINE_URL}={contract.data_baseline(described)}",  # quality.compare_with_prod
    ]
    baseline = f"{contract.DATA_BASELINE_URL}={contract.data_baseline(described)}"
    own = ["ChampionModelUrl="]
    assert pipelines.with_prod(own, declares) == [*own, baseline], "the run's own champion"
    assert pipelines.with_prod([], {"Parameters": []}) == [], "a gate that does not ask"
    record("prod", arn.rsplit("/", 1)[0] + "/99")
    with pytest.raises(MlopsError, match=r"^deploy/prod.yml names .*/99, which the registry does not answer"):
        pipelines.with_prod([], declares)
