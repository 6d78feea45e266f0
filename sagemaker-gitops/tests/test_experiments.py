"""Experiments: `mlops report experiments` and `mlops pipeline attach-trials` on SageMaker.

moto has no ListPipelineExecutionSteps nor ListTrainingJobsForHyperParameterTuningJob, so
botocore's Stubber answers, checking each request and response against the service's own model.
(The report from real local runs is in test_local.py.)"""

import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from conftest import embedded_spec, walk
from sagemaker_gitops import aws
from sagemaker_gitops.build import trials
from sagemaker_gitops.project import project
from sagemaker_gitops.reports import experiments as experiments_report

ACCOUNT = f"arn:aws:sagemaker:{project().region}:123456789012"
PIPELINE = f"{ACCOUNT}:pipeline/{project().pipeline_name}"
STARTED = datetime(2026, 11, 1, 12, tzinfo=UTC)
DESCRIPTION = f"git {'a' * 40}-dirty; config 0123456789ab; label tuned"  # as `pipeline start` writes it
EVALUATION_URI = "s3://bucket/executions/{}/evaluate/evaluation"


@pytest.fixture
def stubbed(monkeypatch):
    """SageMaker and S3 clients whose every answer the test gives; aws.client hands them out."""
    clients = {service: boto3.client(service, region_name=aws.region()) for service in ("sagemaker", "s3")}
    stubbers = {service: Stubber(client) for service, client in clients.items()}
    monkeypatch.setattr(aws, "client", lambda service: clients[service])
    for stubber in stubbers.values():
        stubber.activate()
    yield stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


def execution_arn(execution_id: str) -> str:
    return f"{PIPELINE}/execution/{execution_id}"


def summary(execution_id: str, status: str, minutes: int, description: str = "") -> dict:
    return {
        "PipelineExecutionArn": execution_arn(execution_id),
        "PipelineExecutionStatus": status,
        "StartTime": STARTED + timedelta(minutes=minutes),
        **({"PipelineExecutionDescription": description} if description else {}),
    }


def expect_execution(stubbers, definition, execution_id, threshold, training, evaluation):
    """The calls the report makes for one execution, in order, with SageMaker-shaped answers."""
    sagemaker, s3 = stubbers["sagemaker"], stubbers["s3"]
    arn = {"PipelineExecutionArn": execution_arn(execution_id)}
    sagemaker.add_response(
        "list_pipeline_parameters_for_execution",
        {"PipelineParameters": [{"Name": "GateThreshold", "Value": threshold}]},
        arn,
    )
    kind, job_name, described = training
    evaluate_job = f"pipelines-{execution_id}-evaluate"
    sagemaker.add_response(
        "list_pipeline_execution_steps",
        {
            "PipelineExecutionSteps": [
                {
                    "StepName": "CheckGate",
                    "StepStatus": "Succeeded",
                    "Metadata": {"Condition": {"Outcome": "True"}},
                },
                {
                    "StepName": "Evaluate",
                    "StepStatus": "Succeeded",
                    "Metadata": {"ProcessingJob": {"Arn": f"{ACCOUNT}:processing-job/{evaluate_job}"}},
                },
                {
                    "StepName": kind,
                    "StepStatus": "Succeeded",
                    "Metadata": {f"{kind}Job": {"Arn": f"{ACCOUNT}:job/{job_name}"}},
                },
            ]
        },
        arn,
    )
    sagemaker.add_response(
        "describe_pipeline_definition_for_execution",
        {"PipelineDefinition": json.dumps(definition), "CreationTime": STARTED},
        arn,
    )
    sagemaker.add_response(
        "describe_processing_job",
        {
            "ProcessingJobName": evaluate_job,
            "ProcessingJobArn": f"{ACCOUNT}:processing-job/{evaluate_job}",
            "ProcessingJobStatus": "Completed",
            "CreationTime": STARTED,
            "AppSpecification": {"ImageUri": "sklearn"},
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
            },
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "evaluation",
                        "S3Output": {
                            "S3Uri": EVALUATION_URI.format(execution_id),
                            "LocalPath": "/opt/ml/processing/evaluation",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        },
        {"ProcessingJobName": evaluate_job},
    )
    body = json.dumps(evaluation).encode()
    s3.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body))},
        {"Bucket": "bucket", "Key": f"executions/{execution_id}/evaluate/evaluation/evaluation.json"},
    )
    operation, key = (
        ("describe_training_job", "TrainingJobName")
        if kind == "Training"
        else ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName")
    )
    sagemaker.add_response(operation, described, {key: job_name})


