"""build/config.yml: the build half's settings, validated on load.

Every field is checked here so that a typo or an impossible value fails before
anything talks to AWS, with a message naming the field and the rule.
"""

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from .definition.csv_filters import column_filter
from .validation import INSTANCE_TYPE_PATTERN, ScheduledRuns, StrictModel, load_validated
from .xgboost_algorithm import (
    XGBOOST_BY_PROBLEM,
    XGBOOST_MAX_PAYLOAD_MB,
    problem_type_problem,
    xgboost_range_problem,
)

ProblemType = Literal["regression", "binary_classification", "multiclass_classification"]
InstanceType = Field(pattern=INSTANCE_TYPE_PATTERN)

METRICS_BY_PROBLEM = {
    "regression": ("r2", "rmse", "mae"),  # r2 first: the default, free of the target's units
    "binary_classification": ("auc", "accuracy", "f1"),
    "multiclass_classification": ("f1_macro", "accuracy"),
}
LOWER_IS_BETTER = {"rmse", "mae"}
# Metric names whose direction is known, for the tuning objective's check (XGBoost's too).
MINIMIZED = LOWER_IS_BETTER | {"mse", "logloss", "mlogloss", "error", "merror", "rmsle", "mape"}
MAXIMIZED = {"r2", "auc", "aucpr", "accuracy", "f1", "f1_macro", "map", "ndcg"}
# What SageMaker Automatic Model Tuning accepts (its documented limits).
MAX_TUNING_JOBS = 500
MAX_PARALLEL_JOBS = 100
MAX_RANGES = 30
MAX_CATEGORICAL_VALUES = 30
TUNING_JOB_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$"


class Split(StrictModel):
    strategy: Literal["random", "stratified", "ordered", "key"]
    validation_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    seed: int
    # strategy key: the column whose rows stay together (a customer, a session), and the share of
    # the rows one key may hold before preprocessing warns that it tilts the split.
    key: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"^[^\n\r]+$")
    max_key_share: float = Field(default=0.05, gt=0, le=1)

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self):
        if self.validation_fraction + self.test_fraction >= 1:
            raise ValueError("validation_fraction + test_fraction must be below 1")
        if self.strategy == "key" and not self.key:
            raise ValueError("split.strategy 'key' needs split.key: the column whose rows stay together")
        if self.key and self.strategy != "key":
            raise ValueError(f"split.key is read by split.strategy 'key' only, not {self.strategy!r}")
        return self


class Gate(StrictModel):
    metric: Literal["rmse", "mae", "r2", "auc", "accuracy", "f1", "f1_macro"]
    threshold: float = Field(allow_inf_nan=False)
    # The share of the way from the naive answer on the test split (the mean; the class shares) to
    # a perfect score the model must also go: 0.1 = 10% (a skill score, with no units).
    beat_baseline_by: float | None = Field(default=None, ge=0, lt=1)
    # And score no worse than the model prod serves (deploy/prod.yml's version), on the same test
    # rows: champion/challenger. The CLI passes its kept archive as the ChampionModelUrl parameter.
    not_worse_than_prod: bool = False

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER

    @property
    def direction(self) -> str:
        """How the metric must compare with what is required: the one rule Evaluate and the
        pipeline's ConditionStep are given."""
        return "<=" if self.lower_is_better else ">="

    def looser(self, threshold: float) -> bool:
        """Whether `threshold` lets through a model this gate would stop."""
        return threshold > self.threshold if self.lower_is_better else threshold < self.threshold

    @model_validator(mode="after")
    def _threshold_in_range(self):
        if self.lower_is_better and self.threshold <= 0:
            raise ValueError(f"threshold must be > 0 for {self.metric} (an error metric)")
        if self.metric == "r2" and self.threshold > 1:
            raise ValueError("threshold must be at most 1 for r2")
        if self.metric not in LOWER_IS_BETTER | {"r2"} and not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1] for {self.metric} (a score)")
        return self


class Instances(StrictModel):
    processing_type: str = InstanceType
    processing_count: int = Field(ge=1, le=100)
    training_type: str = InstanceType
    training_count: int = Field(ge=1, le=100)
    processing_max_runtime_seconds: int = Field(ge=60, le=432_000)  # SageMaker's limit: 5 days
    training_max_runtime_seconds: int = Field(ge=60, le=432_000)


class Batch(StrictModel):
    """How the batch pipeline (build/batch_pipeline.py) reads rows and writes predictions."""

    # JSONPath over each input row (CSV, no header): the columns the model gets. "$[1:]": all but
    # the first (an ID). See definition/csv_filters.py for what SageMaker accepts.
    input_filter: str = "$"
    # Each output row is the input row followed by its prediction; false: the prediction alone.
    join_input: bool = True
    # JSONPath over the output row (joined or not): the columns written.
    output_filter: str = "$"
    # The defaults of the pipeline's instance parameters; each stage's batch block sets its own.
    instance_type: str = InstanceType
    instance_count: int = Field(ge=1, le=100)
    # The largest request a mini-batch makes to the model (SageMaker's MaxPayloadInMB).
    max_payload_mb: int = Field(default=6, ge=1, le=100)
    # SageMaker also keeps each run's inputs and predictions under <bucket>/<project>/batch-capture/
    # (BatchDataCaptureConfig), where Model Monitor reads batch data.
    capture: bool = False

    @model_validator(mode="after")
    def _filters_are_jsonpath(self):
        for name in ("input_filter", "output_filter"):
            try:
                column_filter(getattr(self, name))
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
        return self


