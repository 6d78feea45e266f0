"""Tuning: the rules build/config.yml's `tuning` keeps, each search strategy of the local tuner,
`mlops report tuning`, and (for a project that tunes) each strategy built and run locally."""

import itertools
import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from conftest import ANSWERS, any_shape, embedded_spec, tuning_only, walk
from sagemaker_gitops import aws
from sagemaker_gitops.build import pipelines
from sagemaker_gitops.config import MINIMIZED, CategoricalRange, Hyperband, WarmStart, load_config
from sagemaker_gitops.definition.expressions import Scope
from sagemaker_gitops.definition.parameters import resolve_parameters
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.local import emulator, runner
from sagemaker_gitops.local.jobs import JobFailed
from sagemaker_gitops.local.tuning import Tuner
from sagemaker_gitops.project import project
from sagemaker_gitops.reports import tuning as tuning_report

XGBOOST = ANSWERS["framework"] == "xgboost"
RATE = "eta" if XGBOOST else "learning_rate"
ROUNDS = "num_round" if XGBOOST else "max_iter"


# --- the rules -----------------------------------------------------------------------------------


def direction(metric: str) -> str:
    return "Minimize" if metric in MINIMIZED else "Maximize"


@pytest.fixture
def with_tuning(tmp_path, config):
    """with_tuning(**changes) -> the project's config file with a valid Random tuning section, changed."""
    raw = yaml.safe_load(project().config_path.read_text())
    metric = config.emitted_metrics()[0]

    def write(**changes):
        tuning = {
            "strategy": "Random",
            "max_jobs": 4,
            "max_parallel_jobs": 2,
            "objective": {"metric": f"validation:{metric}", "type": direction(metric)},
            "ranges": {RATE: {"type": "continuous", "min": 0.01, "max": 0.3}},
        }
        tuning.update(changes)
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump({**raw, "tuning": {k: v for k, v in tuning.items() if v is not None}}))
        return path

    return write


GRID = {"type": "categorical", "values": [0.1, 0.3]}
HYPERBAND = {"resource": ROUNDS, "min_resource": 10, "max_resource": 200}


@any_shape
@pytest.mark.parametrize(
    ("changes", "rule"),
    [
        (
            {"strategy": "Grid", "max_jobs": None},
            f"Grid searches categorical ranges only: make {RATE} categorical",
        ),
        (
            {"strategy": "Grid", "ranges": {RATE: GRID}},
            "Grid runs every combination of the ranges: remove max_jobs",
        ),
        ({"strategy": "Bayesian", "max_jobs": None}, "max_jobs is required for the Bayesian strategy"),
        ({"max_parallel_jobs": 5}, "max_parallel_jobs must not exceed max_jobs"),
        (
            {"strategy": "Hyperband", "hyperband": HYPERBAND, "early_stopping": True},
            "Hyperband cannot use it",
        ),
        ({"strategy": "Hyperband"}, "hyperband settings go with the Hyperband strategy, and only with it"),
        ({"hyperband": HYPERBAND}, "hyperband settings go with the Hyperband strategy, and only with it"),
        (
            {
                "strategy": "Hyperband",
                "hyperband": HYPERBAND,
                "warm_start": {"type": "TransferLearning", "parents": ["a"]},
            },
            "Hyperband cannot warm start",
        ),
        (
            {"strategy": "Hyperband", "hyperband": {**HYPERBAND, "max_resource": 100_000}},
            f"hyperparameters.{ROUNDS} must be at least tuning.hyperband.max_resource (100000)",
        ),
        ({"objective": {"metric": "validation:nope", "type": "Maximize"}}, "is not one training reports"),
        ({"ranges": {RATE: {"type": "continuous", "min": 0.3, "max": 0.01}}}, "min must be below max"),
        (
            {"ranges": {RATE: {"type": "continuous", "min": 0.0, "max": 0.3, "scaling": "Logarithmic"}}},
            "Logarithmic scaling needs min > 0",
        ),
        ({"ranges": {"problem_type": GRID}}, "'problem_type' is set by the pipeline, not tuned"),
        ({"strategy": "Annealing"}, "tuning.strategy"),
        ({"max_jobs": 501}, "tuning.max_jobs"),
        (
            {"warm_start": {"type": "IdenticalDataAndAlgorithm", "parents": ["not a job name"]}},
            "tuning.warm_start",
        ),
    ],
)
def test_a_tuning_section_the_service_would_refuse_is_refused_on_load(with_tuning, changes, rule):
    with pytest.raises(MlopsError) as refused:
        load_config(with_tuning(**changes))
    assert rule in str(refused.value) and "\n" not in str(refused.value)


