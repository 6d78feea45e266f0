"""`mlops report experiments`: what went into each pipeline execution, what came out, and the one
against the other.

What went in: the data (the sha256 of what Preprocess read), the pipeline parameters, the trained
model's fixed hyperparameters, a tuning step's search space, and what the execution was started
from (its description: git commit and dirty flag, a hash of build/config.yml, the person's --label).
What came out: the training job's final metrics (e.g. `validation:rmse`), the test metrics of its
evaluation report (`test:rmse`), and the values tuning chose. Only inputs that can change a metric
are plotted against it: the data, hyperparameters, and pipeline parameters that the definition
passes to the steps that prepare data or train (not instance types, nor the GateThreshold that
only the gate reads).

They come from SageMaker (ListPipelineExecutions, ListPipelineParametersForExecution,
ListPipelineExecutionSteps, DescribePipelineDefinitionForExecution, the steps' Describe* calls and
the property files on S3), or from the records `mlops local run` keeps in
.mlops/runs/<id>/execution.json, which hold the same responses: one reader for both.
"""

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import altair as alt
from botocore.exceptions import ClientError

from .. import aws, contract
from ..build.pipelines import execution_steps, newest_executions
from ..definition.graph import parse as parse_definition
from ..errors import MlopsError
from ..local.emulator import state_dir
from ..project import project
from ..repository import parse_run_description, short_commit
from . import page

PLOTS = {
    "metrics-by-execution.png": "Each metric, execution by execution (oldest first; a cross: it failed)",
    "inputs-vs-metric.png": "Each input that changed and can change the metric, against it",
}
NOTHING_TO_PLOT = (
    "No input that can change a metric differs between these executions: nothing to plot against it."
)
HOW_TO = (
    "Hover an execution to outline it in every chart and see its inputs; drag across a chart to"
    " select executions (double-click clears); the ... menu saves a chart as PNG or SVG."
)
# Where a step's request says how it runs, not what it computes: a parameter read only here
# (instance types and counts, time limits) cannot change a metric.
RESOURCE_KEYS = {"ResourceConfig", "ProcessingResources", "StoppingCondition", "ClusterConfig"}


@dataclass(frozen=True)
class Execution:
    id: str
    status: str
    started: datetime
    parameters: dict[str, str]  # pipeline parameters, as run
    hyperparameters: dict[str, str]  # the trained model's fixed ones (tuning: the static ones)
    search_space: str  # a tuning step's ranges, "" without tuning
    provenance: dict[str, str]  # git, config, label: what it was started from
    model_parameters: frozenset[str] | None  # the parameters that reach data or training (None: unknown)
    tuned: dict[str, str]  # what came out: the values tuning chose (the best trial's)
    metrics: dict[str, float]
    data: str = ""  # the sha256 of the data read (Preprocess's data.json), shortened; "" unknown

    def inputs(self) -> dict[str, str]:
        """Every input, by name: what it was started from, the data, parameters, hyperparameters,
        search space."""
        space = {"search space": self.search_space} if self.search_space else {}
        data = {"data": self.data} if self.data else {}
        return {**self.provenance, **data, **self.parameters, **self.hyperparameters, **space}

    def can_change_metrics(self, name: str) -> bool:
        """Whether an input may change what the model scores: hyperparameters and the search space
        always, a pipeline parameter if the definition passes it to the data or the training."""
        if name in self.parameters:
            return self.model_parameters is not None and name in self.model_parameters
        return name in self.hyperparameters or name in ("search space", "config", "data")


def from_record(record: dict) -> Execution:
    """An Execution from SageMaker's responses about it (see the module's docstring)."""
    hyperparameters: dict[str, str] = {}
    tuned: dict[str, str] = {}
    metrics: dict[str, float] = {}
    search_space = data = ""
    for step in record["Steps"]:
        properties = step.get("Properties") or {}
        fixed, chosen, trained = _training(properties)
        hyperparameters.update({name: value for name, value in fixed.items() if _is_users(name)})
        tuned.update(chosen)
        metrics.update(trained)
        search_space = search_space or _search_space(properties)
    for documents in record.get("PropertyFiles", {}).values():
        for document in documents.values():
            metrics.update(_test_metrics(document))
            data = data or _data_read(document)
    definition = record.get("PipelineDefinition")
    return Execution(
        id=record["PipelineExecutionArn"].rsplit("/", 1)[-1],
        status=record["PipelineExecutionStatus"],
        started=_time(record["CreationTime"]),
        parameters={p["Name"]: str(p["Value"]) for p in record["PipelineParameters"]},
        hyperparameters={k: v for k, v in hyperparameters.items() if k not in tuned},
        search_space=search_space,
        provenance=parse_run_description(record.get("PipelineExecutionDescription", "")),
        model_parameters=model_parameters(definition) if definition else None,
        tuned=tuned,
        metrics=metrics,
        data=data,
    )


