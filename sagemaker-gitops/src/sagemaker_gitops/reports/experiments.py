"""`mlops report experiments`: parameters against metrics across pipeline executions.

Each execution is one row: the pipeline parameters it ran with, the hyperparameters of the model
it trained (the best trial's when the pipeline tunes), the training job's final metrics (e.g.
`validation:rmse`) and the test metrics of its evaluation report (`test:rmse`). They come from
SageMaker (ListPipelineExecutions, ListPipelineParametersForExecution, ListPipelineExecutionSteps,
the steps' Describe* calls and the property files on S3), or from the records `mlops local run`
keeps in .mlops/runs/<id>/execution.json, which hold the same responses: one reader for both.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from botocore.exceptions import ClientError

from .. import aws
from ..errors import MlopsError
from ..local.definition import parse as parse_definition
from ..local.emulator import state_dir
from ..pipelines import execution_steps, newest_executions
from ..project import project
from . import page

PLOTS = {
    "metrics-by-execution.png": "Each metric, execution by execution (oldest first)",
    "parameters-vs-metric.png": "Each parameter that changed between executions, against the metric",
}


@dataclass(frozen=True)
class Execution:
    id: str
    status: str
    started: datetime
    parameters: dict[str, str]  # pipeline parameters and the trained model's hyperparameters
    metrics: dict[str, float]


def from_record(record: dict) -> Execution:
    """An Execution from SageMaker's responses about it (see the module's docstring)."""
    parameters = {p["Name"]: str(p["Value"]) for p in record["PipelineParameters"]}
    metrics: dict[str, float] = {}
    for step in record["Steps"]:
        properties = step.get("Properties") or {}
        hyperparameters, trained = _training(properties)
        parameters.update({name: value for name, value in hyperparameters.items() if _is_users(name)})
        metrics.update(trained)
    for documents in record.get("PropertyFiles", {}).values():
        for document in documents.values():
            metrics.update(_test_metrics(document))
    return Execution(
        id=record["PipelineExecutionArn"].rsplit("/", 1)[-1],
        status=record["PipelineExecutionStatus"],
        started=_time(record["CreationTime"]),
        parameters=parameters,
        metrics=metrics,
    )


def _training(properties: dict) -> tuple[dict[str, str], dict[str, float]]:
    """Hyperparameters and final metrics of a training step, or of a tuning step's best trial."""
    if "BestTrainingJob" in properties:
        best = properties["BestTrainingJob"]
        static = properties.get("TrainingJobDefinition", {}).get("StaticHyperParameters", {})
        objective = best.get("FinalHyperParameterTuningJobObjectiveMetric")
        metrics = {objective["MetricName"]: objective["Value"]} if objective else {}
        return {**static, **best.get("TunedHyperParameters", {})}, metrics
    if "TrainingJobName" in properties:
        metrics = {m["MetricName"]: m["Value"] for m in properties.get("FinalMetricDataList", [])}
        return properties.get("HyperParameters", {}), metrics
    return {}, {}


def _is_users(hyperparameter: str) -> bool:
    # SageMaker adds its own (sagemaker_*, _tuning_objective_metric); they say nothing about the model.
    return not hyperparameter.startswith(("sagemaker_", "_"))


def _test_metrics(document) -> dict[str, float]:
    """evaluation.json's {"<problem>_metrics": {name: {"value": x}}} as test:<name>."""
    found = {}
    for key, metrics in document.items() if isinstance(document, dict) else []:
        if key.endswith("_metrics") and isinstance(metrics, dict):
            found.update({f"test:{name}": value["value"] for name, value in metrics.items()})
    return found


def _time(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def load_local() -> list[Execution]:
    records = sorted((state_dir() / "runs").glob("*/execution.json"))
    if not records:
        raise MlopsError(f"no local run is recorded in {state_dir() / 'runs'}: run `mlops local run` first")
    return sorted((from_record(json.loads(path.read_text())) for path in records), key=lambda e: e.started)


def load_from_sagemaker(last: int) -> list[Execution]:
    """The newest `last` executions of this project's pipeline, oldest first."""
    sagemaker = aws.client("sagemaker")
    try:
        summaries = newest_executions(sagemaker, last)
        executions = [from_record(_record(sagemaker, summary)) for summary in summaries]
    except ClientError as error:
        where = f"pipeline {project().pipeline_name!r} in {aws.region()}"
        raise MlopsError(f"cannot read the executions of {where}: {aws.explain(error)}") from None
    if not executions:
        raise MlopsError(
            f"pipeline {project().pipeline_name!r} has no execution in {aws.region()}:"
            " run `mlops pipeline start`"
        )
    return sorted(executions, key=lambda e: e.started)


def _record(sagemaker, summary: dict) -> dict:
    arn = summary["PipelineExecutionArn"]
    paginator = sagemaker.get_paginator("list_pipeline_parameters_for_execution")
    parameters = [
        p for page in paginator.paginate(PipelineExecutionArn=arn) for p in page["PipelineParameters"]
    ]
    steps = execution_steps(sagemaker, arn)
    definition = json.loads(
        sagemaker.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)["PipelineDefinition"]
    )
    # Condition branches included: the local interpreter's parser reads the definition.
    declared = {step.name: list(step.property_files.values()) for step in parse_definition(definition).steps}
    record_steps, property_files = [], {}
    for step in steps:
        metadata = step.get("Metadata", {})
        files = declared.get(step["StepName"], []) if step.get("StepStatus") == "Succeeded" else []
        trained = "TrainingJob" in metadata or "TuningJob" in metadata
        properties = _describe(sagemaker, metadata) if trained or files else {}
        record_steps.append({**step, "Properties": properties})
        if files:
            property_files[step["StepName"]] = _read_property_files(properties, files)
    return {
        "PipelineExecutionArn": arn,
        "PipelineExecutionStatus": summary["PipelineExecutionStatus"],
        "CreationTime": summary["StartTime"],
        "PipelineParameters": parameters,
        "Steps": record_steps,
        "PropertyFiles": property_files,
    }


