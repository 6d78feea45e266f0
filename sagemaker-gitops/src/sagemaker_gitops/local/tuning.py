"""Tuning steps on this machine: the definition's ranges, objective and budget, each trial a real
training job (local/jobs.py), and the result shaped like SageMaker's, so what reads a tuning job
in AWS reads a local one too.

  Random     independent draws from the ranges, seeded by the definition's RandomSeed
  Grid       every combination of the categorical values, in order
  Bayesian   Optuna's TPE sampler: a maintained Bayesian optimiser (AMT's own is not public)
  Hyperband  successive halving on the Hyperband resource: many trials get min_resource training
             rounds, the best third three times as many, and so on up to max_resource

Trials run one after another (max_parallel_jobs only bounds them in AWS); early stopping and warm
start are SageMaker's and are not emulated, and the run says so.
"""

import itertools
import math
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..definition.expressions import StepError
from .jobs import JobFailed

# Successive halving keeps the best 1/ETA of each rung and gives them ETA times the rounds.
ETA = 3
# What a trial's CreateTrainingJob request takes from the tuning job's TrainingJobDefinition.
TRIAL_FIELDS = (
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "RoleArn",
    "Environment",
)


@dataclass
class Trial:
    name: str
    tuned: dict[str, str]  # the tuned hyperparameters, as SageMaker passes them: strings
    status: str = "InProgress"  # Completed | Failed | Stopped (Hyperband stopped it early)
    objective: float | None = None
    failure: str = ""
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended: datetime | None = None


# run_trial(job name, hyperparameters to add to the static ones) -> DescribeTrainingJob properties
RunTrial = Callable[[str, dict[str, str]], dict]


# on_trial("trial 3 of 20 done, best validation:rmse = 52.1") after each trial
OnTrial = Callable[[str], None]