class Caching(StrictModel):
    enabled: bool
    # ISO 8601 duration as SageMaker takes it: P30D, PT12H, P1DT6H.
    expire_after: str = Field(pattern=r"^P(\d+[YMWD])*(T(\d+[HM])+)?$", min_length=3)


class Quality(StrictModel):
    """Data quality (docs/quality.md): the training features' baseline is recorded with every
    version; this says whether new training data is checked against prod's, and what a violation does."""

    compare_with_prod: bool = True
    on_violation: Literal["fail", "record"] = "fail"


class NumericRange(StrictModel):
    @model_validator(mode="after")
    def _bounds(self):
        if not self.min < self.max:
            raise ValueError("min must be below max")
        if self.scaling == "Logarithmic" and self.min <= 0:
            raise ValueError("Logarithmic scaling needs min > 0")
        if self.scaling == "ReverseLogarithmic" and not (self.min >= 0 and self.max < 1):
            raise ValueError("ReverseLogarithmic scaling needs 0 <= min and max < 1")
        return self


class ContinuousRange(NumericRange):
    type: Literal["continuous"]
    min: float
    max: float
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"


class IntegerRange(NumericRange):
    type: Literal["integer"]
    min: int
    max: int
    scaling: Literal["Auto", "Linear", "Logarithmic"] = "Auto"


class CategoricalRange(StrictModel):
    type: Literal["categorical"]
    values: list[str | int | float | bool] = Field(min_length=1, max_length=MAX_CATEGORICAL_VALUES)

    @model_validator(mode="after")
    def _distinct(self):
        if len({str(value) for value in self.values}) != len(self.values):
            raise ValueError("values must be distinct")
        return self


Range = Annotated[ContinuousRange | IntegerRange | CategoricalRange, Field(discriminator="type")]


class Objective(StrictModel):
    metric: str = Field(pattern=r"^(train|validation):[A-Za-z0-9_@-]+$")
    type: Literal["Maximize", "Minimize"]

    @property
    def name(self) -> str:
        return self.metric.split(":", 1)[1]


class Hyperband(StrictModel):
    # The hyperparameter that counts training rounds: Hyperband gives each trial up to
    # max_resource of them and stops the weak ones early (locally: successive halving).
    resource: str
    min_resource: int = Field(ge=1)
    max_resource: int = Field(ge=1)

    @model_validator(mode="after")
    def _bounds(self):
        if not self.min_resource < self.max_resource:
            raise ValueError("min_resource must be below max_resource")
        return self


class WarmStart(StrictModel):
    type: Literal["IdenticalDataAndAlgorithm", "TransferLearning"]
    parents: list[Annotated[str, Field(pattern=TUNING_JOB_NAME)]] = Field(min_length=1, max_length=5)


class Tuning(StrictModel):
    strategy: Literal["Bayesian", "Random", "Hyperband", "Grid"]
    max_jobs: int | None = Field(default=None, ge=1, le=MAX_TUNING_JOBS)
    max_parallel_jobs: int = Field(ge=1, le=MAX_PARALLEL_JOBS)
    early_stopping: bool = False
    seed: int = Field(default=42, ge=0)
    objective: Objective
    ranges: dict[str, Range] = Field(min_length=1, max_length=MAX_RANGES)
    hyperband: Hyperband | None = None
    warm_start: WarmStart | None = None

    @property
    def grid_size(self) -> int:
        return math.prod(len(r.values) for r in self.ranges.values() if isinstance(r, CategoricalRange))

    @model_validator(mode="after")
    def _what_the_strategy_accepts(self):
        if self.strategy == "Grid":
            numeric = [name for name, r in self.ranges.items() if not isinstance(r, CategoricalRange)]
            if numeric:
                raise ValueError(
                    f"Grid searches categorical ranges only: make {', '.join(numeric)} categorical"
                )
            if self.max_jobs is not None:
                raise ValueError("Grid runs every combination of the ranges: remove max_jobs")
            if self.grid_size > MAX_TUNING_JOBS:
                raise ValueError(
                    f"the grid has {self.grid_size} combinations; tuning allows {MAX_TUNING_JOBS}"
                )
        elif self.max_jobs is None:
            raise ValueError(f"max_jobs is required for the {self.strategy} strategy")
        elif self.max_parallel_jobs > self.max_jobs:
            raise ValueError("max_parallel_jobs must not exceed max_jobs")
        if self.early_stopping and self.strategy not in ("Bayesian", "Random"):
            raise ValueError(f"early_stopping is for Bayesian and Random; {self.strategy} cannot use it")
        if (self.strategy == "Hyperband") != (self.hyperband is not None):
            raise ValueError("hyperband settings go with the Hyperband strategy, and only with it")
        if self.strategy == "Hyperband" and self.warm_start is not None:
            raise ValueError("Hyperband cannot warm start: use Bayesian, Random or Grid")
        return self