# A step's Metadata key -> the Describe call for its job and that call's name parameter.
DESCRIBE = {
    "TrainingJob": ("describe_training_job", "TrainingJobName"),
    "TuningJob": ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName"),
    "ProcessingJob": ("describe_processing_job", "ProcessingJobName"),
}


def _describe(sagemaker, metadata: dict) -> dict:
    """The Describe* response of the job a step ran."""
    for kind, (operation, parameter) in DESCRIBE.items():
        if kind in metadata:
            name = metadata[kind]["Arn"].rsplit("/", 1)[-1]
            return getattr(sagemaker, operation)(**{parameter: name})
    return {}


def _read_property_files(properties: dict, declared: list[dict]) -> dict:
    """{file name: document} for the property files a processing step declares, read from S3."""
    outputs = properties["ProcessingOutputConfig"]["Outputs"]
    prefix = {o["OutputName"]: o["S3Output"]["S3Uri"].rstrip("/") for o in outputs}
    return {
        f["PropertyFileName"]: json.loads(aws.read_s3(f"{prefix[f['OutputName']]}/{f['FilePath']}"))
        for f in declared
    }


def write(executions: list[Execution], metric: str, out_dir: Path) -> Path:
    """Draw the plots into out_dir and write out_dir/experiments-report.html; return the page's path."""
    known = sorted({name for e in executions for name in e.metrics})
    if metric not in known:
        raise MlopsError(
            f"no execution has metric {metric!r}: "
            + (f"they have {', '.join(known)}" if known else "none got as far as training")
        )
    changed = _changed(executions)
    pyplot = page.pyplot()
    figures = {"metrics-by-execution.png": _metrics_by_execution(pyplot, executions, known)}
    if changed:
        figures["parameters-vs-metric.png"] = _parameters_vs_metric(pyplot, executions, changed, metric)
    page.save(figures, out_dir)
    return page.write_page(
        out_dir / "experiments-report.html",
        f"Experiments: {len(executions)} executions of {project().pipeline_name}",
        _summary(executions, changed, known),
        {name: PLOTS[name] for name in figures},
    )


def _changed(executions: list[Execution]) -> list[str]:
    """The parameters whose value is not the same in every execution."""
    names = sorted({name for e in executions for name in e.parameters})
    return [name for name in names if len({e.parameters.get(name) for e in executions}) > 1]


def _summary(executions: list[Execution], changed: list[str], metrics: list[str]) -> str:
    table = page.table(
        ["execution", "started", "status", *changed, *metrics],
        [
            [
                e.id,
                f"{e.started:%Y-%m-%d %H:%M}",
                e.status,
                *(e.parameters.get(name, "") for name in changed),
                *(f"{e.metrics[m]:.6g}" if m in e.metrics else "" for m in metrics),
            ]
            for e in executions
        ],
    )
    same = {
        name: value
        for name, value in sorted(executions[0].parameters.items())
        if name not in changed and all(e.parameters.get(name) == value for e in executions)
    }
    if not same:
        return table
    listed = ", ".join(f"{name}={value}" for name, value in same.items())
    return table + page.paragraph(f"The same in every execution: {listed}")


def _metrics_by_execution(pyplot, executions: list[Execution], metrics: list[str]):
    figure, panels = page.grid(pyplot, len(metrics), 4.2, 3.2)
    labels = [e.id for e in executions]
    for axes, metric in zip(panels, metrics, strict=True):
        points = [(i, e.metrics[metric]) for i, e in enumerate(executions) if metric in e.metrics]
        axes.plot([i for i, _ in points], [v for _, v in points], marker="o")
        failed = [(i, v) for i, v in points if executions[i].status != "Succeeded"]
        if failed:  # e.g. stopped by the quality gate: its metrics are still worth seeing
            xs, ys = zip(*failed, strict=True)
            axes.scatter(xs, ys, marker="x", s=60, color="tab:red", zorder=3, label="failed")
            axes.legend(fontsize="x-small")
        axes.set_title(metric, fontsize="medium")
        axes.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize="x-small")
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def _parameters_vs_metric(pyplot, executions: list[Execution], changed: list[str], metric: str):
    figure, panels = page.grid(pyplot, len(changed), 4, 3.2)
    scored = [e for e in executions if metric in e.metrics]
    for axes, name in zip(panels, changed, strict=True):
        values = [e.parameters.get(name, "") for e in scored]
        numbers = [page.number(v) for v in values]
        if all(n is not None for n in numbers):
            axes.scatter(numbers, [e.metrics[metric] for e in scored], s=24)
        else:  # text values: one column each, in first-seen order
            ticks = list(dict.fromkeys(values))
            axes.scatter([ticks.index(v) for v in values], [e.metrics[metric] for e in scored], s=24)
            axes.set_xticks(range(len(ticks)), ticks, rotation=30, ha="right", fontsize="small")
        axes.set_xlabel(name)
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure
