"""build/config.yml: the build half's settings, validated on load.

Every field is checked here so that a typo or an impossible value fails before
anything talks to AWS, with a message naming the field and the rule.
"""

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import MlopsError

ProblemType = Literal["regression", "binary_classification", "multiclass_classification"]
INSTANCE_TYPE_PATTERN = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
InstanceType = Field(pattern=INSTANCE_TYPE_PATTERN)

METRICS_BY_PROBLEM = {
    "regression": ("rmse", "mae", "r2"),
    "binary_classification": ("auc", "accuracy", "f1"),
    "multiclass_classification": ("f1_macro", "accuracy"),
}
LOWER_IS_BETTER = {"rmse", "mae"}
Model = TypeVar("Model", bound=BaseModel)


class StrictModel(BaseModel):
    # A misspelt key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Split(StrictModel):
    strategy: Literal["random", "stratified", "ordered"]
    validation_fraction: float = Field(gt=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    seed: int

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self):
        if self.validation_fraction + self.test_fraction >= 1:
            raise ValueError("validation_fraction + test_fraction must be below 1")
        return self


class Gate(StrictModel):
    metric: Literal["rmse", "mae", "r2", "auc", "accuracy", "f1", "f1_macro"]
    threshold: float

    @property
    def lower_is_better(self) -> bool:
        return self.metric in LOWER_IS_BETTER

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


class Caching(StrictModel):
    enabled: bool
    # ISO 8601 duration as SageMaker takes it: P30D, PT12H, P1DT6H.
    expire_after: str = Field(pattern=r"^P(\d+[YMWD])*(T(\d+[HM])+)?$", min_length=3)


class BuildConfig(StrictModel):
    problem_type: ProblemType
    framework: Literal["xgboost", "sklearn"]
    target_column: str = Field(min_length=1)
    split: Split
    gate: Gate
    instances: Instances
    caching: Caching
    hyperparameters: dict[str, str | int | float | bool]

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
        return self


def load_config(path: Path) -> BuildConfig:
    """Read and validate build/config.yml; raise MlopsError with a one-line reason."""
    return load_validated(path, BuildConfig)


def load_validated(path: Path, model: type[Model]) -> Model:
    """Read a YAML file into a pydantic model; MlopsError naming the file, field and rule."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise MlopsError(f"{path}: not found") from None
    except yaml.YAMLError as error:
        raise MlopsError(f"{path}: not valid YAML ({error.problem})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise MlopsError(f"{path}: {where}: {message}") from None
