"""`mlops report tuning`: one self-contained HTML page, and its PNGs, comparing tuning jobs.

The views are the ones people look at in SageMaker's amtviz: the objective of every trial over
time with the best-so-far line, each hyperparameter against the objective, the objective's
distribution, and several jobs side by side. A job is a SageMaker tuning job name (read through
DescribeHyperParameterTuningJob and ListTrainingJobsForHyperParameterTuningJob) or the id of a
`mlops local run` (its Tune step's tuning-job.json, which has the same shape).
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from botocore.exceptions import ClientError

from .. import aws
from ..errors import MlopsError
from ..local.emulator import state_dir
from . import page

# SageMaker's tuning job names and local run ids alike: letters, digits and single '-'.
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
PLOTS = {
    "objective-over-time.png": "Objective of each trial in the order they finished, and the best so far",
    "hyperparameters.png": "Each tuned hyperparameter against the objective",
    "objective-distribution.png": "How the objective is distributed over the trials",
}


@dataclass(frozen=True)
class Trial:
    name: str
    status: str
    ended: datetime | None
    objective: float | None
    tuned: dict[str, str]


@dataclass(frozen=True)
class TuningJob:
    name: str  # as given: a SageMaker job name or a local run id
    strategy: str
    metric: str
    maximize: bool
    trials: list[Trial]

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
        )
        for s in summaries
    ]
    maximize = objective["Type"] == "Maximize"
    return TuningJob(name, config["Strategy"], objective["MetricName"], maximize, trials)


def _time(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


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
    """Draw the plots into out_dir and write out_dir/tuning-report.html; return the page's path."""
    if len({job.metric for job in jobs}) > 1:
        raise MlopsError(
            "these jobs optimise different metrics (" + ", ".join(sorted({j.metric for j in jobs})) + "):"
            " compare jobs of one objective"
        )
    empty = [job.name for job in jobs if not job.scored]
    if empty:
        raise MlopsError(f"no trial of {', '.join(empty)} reported its objective: nothing to draw")
    pyplot = page.pyplot()
    figures = {
        "objective-over-time.png": _objective_over_time(pyplot, jobs),
        "hyperparameters.png": _hyperparameters(pyplot, jobs),
        "objective-distribution.png": _distribution(pyplot, jobs),
    }
    page.save(figures, out_dir)
    direction = "higher" if jobs[0].maximize else "lower"
    return page.write_page(
        out_dir / "tuning-report.html",
        f"Tuning report: {jobs[0].metric} ({direction} is better)",
        _summary(jobs),
        PLOTS,
    )


def _label(job: TuningJob) -> str:
    return f"{job.name} ({job.strategy})"


def _objective_over_time(pyplot, jobs: list[TuningJob]):
    figure, axes = pyplot.subplots(figsize=(8, 4.5))
    for job in jobs:
        ordered = job.finishing_order()
        points = axes.scatter(range(1, len(ordered) + 1), [t.objective for t in ordered], s=18, alpha=0.6)
        axes.step(
            range(1, len(ordered) + 1),
            job.best_so_far(),
            where="post",
            color=points.get_facecolor()[0],
            label=f"{_label(job)}: best so far",
        )
    axes.set_xlabel("trial, in the order it finished")
    axes.set_ylabel(jobs[0].metric)
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    return figure


def _hyperparameters(pyplot, jobs: list[TuningJob]):
    names = sorted({name for job in jobs for trial in job.scored for name in trial.tuned})
    figure, panels = page.grid(pyplot, len(names), 4, 3.2)
    for axes, name in zip(panels, names, strict=True):
        values = sorted({t.tuned[name] for job in jobs for t in job.scored if name in t.tuned}, key=_sort_key)
        numeric = all(page.number(v) is not None for v in values)
        for job in jobs:
            trials = [t for t in job.scored if name in t.tuned]
            xs = [page.number(t.tuned[name]) if numeric else values.index(t.tuned[name]) for t in trials]
            axes.scatter(xs, [t.objective for t in trials], s=18, alpha=0.7, label=_label(job))
        if not numeric:
            axes.set_xticks(range(len(values)), values)
        elif values and min(page.number(v) for v in values) > 0 and _spread(values) >= 100:
            axes.set_xscale("log")
        axes.set_xlabel(name)
        axes.set_ylabel(jobs[0].metric)
        axes.grid(alpha=0.3)
    if panels:
        panels[0].legend(fontsize="small")
    figure.tight_layout()
    return figure


def _distribution(pyplot, jobs: list[TuningJob]):
    from matplotlib.ticker import MaxNLocator

    figure, axes = pyplot.subplots(figsize=(8, 4))
    everything = [t.objective for job in jobs for t in job.scored]
    low, high = min(everything), max(everything)
    # The same bins for every job, so their bars line up.
    edges = [low + (high - low) * i / 15 for i in range(16)] if high > low else [low - 0.5, low + 0.5]
    for job in jobs:
        axes.hist([t.objective for t in job.scored], bins=edges, alpha=0.5, label=_label(job))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(jobs[0].metric)
    axes.set_ylabel("trials")
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    return figure


def _sort_key(text: str):
    number = page.number(text)
    return (0, number, "") if number is not None else (1, 0.0, text)


def _spread(values: list[str]) -> float:
    numbers = [page.number(v) for v in values]
    return max(numbers) / min(numbers)


def _summary(jobs: list[TuningJob]) -> str:
    return page.table(
        ["job", "strategy", "trials", "with an objective", "best", "best hyperparameters"],
        [
            [
                job.name,
                job.strategy,
                len(job.trials),
                len(job.scored),
                f"{job.best.objective:.6g}",
                ", ".join(f"{k}={v}" for k, v in sorted(job.best.tuned.items())),
            ]
            for job in jobs
        ],
    )