class BuildConfig(StrictModel):
    problem_type: ProblemType
    framework: Literal["xgboost", "sklearn"]
    target_column: str = Field(min_length=1)
    split: Split
    gate: Gate
    instances: Instances
    caching: Caching
    quality: Quality | None = None  # none: baselines are recorded, nothing is compared
    hyperparameters: dict[str, str | int | float | bool]
    tuning: Tuning | None = None
    batch: Batch | None = None  # read by build/batch_pipeline.py, for projects that score in batch
    retraining: ScheduledRuns | None = None

    @model_validator(mode="before")
    @classmethod
    def _xgboost_follows_the_problem_type(cls, raw):
        """The objective and eval_metric problem_type implies, where the file sets none."""
        if not isinstance(raw, dict) or raw.get("framework") != "xgboost":
            return raw
        implied = XGBOOST_BY_PROBLEM.get(raw.get("problem_type"), {})
        given = raw.get("hyperparameters")
        return {**raw, "hyperparameters": {**implied, **given}} if isinstance(given, dict) else raw

    @model_validator(mode="after")
    def _choices_fit_the_problem(self):
        allowed = METRICS_BY_PROBLEM[self.problem_type]
        if self.gate.metric not in allowed:
            raise ValueError(
                f"gate.metric {self.gate.metric!r} does not fit {self.problem_type}:"
                f" use one of {', '.join(allowed)}"
            )
        if self.split.strategy == "stratified" and self.problem_type == "regression":
            raise ValueError("split.strategy 'stratified' needs classes: use random or ordered")
        if self.split.key == self.target_column:
            raise ValueError(f"split.key {self.split.key!r} is the target column: name the keys' column")
        if self.tuning is not None:
            self._tuning_fits_the_training()
        if self.framework == "xgboost":
            self._xgboost_accepts_it()
        return self

    def _xgboost_accepts_it(self) -> None:
        for name, value in self.hyperparameters.items():
            problem = xgboost_range_problem(name, value)
            if problem:
                raise ValueError(f"hyperparameters.{problem}")
        problem = problem_type_problem(self.hyperparameters, self.problem_type)
        if problem:
            raise ValueError(problem)
        for name, tuned in (self.tuning.ranges if self.tuning else {}).items():
            ends = tuned.values if isinstance(tuned, CategoricalRange) else (tuned.min, tuned.max)
            problem = next(filter(None, (xgboost_range_problem(name, end) for end in ends)), "")
            if problem:
                raise ValueError(f"tuning.ranges.{problem}")
        if self.batch is not None and self.batch.max_payload_mb > XGBOOST_MAX_PAYLOAD_MB:
            raise ValueError(
                f"batch.max_payload_mb: the built-in XGBoost container refuses requests over"
                f" {XGBOOST_MAX_PAYLOAD_MB} MB; use at most {XGBOOST_MAX_PAYLOAD_MB}"
            )

    def _tuning_fits_the_training(self) -> None:
        tuning = self.tuning
        objective = tuning.objective
        emitted = self.emitted_metrics()
        if objective.name not in emitted:
            raise ValueError(
                f"tuning.objective.metric {objective.metric!r} is not one training reports:"
                f" use train: or validation: with one of {', '.join(emitted)}"
            )
        expected = {**dict.fromkeys(MINIMIZED, "Minimize"), **dict.fromkeys(MAXIMIZED, "Maximize")}.get(
            objective.name
        )
        if expected and objective.type != expected:
            raise ValueError(f"tuning.objective.type must be {expected} for {objective.metric}")
        reserved = [name for name in tuning.ranges if name == "problem_type" or name.startswith("sagemaker_")]
        if reserved:
            raise ValueError(f"tuning.ranges: {reserved[0]!r} is set by the pipeline, not tuned")
        if tuning.hyperband:
            resource = tuning.hyperband.resource
            if resource not in self.hyperparameters or resource in tuning.ranges:
                raise ValueError(
                    f"tuning.hyperband.resource {resource!r} must be a fixed entry of hyperparameters"
                    " (the number of training rounds)"
                )
            rounds = self.hyperparameters[resource]
            if not isinstance(rounds, int) or rounds < tuning.hyperband.max_resource:
                raise ValueError(
                    f"hyperparameters.{resource} must be at least tuning.hyperband.max_resource"
                    f" ({tuning.hyperband.max_resource}): Hyperband stops each trial there"
                )

    def emitted_metrics(self) -> tuple[str, ...]:
        """The metric names training logs as "<train|validation>-<name>:<value>"."""
        if self.framework == "xgboost":
            return tuple(str(self.hyperparameters.get("eval_metric", "")).split(","))
        return METRICS_BY_PROBLEM[self.problem_type]


def load_config(path: Path) -> BuildConfig:
    """Read and validate build/config.yml; raise MlopsError with a one-line reason."""
    return load_validated(path, BuildConfig)
