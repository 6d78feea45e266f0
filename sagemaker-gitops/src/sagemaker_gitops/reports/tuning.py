"""`mlops report tuning`: one self-contained HTML page, and its PNGs, comparing tuning jobs.

The views are amtviz's (the SageMaker SDK's tuning visualisation), point for point: each trial's
objective over time with the best so far, the objective's density, each tuned hyperparameter
against the objective (a density per value for a categorical one; the tuning job and the trial
status as views of their own when they vary), every trial's objective as a bar, one brush linked
across all of them, a hovered trial outlined in every view, tooltips with every hyperparameter,
and warm-start parents read with the job. Beyond amtviz: log axes from the ranges' own
ScalingType (not guessed from the values), zoom on the objective axis, training time against the
objective (Hyperband's budget: the trials it stopped early sit to the left, drawn as crosses), a
summary table, and one offline page instead of a notebook. amtviz's CloudWatch views (instance
utilisation, metric curves per job) are not drawn: they need each job's CloudWatch data.

A job is a SageMaker tuning job name (read through DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob) or the id of a `mlops local run` (its Tune step's
tuning-job.json, which has the same shape).
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import altair as alt
from botocore.exceptions import ClientError

from .. import aws
from ..build.pipelines import newest_executions, tuning_jobs
from ..errors import MlopsError
from ..local.emulator import in_use, state_dir
from . import page

# SageMaker's tuning job names and local run ids alike: letters, digits and single '-'.
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
PLOTS = {
    "objective-over-time.png": "Each trial's objective when it finished, the best so far, and its density",
    "hyperparameters.png": "Each tuned hyperparameter against the objective",
    "trials.png": "Every trial's objective, and its training time (Hyperband's budget)",
}
HOW_TO = (
    "Drag across any chart to select trials by that axis (selections on several charts intersect;"
    " double-click clears); hover a trial to outline it everywhere; scroll over a chart to zoom the"
    " objective axis; the ... menu saves a chart as PNG or SVG."
)


@dataclass(frozen=True)
class Trial:
    name: str
    status: str
    ended: datetime | None
    objective: float | None
    tuned: dict[str, str]
    started: datetime | None = None

    @property
    def seconds(self) -> float | None:
        """How long it trained: what Hyperband's early stops cut short."""
        if self.started is None or self.ended is None:
            return None
        return (self.ended - self.started).total_seconds()


@dataclass(frozen=True)
class TuningJob:
    name: str  # as given: a SageMaker job name or a local run id
    strategy: str
    metric: str
    maximize: bool
    trials: list[Trial]
    log_scaled: frozenset[str] = frozenset()  # ranges with ScalingType Logarithmic
    parents: tuple[str, ...] = ()  # warm-start parents (WarmStartConfig)

    @property
    def scored(self) -> list[Trial]:
        return [t for t in self.trials if t.objective is not None]

    @property
    def best(self) -> Trial | None:
        pick = max if self.maximize else min
        return pick(self.scored, key=lambda t: t.objective, default=None)

    def finishing_order(self) -> list[Trial]:
        """The trials with an objective, in the order they finished."""
        return sorted(self.scored, key=lambda t: t.ended or datetime.min)

    def best_so_far(self) -> list[float]:
        """The best objective after each finished trial, in finishing order."""
        pick = max if self.maximize else min
        best, line = None, []
        for trial in self.finishing_order():
            best = trial.objective if best is None else pick(best, trial.objective)
            line.append(best)
        return line


def from_properties(name: str, described: dict, summaries: list[dict]) -> TuningJob:
    """A TuningJob from DescribeHyperParameterTuningJob and its training job summaries."""
    config = described["HyperParameterTuningJobConfig"]
    objective = config["HyperParameterTuningJobObjective"]
    trials = [
        Trial(
            name=s["TrainingJobName"],
            status=s.get("TrainingJobStatus", ""),
            ended=_time(s.get("TrainingEndTime")),
            objective=s.get("FinalHyperParameterTuningJobObjectiveMetric", {}).get("Value"),
            tuned={k: str(v) for k, v in s.get("TunedHyperParameters", {}).items()},
            started=_time(s.get("TrainingStartTime") or s.get("CreationTime")),
        )
        for s in summaries
    ]
    maximize = objective["Type"] == "Maximize"
    ranges = [r for group in config.get("ParameterRanges", {}).values() for r in group]
    log_scaled = frozenset(r["Name"] for r in ranges if r.get("ScalingType") == "Logarithmic")
    warm_start = described.get("WarmStartConfig", {}).get("ParentHyperParameterTuningJobs", [])
    parents = tuple(parent["HyperParameterTuningJobName"] for parent in warm_start)
    return TuningJob(name, config["Strategy"], objective["MetricName"], maximize, trials, log_scaled, parents)