@any_shape
def test_the_objective_must_go_the_way_its_metric_improves(with_tuning, config):
    metric = config.emitted_metrics()[0]
    wrong = "Maximize" if direction(metric) == "Minimize" else "Minimize"
    with pytest.raises(MlopsError, match=f"tuning.objective.type must be {direction(metric)}"):
        load_config(with_tuning(objective={"metric": f"validation:{metric}", "type": wrong}))


@any_shape
def test_a_valid_section_loads(with_tuning):
    assert load_config(with_tuning()).tuning.strategy == "Random"
    assert load_config(with_tuning(strategy="Grid", max_jobs=None, ranges={RATE: GRID})).tuning.grid_size == 2


# --- the local tuner's strategies, on a known objective ----------------------------------------
# Training is stood in for by a function with a known best (rate 0.05, depth 5), so each
# strategy's choices can be checked exactly; test_local runs them on the real training script.


def known_objective(tuned: dict[str, str], rounds: int = 200) -> float:
    rate, depth = float(tuned["rate"]), int(float(tuned.get("depth", 5)))
    return (math.log10(rate) - math.log10(0.05)) ** 2 + (depth - 5) ** 2 / 10 + 10 / rounds


def tuning_request(strategy: str, **config) -> dict:
    ranges = {
        "ContinuousParameterRanges": [
            {"Name": "rate", "MinValue": "0.001", "MaxValue": "1", "ScalingType": "Logarithmic"}
        ],
        "IntegerParameterRanges": [
            {"Name": "depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Auto"}
        ],
    }
    return {
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 12, "MaxParallelTrainingJobs": 2},
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:loss"},
            "ParameterRanges": ranges,
            "RandomSeed": 7,
            **config,
        },
        "TrainingJobDefinition": {"StaticHyperParameters": {"num_round": "200"}},
    }


def tune(request: dict, fail: set[int] = frozenset()) -> tuple[dict, list[dict[str, str]]]:
    """Run the tuner with the known objective; -> (properties, the hyperparameters of each call)."""
    calls = []

    def run_trial(name: str, hyperparameters: dict[str, str]) -> dict:
        calls.append(hyperparameters)
        if len(calls) in fail:
            raise JobFailed("AlgorithmError: exit code 1")
        loss = known_objective(hyperparameters, int(hyperparameters.get("num_round", 200)))
        return {"FinalMetricDataList": [{"MetricName": "validation:loss", "Value": loss}]}

    return Tuner("Tune", request, "t-0001", run_trial).run(), calls


@any_shape
@pytest.mark.parametrize("strategy", ["Random", "Bayesian"])
def test_random_and_bayesian_spend_the_budget_within_the_ranges_and_repeat_with_the_seed(strategy):
    properties, calls = tune(tuning_request(strategy))
    assert len(calls) == len(properties["TrainingJobSummaries"]) == 12
    for tried in calls:
        assert 0.001 <= float(tried["rate"]) <= 1 and 1 <= int(tried["depth"]) <= 10
    assert tune(tuning_request(strategy))[1] == calls, "the same seed, the same trials"
    assert tune(tuning_request(strategy, RandomSeed=8))[1] != calls