def training_job(name: str, hyperparameters: dict, metrics: dict) -> dict:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"{ACCOUNT}:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://bucket/{name}/output/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": STARTED,
        "HyperParameters": hyperparameters,
        "FinalMetricDataList": [
            {"MetricName": name, "Value": value, "Timestamp": STARTED} for name, value in metrics.items()
        ],
    }


def tuning_job(name: str, static: dict, tuned: dict, objective: tuple[str, float]) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": f"{ACCOUNT}:hyper-parameter-tuning-job/{name}",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": objective[0]},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": name, "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
                    for name in tuned
                ]
            },
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": static,
            "AlgorithmSpecification": {"TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::123456789012:role/execution",
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/tune"},
            "ResourceConfig": {"VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        "HyperParameterTuningJobStatus": "Completed",
        "CreationTime": STARTED,
        "TrainingJobStatusCounters": {"Completed": 4},
        "ObjectiveStatusCounters": {"Succeeded": 4},
        "BestTrainingJob": {
            "TrainingJobName": f"{name}-003-abcdef12",
            "TrainingJobArn": f"{ACCOUNT}:training-job/{name}-003-abcdef12",
            "CreationTime": STARTED,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": tuned,
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "MetricName": objective[0],
                "Value": objective[1],
            },
        },
    }


def evaluation(problem_type: str, **metrics: float) -> dict:
    return {f"{problem_type}_metrics": {name: {"value": value} for name, value in metrics.items()}}


def test_executions_are_read_through_the_pipeline_apis(stubbed, definition, config, tmp_path):
    problem = config.problem_type
    stubbed["sagemaker"].add_response(
        "list_pipeline_executions",
        {
            "PipelineExecutionSummaries": [
                summary(
                    "newest000002", "Succeeded", 60, f"git {'a' * 40}-dirty; config 0123456789ab; label tuned"
                ),
                summary("oldest000001", "Failed", 0),
                summary("tooold000000", "Succeeded", -60),  # beyond --last 2: never read
            ]
        },
        {"PipelineName": project().pipeline_name, "SortBy": "CreationTime", "SortOrder": "Descending"},
    )
    expect_execution(
        stubbed,
        definition,
        "newest000002",
        "0.5",
        (
            "Tuning",
            "tune-0002",
            tuning_job("tune-0002", {"depth": "3"}, {"rate": "0.1"}, ("validation:loss", 0.2)),
        ),
        evaluation(problem, loss=0.25, extra=0.9),
    )
    expect_execution(
        stubbed,
        definition,
        "oldest000001",
        "0.1",
        (
            "Training",
            "train-0001",
            training_job(
                "train-0001",
                {"depth": "3", "rate": "0.3", "sagemaker_program": "train.py"},
                {"validation:loss": 0.4},
            ),
        ),
        evaluation(problem, loss=0.45, extra=0.7),
    )

    executions = experiments_report.load_from_sagemaker(last=2)

    oldest, newest = executions  # oldest first, whatever order SageMaker answered in
    assert (oldest.id, oldest.status, newest.id, newest.status) == (
        "oldest000001",
        "Failed",
        "newest000002",
        "Succeeded",
    )
    assert oldest.parameters == {"GateThreshold": "0.1"} and newest.parameters == {"GateThreshold": "0.5"}
    assert oldest.hyperparameters == {"depth": "3", "rate": "0.3"}, "SageMaker's own left out"
    assert (newest.hyperparameters, newest.tuned) == ({"depth": "3"}, {"rate": "0.1"}), "fixed; chosen"
    assert newest.search_space == "rate 0.01-0.5 log" and oldest.search_space == ""
    assert newest.provenance == {"git": f"{'a' * 40}-dirty", "config": "0123456789ab", "label": "tuned"}
    assert oldest.metrics == {"validation:loss": 0.4, "test:loss": 0.45, "test:extra": 0.7}
    assert newest.metrics == {"validation:loss": 0.2, "test:loss": 0.25, "test:extra": 0.9}
    # The definition passes GateThreshold only to Evaluate and the gate: it cannot change a metric.
    assert "GateThreshold" not in newest.model_parameters and "InputDataUrl" in newest.model_parameters

    page = experiments_report.write(executions, "test:loss", tmp_path).read_text()
    went_in, came_out = page.split("<h2>What came out</h2>")
    assert (
        "<th>GateThreshold</th>" in went_in and "<th>rate</th>" in went_in and "<th>depth</th>" not in went_in
    )
    assert "<td>aaaaaaaaaaaa-dirty</td>" in went_in and "<td>tuned</td>" in went_in
    assert "The same in every execution: depth=3" in went_in
    assert "cannot change one: GateThreshold" in went_in
    assert "<th>tuned rate</th>" in came_out and "<td>0.1</td>" in came_out
    for name in experiments_report.PLOTS:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name
    points = [v for v in walk(embedded_spec(page)) if v.get("mark", {}).get("type") == "point"]
    plotted = {view["encoding"]["x"]["title"] for view in points if "title" in view["encoding"]["x"]}
    assert plotted == {"rate", "tuned rate"}, "GateThreshold changed, but only the gate reads it"