def _data_read(document) -> str:
    """The sha256 of the data a run read, from Preprocess's data.json, shortened as a commit is."""
    found = document.get("input", {}) if isinstance(document, dict) else {}
    return found.get("sha256", "")[:12] if isinstance(found, dict) else ""


def model_parameters(definition: dict) -> frozenset[str]:
    """The pipeline parameters that reach the model: those a training or tuning step reads, or a step
    whose output it reads (preprocessing), outside its resource settings."""
    steps = {step["Name"]: step for step in _all_steps(definition.get("Steps", []))}
    trainers = [step for step in steps.values() if step.get("Type") in ("Training", "Tuning")]
    feeding = {
        name
        for trainer in trainers
        for reference in _references(trainer.get("Arguments", {}), "Steps.")
        if (name := reference.split(".")[1]) in steps
    }
    reached = [*trainers, *(steps[name] for name in feeding)]
    return frozenset(
        reference.split(".", 1)[1]
        for step in reached
        for reference in _references(step.get("Arguments", {}), "Parameters.")
    )


def _all_steps(steps: list[dict]):
    for step in steps:
        yield step
        arguments = step.get("Arguments", {})
        yield from _all_steps(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []))


def _references(node, prefix: str):
    """Every {"Get": "<prefix>..."} under node, outside the resource settings."""
    if isinstance(node, dict):
        if isinstance(node.get("Get"), str) and node["Get"].startswith(prefix):
            yield node["Get"]
        for key, value in node.items():
            if key not in RESOURCE_KEYS:
                yield from _references(value, prefix)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value, prefix)


def _training(properties: dict) -> tuple[dict[str, str], dict[str, str], dict[str, float]]:
    """(fixed hyperparameters, tuned ones, final metrics) of a training step, or a tuning step's
    best trial."""
    if "BestTrainingJob" in properties:
        best = properties["BestTrainingJob"]
        static = properties.get("TrainingJobDefinition", {}).get("StaticHyperParameters", {})
        objective = best.get("FinalHyperParameterTuningJobObjectiveMetric")
        metrics = {objective["MetricName"]: objective["Value"]} if objective else {}
        return static, dict(best.get("TunedHyperParameters", {})), metrics
    if "TrainingJobName" in properties:
        metrics = {m["MetricName"]: m["Value"] for m in properties.get("FinalMetricDataList", [])}
        return properties.get("HyperParameters", {}), {}, metrics
    return {}, {}, {}


def _search_space(properties: dict) -> str:
    """A tuning job's ranges in one line: `eta 0.01-0.3 log, max_depth 2-8, booster {gbtree, dart}`."""
    ranges = properties.get("HyperParameterTuningJobConfig", {}).get("ParameterRanges", {})
    described = []
    for kind, group in sorted(ranges.items()):
        for r in group:
            if kind.startswith("Categorical"):
                described.append(f"{r['Name']} {{{', '.join(r['Values'])}}}")
            else:
                scale = {"Logarithmic": " log", "ReverseLogarithmic": " reverse-log"}.get(
                    r.get("ScalingType"), ""
                )
                described.append(f"{r['Name']} {r['MinValue']}-{r['MaxValue']}{scale}")
    return ", ".join(sorted(described))


def _is_users(hyperparameter: str) -> bool:
    # SageMaker adds its own (sagemaker_*, _tuning_objective_metric); they say nothing about the model.
    return not hyperparameter.startswith(("sagemaker_", "_"))


def _test_metrics(document) -> dict[str, float]:
    """evaluation.json's {"<problem>_metrics": {name: {"value": x}}} as test:<name>."""
    return {f"test:{name}": value for name, value in contract.model_metrics(document).items()}