@any_shape
def test_results_come_best_first_shaped_like_sagemakers():
    properties, _ = tune(tuning_request("Random"), fail={3})
    summaries = properties["TrainingJobSummaries"]
    losses = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries[:-1]]
    assert losses == sorted(losses)
    assert properties["BestTrainingJob"] == summaries[0]
    assert summaries[-1]["TrainingJobStatus"] == "Failed" and "exit code 1" in summaries[-1]["FailureReason"]
    assert properties["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    assert properties["ObjectiveStatusCounters"] == {"Succeeded": 11, "Pending": 0, "Failed": 1}
    assert all(s["TrainingJobName"].startswith("t-0001-") for s in summaries)


@any_shape
def test_grid_tries_every_combination_once():
    ranges = {
        "CategoricalParameterRanges": [
            {"Name": "rate", "Values": ["0.01", "0.05", "0.2"]},
            {"Name": "depth", "Values": ["3", "5"]},
        ]
    }
    request = tuning_request("Grid", ParameterRanges=ranges)
    del request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    properties, calls = tune(request)
    assert sorted((c["rate"], c["depth"]) for c in calls) == sorted(
        itertools.product(["0.01", "0.05", "0.2"], ["3", "5"])
    )
    assert properties["BestTrainingJob"]["TunedHyperParameters"] == {"rate": "0.05", "depth": "5"}


@any_shape
def test_hyperband_gives_the_best_trials_more_rounds_and_stops_the_rest():
    hyperband = {"HyperbandStrategyConfig": {"MinResource": 10, "MaxResource": 200}}
    properties, calls = tune(tuning_request("Hyperband", StrategyConfig=hyperband))
    rounds = [int(c["num_round"]) for c in calls]
    assert rounds == [10] * 12 + [30] * 4 + [90] + [200], (
        "12 trials, then a third of each rung, up to the maximum"
    )
    statuses = [s["TrainingJobStatus"] for s in properties["TrainingJobSummaries"]]
    assert statuses.count("Completed") == 1 and statuses.count("Stopped") == 11
    assert properties["BestTrainingJob"]["TrainingJobStatus"] == "Completed"


@any_shape
def test_a_nan_objective_counts_as_not_reported():
    calls = []

    def run_trial(name: str, hyperparameters: dict[str, str]) -> dict:
        calls.append(name)
        loss = math.nan if len(calls) == 2 else known_objective(hyperparameters)
        return {"FinalMetricDataList": [{"MetricName": "validation:loss", "Value": loss}]}

    properties = Tuner("Tune", tuning_request("Random"), "t-0001", run_trial).run()
    failed = [s for s in properties["TrainingJobSummaries"] if s["TrainingJobStatus"] == "Failed"]
    assert [s["TrainingJobName"] for s in failed] == [calls[1]]
    assert "reported no validation:loss (or NaN)" in failed[0]["FailureReason"]
    assert properties["ObjectiveStatusCounters"]["Failed"] == 1


@any_shape
def test_when_no_trial_reports_the_objective_the_step_fails():
    with pytest.raises(JobFailed, match="no trial reported validation:loss"):
        tune(tuning_request("Random"), fail=set(range(1, 13)))


# --- `mlops report tuning` ---------------------------------------------------------------------


def local_run(run_id: str, strategy: str, metric: str = "", **config) -> str:
    """A local run whose Tune step left tuning-job.json, as `mlops local run` writes it."""
    properties, _ = tune(tuning_request(strategy, **config))
    if metric:  # as if the trials had reported another objective
        properties["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = metric
    folder = Path(os.environ["MLOPS_LOCAL_DIR"]) / "runs" / run_id / "Tune"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tuning-job.json").write_text(json.dumps(properties, default=lambda value: value.isoformat()))
    return run_id


@any_shape
def test_the_report_compares_local_runs_in_one_offline_page_with_its_plots(mlops, tmp_path):
    random_run, seeded_again = (
        local_run("randomrun01", "Random"),
        local_run("randomrun02", "Random", RandomSeed=9),
    )
    code, out, _ = mlops("report", "tuning", random_run, seeded_again, "--out-dir", str(tmp_path))

    assert code == 0 and "tuning-report.html" in out
    for name in tuning_report.PLOTS:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name
    page = (tmp_path / "tuning-report.html").read_text()
    assert "<script src" not in page.replace(" ", "") and "vegaEmbed(" in page, "Vega's JavaScript is inlined"
    for run in (random_run, seeded_again):
        best = tuning_report.load(run).best
        assert f"<td>{run}</td>" in page and f"<td>{best.objective:.6g}</td>" in page
    assert "validation:loss (lower is better)" in page
    rows = embedded_spec(page)["datasets"]
    assert sum(len(values) for values in rows.values()) >= 24, "every trial of both jobs is drawn"


@any_shape
def test_the_views_are_linked_and_show_every_hyperparameter(mlops, tmp_path):
    """amtviz's brush, linked across the views; tooltips with every hyperparameter; the axis of a
    Logarithmic range drawn in log; trials Hyperband stopped early drawn as crosses."""
    hyperband = {"StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 20, "MaxResource": 200}}}
    runs = local_run("bandrun01", "Hyperband", **hyperband), local_run("randomrun04", "Random")
    assert mlops("report", "tuning", *runs, "--out-dir", str(tmp_path))[0] == 0
    spec = embedded_spec((tmp_path / "tuning-report.html").read_text())

    brushes = [p for p in walk(spec) if p.get("select", {}).get("type") == "interval" and "bind" not in p]
    assert len(brushes) == 1 and brushes[0]["select"]["resolve"] == "intersect"
    points = [v for v in walk(spec) if v.get("mark", {}).get("type") == "point"]
    assert len(brushes[0]["views"]) >= len(points) >= 4, "one brush over every view of trials"
    for view in points:
        titles = {t.get("title", t["field"]) for t in view["encoding"]["tooltip"]}
        assert {"rate", "depth", "validation:loss", "training job", "status"} <= titles
    scales = {v["encoding"]["x"]["title"]: v["encoding"]["x"].get("scale", {}) for v in points}
    assert scales["rate"]["type"] == "log" and scales["depth"]["type"] == "linear"
    shape = next(v["encoding"]["shape"]["scale"] for v in points)
    assert dict(zip(shape["domain"], shape["range"], strict=True))["Stopped"] == "cross"
    statuses = {row["status"] for values in spec["datasets"].values() for row in values}
    assert statuses == {"Completed", "Stopped"}


@any_shape
def test_a_warm_start_parent_is_read_with_its_child(mlops, tmp_path):
    parent = local_run("parentrun01", "Random")
    child = local_run("childrun01", "Bayesian")
    record = Path(os.environ["MLOPS_LOCAL_DIR"]) / "runs" / child / "Tune" / "tuning-job.json"
    document = json.loads(record.read_text())
    document["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    record.write_text(json.dumps(document))
    assert [job.name for job in tuning_report.load_with_parents([child])] == [child, parent]
    assert mlops("report", "tuning", child, "--out-dir", str(tmp_path))[0] == 0
    page = (tmp_path / "tuning-report.html").read_text()
    assert f"<td>{parent}</td>" in page and f"<td>{parent}</td></tr>" in page.split(f"<td>{child}</td>")[1]


@any_shape
def test_the_best_so_far_line_only_improves():
    job = tuning_report.load(local_run("randomrun03", "Random"))
    line = job.best_so_far()
    assert len(line) == len(job.scored) == 12
    assert all(later <= earlier for earlier, later in itertools.pairwise(line))
    assert line[-1] == job.best.objective


ACCOUNT = "arn:aws:sagemaker:us-east-1:111122223333"


@any_shape
def test_a_sagemaker_tuning_job_is_read_through_its_two_apis(monkeypatch):
    """moto has no ListTrainingJobsForHyperParameterTuningJob: botocore's Stubber answers with
    responses it checks against the service's own model, as AWS would shape them."""
    sagemaker = boto3.client("sagemaker", region_name=aws.region())
    stubber = Stubber(sagemaker)
    started = datetime(2026, 11, 1, 12, tzinfo=UTC)
    stubber.add_response(
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": "amt-0001",
            "HyperParameterTuningJobArn": f"{ACCOUNT}:hyper-parameter-tuning-job/amt-0001",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1},
            },
            "HyperParameterTuningJobStatus": "Completed",
            "CreationTime": started,
            "TrainingJobStatusCounters": {"Completed": 2, "NonRetryableError": 1},
            "ObjectiveStatusCounters": {"Succeeded": 2, "Failed": 1},
        },
        {"HyperParameterTuningJobName": "amt-0001"},
    )
    summaries = [
        {
            "TrainingJobName": f"amt-0001-00{index}-abcdef12",
            "TrainingJobArn": f"{ACCOUNT}:training-job/amt-0001-00{index}-abcdef12",
            "CreationTime": started,
            "TrainingEndTime": started + timedelta(minutes=index),
            "TrainingJobStatus": status,
            "TunedHyperParameters": {"eta": eta},
            **(
                {
                    "FinalHyperParameterTuningJobObjectiveMetric": {
                        "MetricName": "validation:auc",
                        "Value": auc,
                    }
                }
                if auc
                else {}
            ),
        }
        for index, (status, eta, auc) in enumerate(
            [("Completed", "0.1", 0.91), ("Failed", "0.5", None), ("Completed", "0.03", 0.95)], 1
        )
    ]
    stubber.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": summaries},
        {"HyperParameterTuningJobName": "amt-0001"},
    )
    monkeypatch.setattr(aws, "client", lambda service: sagemaker)
    with stubber:
        job = tuning_report.load("amt-0001")
    stubber.assert_no_pending_responses()
    assert (job.strategy, job.metric, job.maximize) == ("Bayesian", "validation:auc", True)
    assert len(job.trials) == 3 and len(job.scored) == 2
    assert job.best.tuned == {"eta": "0.03"} and job.best_so_far() == [0.91, 0.95]