def test_a_pipeline_without_executions_is_refused_in_one_line(stubbed, mlops, tmp_path):
    stubbed["sagemaker"].add_response("list_pipeline_executions", {"PipelineExecutionSummaries": []})
    code, _, err = mlops("report", "experiments", "--out-dir", str(tmp_path / "out"))
    assert code == 1 and f"pipeline {project().pipeline_name!r} has no execution in" in err
    assert err.strip().count("\n") == 0 and not (tmp_path / "out").exists()


def test_an_unreadable_pipeline_is_refused_in_one_line(stubbed, mlops, tmp_path):
    stubbed["sagemaker"].add_client_error(
        "list_pipeline_executions",
        "ResourceNotFound",
        f"Pipeline '{project().pipeline_name}' does not exist.",
    )
    code, _, err = mlops("report", "experiments", "--out-dir", str(tmp_path / "out"))
    assert code == 1 and f"cannot read the executions of pipeline {project().pipeline_name!r}" in err
    assert "does not exist" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--local", "--metric", "test:nosuch"], "no execution has metric 'test:nosuch': they have "),
        (["--last", "0"], "Invalid value for '--last'"),
    ],
)
def test_bad_options_are_refused(mlops, tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "state"))
    record = {
        "PipelineExecutionArn": execution_arn("localrun0001"),
        "PipelineExecutionStatus": "Succeeded",
        "CreationTime": STARTED.isoformat(),
        "PipelineParameters": [{"Name": "GateThreshold", "Value": "0.5"}],
        "Steps": [],
        "PropertyFiles": {"Evaluate": {"EvaluationReport": evaluation("any", loss=0.3)}},
    }
    (tmp_path / "state" / "runs" / "localrun0001").mkdir(parents=True)
    (tmp_path / "state" / "runs" / "localrun0001" / "execution.json").write_text(json.dumps(record))
    code, _, err = mlops("report", "experiments", *args, "--out-dir", str(tmp_path / "out"))
    assert code in (1, 2) and message in err
    assert not (tmp_path / "out").exists()


def test_local_runs_of_the_batch_pipeline_are_not_experiments(tmp_path, monkeypatch):
    """A batch pipeline's run (`mlops local run --pipeline batch`) scores; it trains nothing to compare."""
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "state"))
    batch_arn = f"{ACCOUNT}:pipeline/{project().pipeline_name_of('batch')}/execution/batchrun0001"
    for execution, arn in (("localrun0001", execution_arn("localrun0001")), ("batchrun0001", batch_arn)):
        record = {
            "PipelineExecutionArn": arn,
            "PipelineExecutionStatus": "Succeeded",
            "CreationTime": STARTED.isoformat(),
            "PipelineParameters": [],
            "Steps": [],
            "PropertyFiles": {},
        }
        (tmp_path / "state" / "runs" / execution).mkdir(parents=True)
        (tmp_path / "state" / "runs" / execution / "execution.json").write_text(json.dumps(record))
    assert [e.id for e in experiments_report.load_local()] == ["localrun0001"]


def test_no_local_run_is_refused_in_one_line(mlops, tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_LOCAL_DIR", str(tmp_path / "empty"))
    code, _, err = mlops("report", "experiments", "--local", "--out-dir", str(tmp_path / "out"))
    assert code == 1 and "no local run is recorded in" in err and "mlops local run" in err
    assert err.strip().count("\n") == 0


# --- attach-trials: a tuning step's trials into their execution's run group -----------------------


def expect_tuning_step(sagemaker, execution_id: str, tuning_job: str | None) -> None:
    steps = [{"StepName": "Preprocess", "StepStatus": "Succeeded", "Metadata": {}}]
    if tuning_job:
        arn = f"{ACCOUNT}:hyper-parameter-tuning-job/{tuning_job}"
        steps.append({"StepName": "Tune", "StepStatus": "Succeeded", "Metadata": {"TuningJob": {"Arn": arn}}})
    sagemaker.add_response(
        "list_pipeline_execution_steps",
        {"PipelineExecutionSteps": steps},
        {"PipelineExecutionArn": execution_arn(execution_id)},
    )


def expect_trials(sagemaker, tuning_job: str, trials: list[str], in_run_group: list[str], execution_id: str):
    sagemaker.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {
            "TrainingJobSummaries": [
                {
                    "TrainingJobName": name,
                    "TrainingJobArn": f"{ACCOUNT}:training-job/{name}",
                    "CreationTime": STARTED,
                    "TrainingJobStatus": "Completed",
                    "TunedHyperParameters": {"rate": "0.1"},
                }
                for name in trials
            ]
        },
        {"HyperParameterTuningJobName": tuning_job},
    )
    sagemaker.add_response(
        "list_trial_components",
        {"TrialComponentSummaries": [{"TrialComponentName": name} for name in in_run_group]},
        {"TrialName": execution_id},
    )