class Tuner:
    def __init__(
        self, step: str, request: dict, name: str, run_trial: RunTrial, on_trial: OnTrial = lambda *_: None
    ):
        self.step = step
        self.name = name
        self.config = request["HyperParameterTuningJobConfig"]
        self.definition = request["TrainingJobDefinition"]
        self.run_trial = run_trial
        self.on_trial = on_trial
        objective = self.config["HyperParameterTuningJobObjective"]
        self.metric, self.maximize = objective["MetricName"], objective["Type"] == "Maximize"
        self.ranges = _ranges(self.config.get("ParameterRanges", {}))
        self.random = random.Random(self.config.get("RandomSeed", 0))
        self.max_jobs = self.config.get("ResourceLimits", {}).get("MaxNumberOfTrainingJobs")
        self.planned = self.max_jobs  # how many trials the progress counts towards
        self.trials: list[Trial] = []

    def run(self) -> dict:
        strategy = self.config["Strategy"]
        search = {
            "Random": self._random,
            "Grid": self._grid,
            "Bayesian": self._bayesian,
            "Hyperband": self._hyperband,
        }.get(strategy)
        if search is None:
            raise StepError(self.step, f"tuning strategy {strategy!r} does not run locally")
        if not self.ranges:
            raise StepError(self.step, "a tuning step needs at least one parameter range")
        search()
        if not any(t.objective is not None for t in self.trials):
            failures = "; ".join(sorted({t.failure for t in self.trials if t.failure}))
            raise JobFailed(f"no trial reported {self.metric}: {failures or 'no trial ran'}")
        return self.properties()

    # --- strategies ------------------------------------------------------------------------

    def _random(self) -> None:
        for _ in range(self.max_jobs):
            self._trial(self._draw())

    def _grid(self) -> None:
        names = list(self.ranges)
        grid = list(itertools.product(*(self.ranges[name].values for name in names)))
        self.planned = len(grid)  # Grid runs every combination: no MaxNumberOfTrainingJobs
        for values in grid:
            self._trial(dict(zip(names, values, strict=True)))

    def _bayesian(self) -> None:
        import optuna  # only Bayesian tuning needs it: imported when it runs

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            direction="maximize" if self.maximize else "minimize",
            sampler=optuna.samplers.TPESampler(seed=self.config.get("RandomSeed", 0)),
        )
        for _ in range(self.max_jobs):
            asked = study.ask()
            trial = self._trial({name: spec.suggest(asked, name) for name, spec in self.ranges.items()})
            if trial.objective is None:
                study.tell(asked, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(asked, trial.objective)

    def _hyperband(self) -> None:
        settings = self.config["StrategyConfig"]["HyperbandStrategyConfig"]
        low, high = settings["MinResource"], settings["MaxResource"]
        resource = self._resource_name()
        alive = {self._job_name(index): self._draw() for index in range(1, self.max_jobs + 1)}
        rounds = low
        while alive:
            rounds = min(rounds, high)
            ran = [self._trial(tuned, {resource: str(rounds)}, name) for name, tuned in alive.items()]
            if rounds == high:
                return
            ranked = self._ranked(ran)
            kept = {t.name for t in ranked[: max(1, len(ranked) // ETA)]}
            for trial in ran:
                if trial.status == "Completed" and trial.name not in kept:
                    trial.status = "Stopped"
            alive = {name: tuned for name, tuned in alive.items() if name in kept}
            rounds *= ETA

    def _draw(self) -> dict[str, str]:
        return {name: spec.draw(self.random) for name, spec in self.ranges.items()}

    def _resource_name(self) -> str:
        static = self.definition.get("StaticHyperParameters", {})
        for name in ("num_round", "max_iter", "epochs", "num_epochs", "n_epochs"):
            if name in static:
                return name
        raise StepError(
            self.step, "Hyperband needs a static rounds hyperparameter (num_round, max_iter or epochs)"
        )

    # --- one trial ---------------------------------------------------------------------------

    def _job_name(self, index: int) -> str:
        # AMT names trials <tuning job>-<index>-<8 hex>.
        return f"{self.name}-{index:03d}-{secrets.token_hex(4)}"

    def _trial(self, tuned: dict[str, str], extra: dict[str, str] | None = None, name: str = "") -> Trial:
        """Run one training job; a name already run is that trial continued (Hyperband's next rung)."""
        name = name or self._job_name(len(self.trials) + 1)
        self.trials = [t for t in self.trials if t.name != name]
        trial = Trial(name, tuned)
        self.trials.append(trial)
        try:
            properties = self.run_trial(name, {**tuned, **(extra or {})})
        except JobFailed as error:
            trial.status, trial.failure = "Failed", str(error)
        else:
            metrics = {m["MetricName"]: float(m["Value"]) for m in properties.get("FinalMetricDataList", [])}
            # A NaN objective ranks nowhere: like AMT, count it as not reported.
            if math.isnan(metrics.get(self.metric, math.nan)):
                trial.status, trial.failure = "Failed", f"the log reported no {self.metric} (or NaN)"
            else:
                trial.status, trial.objective = "Completed", metrics[self.metric]
        trial.ended = datetime.now(UTC)
        ranked = self._ranked(self.trials)
        best = f", best {self.metric} = {_number(ranked[0].objective)}" if ranked else ""
        self.on_trial(f"trial {len(self.trials)} of {self.planned} done{best}")
        return trial

    # --- the result, as DescribeHyperParameterTuningJob + ListTrainingJobsFor...Job ----------------

    def _ranked(self, trials: list[Trial]) -> list[Trial]:
        """The trials that reported the objective, best first."""
        scored = [t for t in trials if t.objective is not None]
        return sorted(scored, key=lambda t: t.objective, reverse=self.maximize)

    def properties(self) -> dict:
        scored = self._ranked(self.trials)
        unscored = [t for t in self.trials if t not in scored]
        summaries = [self._summary(t) for t in scored + unscored]
        counts = {s: sum(t.status == s for t in self.trials) for s in ("Completed", "Stopped")}
        return {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobStatus": "Completed",
            "HyperParameterTuningJobConfig": self.config,
            "TrainingJobDefinition": self.definition,
            "TrainingJobStatusCounters": {
                **counts,
                "InProgress": 0,
                "RetryableError": 0,
                "NonRetryableError": sum(t.status == "Failed" for t in self.trials),
            },
            "ObjectiveStatusCounters": {"Succeeded": len(scored), "Pending": 0, "Failed": len(unscored)},
            "BestTrainingJob": summaries[0],
            "TrainingJobSummaries": summaries,
        }

    def _summary(self, trial: Trial) -> dict:
        summary = {
            "TrainingJobName": trial.name,
            "TuningJobName": self.name,
            "CreationTime": trial.started,
            "TrainingStartTime": trial.started,
            "TrainingEndTime": trial.ended,
            "TrainingJobStatus": trial.status,
            "TunedHyperParameters": trial.tuned,
            "ObjectiveStatus": "Succeeded" if trial.objective is not None else "Failed",
        }
        if trial.objective is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": "Maximize" if self.maximize else "Minimize",
                "MetricName": self.metric,
                "Value": trial.objective,
            }
        if trial.failure:
            summary["FailureReason"] = trial.failure
        return summary


def tuning_summary(properties: dict, request: dict) -> list[str]:
    """What `mlops local run` prints for the step: the budget used, the best trial, what was not emulated."""
    config = request["HyperParameterTuningJobConfig"]
    best = properties["BestTrainingJob"]
    metric = best["FinalHyperParameterTuningJobObjectiveMetric"]
    counts = properties["TrainingJobStatusCounters"]
    ran = sum(counts[status] for status in ("Completed", "Stopped", "NonRetryableError"))
    lines = [
        f"{ran} trials ({config['Strategy']}), best {metric['MetricName']} = {metric['Value']:.6g}",
        "best: " + ", ".join(f"{key}={value}" for key, value in sorted(best["TunedHyperParameters"].items())),
    ]
    if config.get("TrainingJobEarlyStoppingType") == "Auto":
        lines.append("early stopping: SageMaker's, not emulated (every trial ran to the end)")
    if "WarmStartConfig" in request:
        lines.append("warm start: its parent jobs are in SageMaker, not used locally")
    return lines


# --- ranges ----------------------------------------------------------------------------------


@dataclass
class Continuous:
    low: float
    high: float
    scaling: str

    def draw(self, rng: random.Random) -> str:
        if self.scaling == "Logarithmic":
            return _number(_log_uniform(rng, self.low, self.high))
        if self.scaling == "ReverseLogarithmic":
            return _number(1 - math.exp(rng.uniform(math.log(1 - self.high), math.log(1 - self.low))))
        return _number(rng.uniform(self.low, self.high))

    def suggest(self, trial, name: str) -> str:
        if self.scaling == "ReverseLogarithmic":  # Optuna has no reverse scale: search 1 - x on a log scale
            return _number(1 - trial.suggest_float(name, 1 - self.high, 1 - self.low, log=True))
        return _number(trial.suggest_float(name, self.low, self.high, log=self.scaling == "Logarithmic"))


@dataclass
class Integer:
    low: int
    high: int
    scaling: str

    def draw(self, rng: random.Random) -> str:
        if self.scaling == "Logarithmic":
            return str(round(_log_uniform(rng, self.low, self.high)))
        return str(rng.randint(self.low, self.high))

    def suggest(self, trial, name: str) -> str:
        return str(trial.suggest_int(name, self.low, self.high, log=self.scaling == "Logarithmic"))


@dataclass
class Categorical:
    values: list[str]

    def draw(self, rng: random.Random) -> str:
        return rng.choice(self.values)

    def suggest(self, trial, name: str) -> str:
        return trial.suggest_categorical(name, self.values)


def _ranges(declared: dict) -> dict[str, Continuous | Integer | Categorical]:
    ranges: dict[str, Continuous | Integer | Categorical] = {}
    for spec in declared.get("ContinuousParameterRanges", []):
        ranges[spec["Name"]] = Continuous(
            float(spec["MinValue"]), float(spec["MaxValue"]), spec.get("ScalingType", "Auto")
        )
    for spec in declared.get("IntegerParameterRanges", []):
        ranges[spec["Name"]] = Integer(
            int(spec["MinValue"]), int(spec["MaxValue"]), spec.get("ScalingType", "Auto")
        )
    for spec in declared.get("CategoricalParameterRanges", []):
        ranges[spec["Name"]] = Categorical([str(value) for value in spec["Values"]])
    return ranges


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _number(value: float) -> str:
    return f"{value:.6g}"