@any_shape
@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        (["../etc"], "'../etc' is not a tuning job name or a local run id"),
        (
            ["nosuchjob"],
            "'nosuchjob' is neither a local run with a tuning step (.mlops/runs/) nor a tuning job",
        ),
    ],
)
def test_a_job_that_cannot_be_found_is_refused_in_one_line(mlops, tmp_path, monkeypatch, jobs, message):
    sagemaker = boto3.client("sagemaker", region_name=aws.region())
    stubber = Stubber(sagemaker)
    stubber.add_client_error(
        "describe_hyper_parameter_tuning_job", "ResourceNotFound", "Amazon SageMaker can't find a tuning job"
    )
    monkeypatch.setattr(aws, "client", lambda service: sagemaker)
    with stubber:
        code, _, err = mlops("report", "tuning", *jobs, "--out-dir", str(tmp_path / "out"))
    assert code == 1 and message in err and err.strip().count("\n") == 0
    assert not (tmp_path / "out").exists()


@any_shape
def test_without_a_job_the_report_takes_the_newest_local_run(mlops, running_emulator, tmp_path):
    """While the emulator runs, as `report notebooks` takes the newest execution."""
    for earlier in (Path(os.environ["MLOPS_LOCAL_DIR"]) / "runs").glob("*/*/tuning-job.json"):
        os.utime(earlier, (1, 1))  # the module's other runs, made long ago
    older, newer = local_run("olderrun01", "Random"), local_run("newerrun01", "Random", RandomSeed=3)
    os.utime(Path(os.environ["MLOPS_LOCAL_DIR"]) / "runs" / older / "Tune" / "tuning-job.json", (2, 2))

    code, _, err = mlops("report", "tuning", "--out-dir", str(tmp_path))

    assert code == 0, err
    page = (tmp_path / "tuning-report.html").read_text()
    assert f"<td>{newer}</td>" in page and older not in page