def _time(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def load_local() -> list[Execution]:
    """The local runs of the build pipeline (a batch pipeline's runs train nothing), oldest first."""
    ours = f":pipeline/{project().pipeline_name}/execution/"
    found = [json.loads(path.read_text()) for path in sorted((state_dir() / "runs").glob("*/execution.json"))]
    records = [record for record in found if ours in record["PipelineExecutionArn"]]
    if not records:
        raise MlopsError(f"no local run is recorded in {state_dir() / 'runs'}: run `mlops local run` first")
    return sorted((from_record(record) for record in records), key=lambda e: e.started)


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
        "PipelineExecutionDescription": summary.get("PipelineExecutionDescription", ""),
        "PipelineDefinition": definition,
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
    """Write out_dir/experiments-report.html and a PNG of each chart beside it; return the page's path."""
    known = sorted({name for e in executions for name in e.metrics})
    if metric not in known:
        raise MlopsError(
            f"no execution has metric {metric!r}: "
            + (f"they have {', '.join(known)}" if known else "none got as far as training")
        )
    changed = _columns(executions)
    varied = set(_changed(executions, Execution.inputs)) | {n for e in executions for n in e.tuned}
    plotted = [n for n in changed if n in varied and any(e.can_change_metrics(n) for e in executions)]
    settings = [n for n in changed if n in varied and n not in plotted and n not in ("git", "label")]
    views = Views(executions, metric)
    notes = []
    with page.linked_selections():
        charts = {"metrics-by-execution.png": views.metrics_by_execution(known)}
        if plotted or views.tuned_names:
            charts["inputs-vs-metric.png"] = views.inputs_against_metric(plotted)
        else:
            notes.append(NOTHING_TO_PLOT)
        page.save_pngs(charts, out_dir)
        titled = [chart.properties(title=PLOTS[name]) for name, chart in charts.items()]
        return page.write_page(
            out_dir / "experiments-report.html",
            f"Experiments: {len(executions)} executions of {project().pipeline_name}",
            _summary(executions, changed, settings, known) + "".join(map(page.paragraph, notes)),
            alt.vconcat(*titled).configure_view(strokeWidth=0),
            HOW_TO,
        )


def _columns(executions: list[Execution]) -> list[str]:
    """The inputs the table shows: what each execution was started from (label, git, config) when
    any has it, then every input with more than one value; a value one execution tuned and
    another fixed differs between them too."""
    names = {name for e in executions for name in e.inputs()}
    tuned = {name for e in executions for name in e.tuned}
    started_from = [name for name in ("label", "git", "config") if name in names]
    varied = set(_changed(executions, Execution.inputs)) | (tuned & names)
    return started_from + sorted(varied - set(started_from))


def _changed(executions: list[Execution], values) -> list[str]:
    """The names with more than one value among the executions that have them (values(e) ->
    {name: value}; a run that failed before training has no hyperparameters, which is no change)."""
    names = sorted({name for e in executions for name in values(e)})
    return [name for name in names if len({values(e)[name] for e in executions if name in values(e)}) > 1]


def _summary(executions: list[Execution], changed: list[str], settings: list[str], metrics: list[str]) -> str:
    tuned = _changed(executions, lambda e: e.tuned) or sorted({n for e in executions for n in e.tuned})
    inputs = page.table(
        ["execution", "started", "status", *changed],
        [
            [e.id, f"{e.started:%Y-%m-%d %H:%M}", e.status, *(_shown(e.inputs(), name) for name in changed)]
            for e in executions
        ],
    )
    outputs = page.table(
        ["execution", *metrics, *(f"tuned {name}" for name in tuned)],
        [
            [
                e.id,
                *(f"{e.metrics[m]:.6g}" if m in e.metrics else "" for m in metrics),
                *(e.tuned.get(name, "") for name in tuned),
            ]
            for e in executions
        ],
    )
    same = {name: value for name, value in sorted(executions[0].inputs().items()) if name not in changed}
    notes = []
    if same:
        notes.append("The same in every execution: " + ", ".join(f"{k}={v}" for k, v in same.items()) + ".")
    if settings:
        notes.append(
            f"Not plotted against a metric, as they cannot change one: {', '.join(settings)}"
            " (run settings, or read only after training)."
        )
    return (
        "<h2>What went in</h2>"
        + inputs
        + "".join(page.paragraph(note) for note in notes)
        + "<h2>What came out</h2>"
        + outputs
    )


class Views:
    """The report's charts over one row per execution, sharing a hover and a brush."""

    def __init__(self, executions: list[Execution], metric: str):
        self.metric = metric
        self.tuned_names = sorted({name for e in executions for name in e.tuned})
        self.rows = [self._row(e) for e in executions]
        self.data = {"values": self.rows}  # one dataset, not one copy per view
        self.hover = alt.selection_point(on="pointerover", fields=["execution"], empty=False)
        self.brush = alt.selection_interval(encodings=["x"], resolve="intersect", zoom=False)

    def _row(self, e: Execution) -> dict:
        inputs = {page.key(name): page.typed(value) for name, value in e.inputs().items()}
        tuned = {page.key(f"tuned {name}"): page.typed(value) for name, value in e.tuned.items()}
        metrics = {page.key(name): value for name, value in e.metrics.items()}
        failed = e.status not in ("Succeeded", "Executing")
        return {
            **inputs,
            **tuned,
            **metrics,
            "execution": e.id,
            "started": e.started.isoformat(),
            "status": e.status,
            "failed": failed,
            "label": e.provenance.get("label", ""),
            "git": e.provenance.get("git", ""),
        }

    def _tooltip(self, *extra: str) -> list:
        return [
            alt.Tooltip("execution:N"),
            alt.Tooltip("status:N"),
            alt.Tooltip("label:N"),
            alt.Tooltip("git:N", title="git commit"),
            alt.Tooltip("started:T", format="%Y-%m-%d %H:%M"),
            *(alt.Tooltip(f"{page.key(name)}:{self._type(name)}", title=name) for name in extra),
        ]

    def _type(self, name: str) -> str:
        return "Q" if page.numeric(self.rows, page.key(name)) else "N"

    def metrics_by_execution(self, metrics: list[str]) -> alt.VConcatChart:
        order = [row["execution"] for row in self.rows]
        views = [
            alt.Chart(self.data, width=260, height=180)
            .mark_line(point=alt.OverlayMarkDef(filled=True, size=60))
            .encode(
                x=alt.X("execution:N", sort=order, title=None, axis=alt.Axis(labelAngle=-45)),
                y=alt.Y(f"{page.key(metric)}:Q", title=metric, scale=alt.Scale(zero=False)),
                tooltip=self._tooltip(metric),
            )
            + alt.Chart(self.data)
            .transform_filter(alt.datum.failed)
            .mark_point(shape="cross", size=120, color="firebrick", filled=True)
            .encode(
                x=alt.X("execution:N", sort=order), y=f"{page.key(metric)}:Q", tooltip=self._tooltip(metric)
            )
            for metric in metrics
        ]
        return alt.vconcat(*(alt.hconcat(*views[i : i + 3]) for i in range(0, len(views), 3)))

    def inputs_against_metric(self, inputs: list[str]) -> alt.VConcatChart:
        names = [*inputs, *(f"tuned {name}" for name in self.tuned_names)]
        views = [
            alt.Chart(self.data, width=260, height=200)
            .transform_filter(f"isValid(datum['{page.key(name)}'])")  # runs without it: not at "undefined"
            .mark_point(filled=True, size=70)
            .encode(
                x=alt.X(
                    f"{page.key(name)}:{self._type(name)}",
                    title=name,
                    scale=alt.Scale(zero=False, padding=12),
                ),
                y=alt.Y(
                    f"{page.key(self.metric)}:Q", title=self.metric, scale=alt.Scale(zero=False, padding=12)
                ),
                shape=alt.Shape(
                    "failed:N", scale=alt.Scale(domain=[False, True], range=["circle", "cross"]), legend=None
                ),
                opacity=alt.condition(self.brush, alt.value(0.9), alt.value(0.25)),
                stroke=alt.condition(self.hover, alt.value("gold"), alt.value("white")),
                strokeWidth=alt.value(2),
                tooltip=self._tooltip(name, self.metric),
            )
            .add_params(self.hover, self.brush)
            for name in names
        ]
        return alt.vconcat(*(alt.hconcat(*views[i : i + 3]) for i in range(0, len(views), 3)))


def _shown(inputs: dict[str, str], name: str) -> str:
    """A table cell: a commit shortened as git does (12 characters), "-dirty" kept."""
    value = inputs.get(name, "")
    return short_commit(value, 12) if name == "git" else value