def _time(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def load_with_parents(names: list[str]) -> list[TuningJob]:
    """The jobs named, then their warm-start parents (one level, as amtviz), each job once."""
    jobs = [load(name) for name in dict.fromkeys(names)]
    named = {job.name for job in jobs}
    parents = [parent for job in jobs for parent in job.parents if parent not in named]
    return jobs + [load(parent) for parent in dict.fromkeys(parents)]


# How many of the pipeline's newest executions `newest` looks through for a tuning step.
NEWEST_SEARCHED = 20


def newest() -> str:
    """The newest tuning job: a local run's while this project's emulator is in use (the reading
    verbs follow it), else the tuning step's of the newest build pipeline execution that has one."""
    if in_use():
        runs = sorted((state_dir() / "runs").glob("*/*/tuning-job.json"), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise MlopsError("no local run with a tuning step yet: run `mlops local run` first")
        return runs[-1].parent.parent.name
    sagemaker = aws.client("sagemaker")
    for execution in newest_executions(sagemaker, NEWEST_SEARCHED):
        found = tuning_jobs(sagemaker, execution["PipelineExecutionArn"])
        if found:
            return found[0]
    raise MlopsError(
        f"no tuning step in the pipeline's last {NEWEST_SEARCHED} executions in {aws.region()}:"
        " name a tuning job (`mlops report tuning JOB`)"
    )


def load(name: str) -> TuningJob:
    """A local run id (with a tuning step) or a SageMaker tuning job name."""
    if not JOB_NAME.match(name):
        raise MlopsError(f"{name!r} is not a tuning job name or a local run id (letters, digits and '-')")
    local = sorted((state_dir() / "runs" / name).glob("*/tuning-job.json"))
    if local:
        document = json.loads(local[0].read_text())
        return from_properties(name, document, document["TrainingJobSummaries"])
    return load_from_sagemaker(name)


def load_from_sagemaker(name: str) -> TuningJob:
    sagemaker = aws.client("sagemaker")
    try:
        described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        pages = sagemaker.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
        summaries = [
            summary
            for page in pages.paginate(HyperParameterTuningJobName=name)
            for summary in page["TrainingJobSummaries"]
        ]
    except ClientError as error:
        if not aws.is_not_found(error):
            raise  # AccessDenied is not "no such job": the CLI says what AWS said
        raise MlopsError(
            f"{name!r} is neither a local run with a tuning step (.mlops/runs/) nor a tuning job"
            f" in {aws.region()}: {error.response['Error'].get('Message', error)}"
        ) from None
    return from_properties(name, described, summaries)


def write(jobs: list[TuningJob], out_dir: Path) -> Path:
    """Write out_dir/tuning-report.html and a PNG of each view beside it; return the page's path."""
    if len({job.metric for job in jobs}) > 1:
        raise MlopsError(
            "these jobs optimise different metrics (" + ", ".join(sorted({j.metric for j in jobs})) + "):"
            " compare jobs of one objective"
        )
    empty = [job.name for job in jobs if not job.scored]
    if empty:
        raise MlopsError(f"no trial of {', '.join(empty)} reported its objective: nothing to draw")
    views = Views(jobs)
    direction = "higher" if jobs[0].maximize else "lower"
    with page.linked_selections():
        sections = {
            "objective-over-time.png": views.overview(),
            "hyperparameters.png": views.hyperparameters(),
            "trials.png": views.trials(),
        }
        page.save_pngs(sections, out_dir)
        titled = [chart.properties(title=PLOTS[name]) for name, chart in sections.items()]
        return page.write_page(
            out_dir / "tuning-report.html",
            f"Tuning report: {jobs[0].metric} ({direction} is better)",
            _summary(jobs),
            alt.vconcat(*titled).configure_view(strokeWidth=0).configure_legend(orient="bottom"),
            HOW_TO,
        )


def _label(job: TuningJob) -> str:
    return f"{job.name} ({job.strategy})"


def rows(jobs: list[TuningJob]) -> list[dict]:
    """One row per trial that reported the objective: what every view draws and every tooltip shows."""
    found = []
    for job in jobs:
        best_so_far = dict(zip((t.name for t in job.finishing_order()), job.best_so_far(), strict=True))
        began = min((t.started or t.ended for t in job.trials if t.started or t.ended), default=None)
        for trial in job.scored:
            found.append(
                {
                    "job": _label(job),
                    "trial": trial.name,
                    "status": trial.status,
                    "started": trial.started.isoformat() if trial.started else None,
                    "ended": trial.ended.isoformat() if trial.ended else None,
                    "seconds": trial.seconds,
                    # When it finished, counted from its job's first trial: jobs run on other days
                    # share one time axis, strategy against strategy.
                    "minutes": (trial.ended - began).total_seconds() / 60 if trial.ended and began else None,
                    "objective": trial.objective,
                    "best_so_far": best_so_far[trial.name],
                    **{page.key(name): page.typed(text) for name, text in trial.tuned.items()},
                }
            )
    return found


class Views:
    """The report's charts over one table of trials, sharing one brush and one hover."""

    def __init__(self, jobs: list[TuningJob]):
        self.jobs = jobs
        self.metric = jobs[0].metric
        self.rows = rows(jobs)
        # A dict of values, not alt.Data: Altair then writes the rows once, as a named dataset,
        # instead of once per view.
        self.data = {"values": self.rows}
        self.names = sorted({name for job in jobs for t in job.scored for name in t.tuned})
        self.log_scaled = frozenset().union(*(job.log_scaled for job in jobs))
        self.several_jobs = len(jobs) > 1
        self.several_statuses = len({t.status for job in jobs for t in job.scored}) > 1
        # Drag selects along a view's x axis; brushes on several views intersect (amtviz's brush).
        self.brush = alt.selection_interval(encodings=["x"], resolve="intersect", zoom=False)
        self.hover = alt.selection_point(on="pointerover", fields=["trial"], empty=False, nearest=False)
        # Scrolling zooms the objective axis of every view at once (dragging stays the brush's).
        self.zoom = alt.selection_interval(bind="scales", encodings=["y"], translate=False, zoom="wheel!")
        objectives = [t.objective for job in jobs for t in job.scored]
        self.objective_domain = [min(objectives), max(objectives)]

    def _objective(self) -> alt.Y:
        return alt.Y("objective:Q", title=self.metric, scale=alt.Scale(zero=False, padding=8))

    def _numeric(self, name: str) -> bool:
        return page.numeric(self.rows, page.key(name))

    def _tooltip(self) -> list:
        return [
            alt.Tooltip("objective:Q", title=self.metric, format=".6g"),
            *(
                alt.Tooltip(f"{page.key(name)}:{'Q' if self._numeric(name) else 'N'}", title=name)
                for name in self.names
            ),
            alt.Tooltip("trial:N", title="training job"),
            alt.Tooltip("status:N"),
            alt.Tooltip("seconds:Q", title="training seconds", format=".1f"),
            alt.Tooltip("ended:T", title="finished", format="%Y-%m-%d %H:%M:%S"),
            *([alt.Tooltip("job:N", title="tuning job")] if self.several_jobs else []),
        ]

    def _points(self, width: int = 260, height: int = 200) -> alt.Chart:
        """Trials as points: shape by status (a cross: stopped early), colour by tuning job, the
        brush fading the rest, the hovered trial outlined in gold, zoom on the objective axis."""
        return (
            alt.Chart(self.data, width=width, height=height)
            .mark_point(filled=True, size=60)
            .encode(
                y=self._objective(),
                shape=alt.Shape(
                    "status:N",
                    scale=alt.Scale(domain=STATUSES, range=SHAPES),
                    legend=alt.Legend(title="status"),
                ),
                color=alt.Color("job:N", title="tuning job", legend=alt.Legend(orient="bottom", columns=1)),
                opacity=alt.condition(self.brush, alt.value(0.9), alt.value(0.2)),
                stroke=alt.condition(self.hover, alt.value("gold"), alt.value("white")),
                strokeWidth=alt.value(2),
                tooltip=self._tooltip(),
            )
            .add_params(self.brush, self.hover, self.zoom)
        )

    def overview(self) -> alt.HConcatChart:
        finished = alt.X("minutes:Q", title="finished (minutes after the job's first trial started)")
        over_time = self._points(440, 260).encode(x=finished)
        best = (
            alt.Chart(self.data)
            .mark_line(interpolate="step-after", strokeDash=[4, 3], strokeWidth=2)
            .encode(x=finished, y="best_so_far:Q", color=alt.Color("job:N"), detail="job:N")
        )
        density = (
            alt.Chart(self.data, width=260, height=260)
            .transform_filter(self.brush)
            .transform_density(
                "objective", groupby=["job"], extent=self.objective_domain, as_=["objective", "density"]
            )
            .mark_area(opacity=0.5)
            .encode(
                x=alt.X("objective:Q", title=self.metric, scale=alt.Scale(domain=self.objective_domain)),
                y=alt.Y("density:Q", title="density of the selected trials", stack=None),
                color=alt.Color("job:N"),
            )
        )
        return alt.hconcat(over_time + best, density)

    def hyperparameters(self) -> alt.VConcatChart:
        views = [self._against(name) for name in self.names]
        if self.several_jobs:
            views.append(self._against_field("job", "tuning job", nominal=True))
        if self.several_statuses:
            views.append(self._against_field("status", "status", nominal=True))
        return alt.vconcat(*(alt.hconcat(*views[i : i + 3]) for i in range(0, len(views), 3)))

    def _against(self, name: str) -> alt.Chart:
        nominal = not self._numeric(name)
        return self._against_field(page.key(name), name, nominal, log=name in self.log_scaled)

    def _against_field(self, field: str, title: str, nominal: bool, log: bool = False):
        if nominal:
            x = alt.X(f"{field}:N", title=title)
        else:
            x = alt.X(f"{field}:Q", title=title, scale=alt.Scale(type="log" if log else "linear", zero=False))
        view = self._points().encode(x=x)
        if not nominal or field == "job":
            return view
        # amtviz: for a categorical value, how the objective is distributed under each choice.
        density = (
            alt.Chart(self.data, width=200, height=200)
            .transform_filter(self.brush)
            .transform_density(
                "objective", groupby=[field], extent=self.objective_domain, as_=["objective", "density"]
            )
            .mark_area(opacity=0.4)
            .encode(
                x=alt.X("objective:Q", title=self.metric, scale=alt.Scale(domain=self.objective_domain)),
                y=alt.Y("density:Q", stack=None),
                color=alt.Color(f"{field}:N", title=title),
            )
        )
        return alt.hconcat(view, density).resolve_scale(color="independent")

    def trials(self) -> alt.HConcatChart:
        ranked = (
            alt.Chart(self.data, width=440, height=220)
            .mark_bar()
            .encode(
                x=alt.X(
                    "trial:N",
                    sort=alt.EncodingSortField(
                        "objective", order="descending" if self.jobs[0].maximize else "ascending"
                    ),
                    axis=alt.Axis(labels=len(self.rows) <= 40, title="trial, best first"),
                ),
                y=alt.Y("objective:Q", title=self.metric, scale=alt.Scale(zero=False)),
                color=alt.Color("job:N"),
                opacity=alt.condition(self.brush, alt.value(0.9), alt.value(0.2)),
                stroke=alt.condition(self.hover, alt.value("gold"), alt.value(None)),
                strokeWidth=alt.value(2),
                tooltip=self._tooltip(),
            )
            .add_params(self.brush, self.hover)
        )
        budget = self._points(320, 220).encode(x=alt.X("seconds:Q", title="training seconds (budget)"))
        return alt.hconcat(ranked, budget)


# AMT's trial statuses, each its own mark: a cross for one stopped early (Hyperband, early stopping).
STATUSES = ["Completed", "Stopped", "Failed", "InProgress"]
SHAPES = ["circle", "cross", "triangle-down", "square"]


def _summary(jobs: list[TuningJob]) -> str:
    return page.table(
        [
            "job",
            "strategy",
            "trials",
            "with an objective",
            "stopped early",
            "best",
            "best hyperparameters",
            "warm start from",
        ],
        [
            [
                job.name,
                job.strategy,
                len(job.trials),
                len(job.scored),
                sum(t.status == "Stopped" for t in job.trials),
                f"{job.best.objective:.6g}",
                ", ".join(f"{k}={v}" for k, v in sorted(job.best.tuned.items())),
                ", ".join(job.parents),
            ]
            for job in jobs
        ],
    )