@any_shape
def test_without_a_job_the_report_takes_the_newest_executions_tuning_step(monkeypatch):
    sagemaker = boto3.client("sagemaker", region_name=aws.region())
    stubber = Stubber(sagemaker)
    arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/my-model/execution/"
    stubber.add_response(
        "list_pipeline_executions",
        {
            "PipelineExecutionSummaries": [
                {"PipelineExecutionArn": arn + "newest"},  # its tuning step was cached away: none
                {"PipelineExecutionArn": arn + "before"},
            ]
        },
    )
    stubber.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": [{"StepName": "Train"}]})
    tuned = {
        "StepName": "Tune",
        "Metadata": {"TuningJob": {"Arn": "arn:aws:sagemaker:::hyper-parameter-tuning-job/before-tune"}},
    }
    stubber.add_response("list_pipeline_execution_steps", {"PipelineExecutionSteps": [tuned]})
    monkeypatch.setattr(aws, "client", lambda service: sagemaker)
    with stubber:
        assert tuning_report.newest() == "before-tune"


@any_shape
def test_jobs_of_different_objectives_are_not_compared(mlops, tmp_path):
    first, other = (
        local_run("lossrun01", "Random"),
        local_run("otherrun01", "Random", metric="validation:other"),
    )
    code, _, err = mlops("report", "tuning", first, other, "--out-dir", str(tmp_path))
    assert code == 1 and "optimise different metrics" in err