def test_each_ended_executions_trials_join_its_run_group_once(stubbed, mlops):
    sagemaker = stubbed["sagemaker"]
    sagemaker.add_response(
        "list_pipeline_executions",
        {
            "PipelineExecutionSummaries": [
                summary("running00003", "Executing", 120),  # its trials are not all there yet
                summary("tuned0000002", "Succeeded", 60),
                summary("plain0000001", "Failed", 0),
            ]
        },
        {"PipelineName": project().pipeline_name, "SortBy": "CreationTime", "SortOrder": "Descending"},
    )
    expect_tuning_step(sagemaker, "tuned0000002", "tune-0002")
    expect_trials(
        sagemaker,
        "tune-0002",
        ["tune-0002-001-aaaaaaaa", "tune-0002-002-bbbbbbbb", "tune-0002-003-cccccccc"],
        ["tune-0002-001-aaaaaaaa-aws-training-job", "pipelines-tuned0000002-Preprocess-aws-processing-job"],
        "tuned0000002",
    )
    sagemaker.add_response(
        "associate_trial_component",
        {},
        {"TrialComponentName": "tune-0002-002-bbbbbbbb-aws-training-job", "TrialName": "tuned0000002"},
    )
    sagemaker.add_client_error(
        "associate_trial_component",
        "ResourceNotFound",
        "Trial component does not exist",
        expected_params={
            "TrialComponentName": "tune-0002-003-cccccccc-aws-training-job",
            "TrialName": "tuned0000002",
        },
    )
    expect_tuning_step(sagemaker, "plain0000001", None)

    code, out, err = mlops("pipeline", "attach-trials", "--last", "3")

    assert code == 0, err
    assert out.strip() == "tuned0000002 (tune-0002): 1 attached, 1 already there, 1 without a trial component"


def test_trials_already_in_their_run_group_are_left_alone(stubbed):
    sagemaker = stubbed["sagemaker"]
    sagemaker.add_response(
        "list_pipeline_executions", {"PipelineExecutionSummaries": [summary("tuned0000002", "Stopped", 0)]}
    )
    expect_tuning_step(sagemaker, "tuned0000002", "tune-0002")
    expect_trials(
        sagemaker,
        "tune-0002",
        ["tune-0002-001-aaaaaaaa"],
        ["tune-0002-001-aaaaaaaa-aws-training-job"],
        "tuned0000002",
    )

    # No associate_trial_component is expected: the Stubber fails the test if one is made.
    assert trials.attach_trials(last=5) == [trials.Attached("tuned0000002", "tune-0002", 0, 1, 0)]


def test_without_a_tuning_step_there_is_nothing_to_attach(stubbed, mlops):
    sagemaker = stubbed["sagemaker"]
    sagemaker.add_response(
        "list_pipeline_executions", {"PipelineExecutionSummaries": [summary("plain0000001", "Succeeded", 0)]}
    )
    expect_tuning_step(sagemaker, "plain0000001", None)
    code, out, _ = mlops("pipeline", "attach-trials")
    assert (
        code == 0 and out.strip() == "no tuning step in the last 20 executions that ended: nothing to attach"
    )


def test_attach_trials_that_cannot_read_the_pipeline_says_so_in_one_line(stubbed, mlops):
    stubbed["sagemaker"].add_client_error(
        "list_pipeline_executions",
        "AccessDeniedException",
        "not authorized to perform: sagemaker:ListPipelineExecutions",
    )
    code, _, err = mlops("pipeline", "attach-trials")
    assert code == 1 and f"cannot attach the trials of pipeline {project().pipeline_name!r}" in err
    assert "not authorized" in err and err.strip().count("\n") == 0