# --- each strategy, built into this project's pipeline and run ----------------------------------


@pytest.fixture
def built_with(monkeypatch, config):
    """built_with(offline, **tuning changes) -> the pipeline of build/config.yml with its tuning changed."""

    def build(offline: bool, **changes):
        tuning = config.tuning.model_copy(update=changes)
        monkeypatch.setattr(pipelines, "load_config", lambda _: config.model_copy(update={"tuning": tuning}))
        return pipelines.build(offline=offline)

    return build


STRATEGIES = {
    "Random": {"strategy": "Random", "max_jobs": 2, "early_stopping": False, "hyperband": None},
    "Bayesian": {"strategy": "Bayesian", "max_jobs": 2, "early_stopping": True, "hyperband": None},
    "Grid": {"strategy": "Grid", "max_jobs": None, "early_stopping": False, "hyperband": None},
    "Hyperband": {"strategy": "Hyperband", "max_jobs": 2, "early_stopping": False, "warm_start": None},
}


@tuning_only
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_builds_a_definition_and_runs_locally(
    built_with, config, running_emulator, tmp_path, strategy
):
    changes = dict(STRATEGIES[strategy])
    if strategy == "Grid":
        changes["ranges"] = {RATE: CategoricalRange(type="categorical", values=[0.05, 0.2])}
    if strategy == "Hyperband":
        changes["hyperband"] = Hyperband(resource=ROUNDS, min_resource=20, max_resource=60)
    said = []

    class Recorded(runner.Progress):
        def update(self, step: str, message: str) -> None:
            said.append((step, message))

    with emulator.routed(running_emulator):
        built = built_with(False, **changes)
        pipelines.publish(built)
        definition = built.definition()
        result = runner.run_definition(definition, [], built.target, tmp_path, Recorded())
    tune = next(step for step in result.steps if step.name == "Tune")
    assert tune.status == "Succeeded", tune.failure
    metric = config.tuning.objective.metric
    assert tune.outputs[0].startswith(f"2 trials ({strategy}), best {metric} = ")
    # While it ran, the tuning step said how far it had got (Hyperband continues a trial in later rungs).
    assert said[0] == ("Tune", "trial 1 of 2 done, best " + said[0][1].split("best ", 1)[1])
    assert ("Tune", f"trial 2 of 2 done, best {metric} = " + said[-1][1].rsplit(" = ", 1)[1]) == said[-1]


@tuning_only
def test_warm_start_appears_in_the_definition_when_configured(built_with):
    parents = [f"{project().slug[:20]}-tune-0001", f"{project().slug[:20]}-tune-0002"]
    warm = WarmStart(type="IdenticalDataAndAlgorithm", parents=parents)
    definition = built_with(True, **STRATEGIES["Random"] | {"warm_start": warm}).definition()
    tune = next(s for s in definition["Steps"] if s["Name"] == "Tune")
    assert tune["Arguments"]["WarmStartConfig"] == {
        "WarmStartType": "IdenticalDataAndAlgorithm",
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": {"Get": "Parameters.WarmStartParent"}},
            {"HyperParameterTuningJobName": parents[1]},
        ],
    }
    declared = next(p for p in definition["Parameters"] if p["Name"] == "WarmStartParent")
    assert declared == {"Name": "WarmStartParent", "Type": "String", "DefaultValue": parents[0]}

    # A run may start from another job: the parameter is what the tuning request names.
    other = f"{project().slug[:20]}-tune-0042"
    values = resolve_parameters(definition["Parameters"], [{"Name": "WarmStartParent", "Value": other}])
    resolved = Scope(parameters=values, execution={}).resolve(tune["Arguments"]["WarmStartConfig"], "Tune")
    assert [p["HyperParameterTuningJobName"] for p in resolved["ParentHyperParameterTuningJobs"]] == [
        other,
        parents[1],
    ]


@tuning_only
def test_without_warm_start_there_is_no_warm_start_parameter(built_with):
    definition = built_with(True, **STRATEGIES["Random"] | {"warm_start": None}).definition()
    assert "WarmStartParent" not in {p["Name"] for p in definition["Parameters"]}
    tune = next(s for s in definition["Steps"] if s["Name"] == "Tune")
    assert "WarmStartConfig" not in tune["Arguments"]
