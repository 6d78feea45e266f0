"""deploy/<stage>.yml: what each stage's endpoint must serve, and how; validated on load.

Git is the record of what runs where: `mlops promote` writes a stage's model_package_arn,
a reviewed pull request changes prod.yml, and `mlops deploy STAGE` makes the cloud match
the file. Every rule below is one SageMaker would otherwise enforce minutes into a deploy.
"""

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from .errors import MlopsError
from .project import project
from .validation import INSTANCE_TYPE_PATTERN, Schedule, StrictModel, load_validated

STAGES = ("staging", "prod")
S3_URL = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?)?$"
MODEL_PACKAGE_ARN = r"^(arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9-]{1,63}/\d+)?$"


class Serverless(StrictModel):
    memory_size_mb: Literal[1024, 2048, 3072, 4096, 5120, 6144]
    max_concurrency: int = Field(ge=1, le=200)


class DataCapture(StrictModel):
    enabled: bool
    sampling_percentage: int = Field(ge=1, le=100)
    # Empty: s3://<artifact bucket>/<project>/data-capture/<stage>.
    destination: str = Field(default="", pattern=S3_URL)


class Autoscaling(StrictModel):
    min_capacity: int = Field(ge=1, le=100)
    max_capacity: int = Field(ge=1, le=100)
    target_invocations_per_instance: int = Field(ge=1)

    @model_validator(mode="after")
    def _range(self):
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity {self.min_capacity} is above max_capacity {self.max_capacity}")
        return self


class Deployment(StrictModel):
    """Blue/green guardrails: how traffic moves to a new model, and when it rolls back."""

    strategy: Literal["all_at_once", "canary", "linear"]
    # Canary: the share of traffic the new model gets first; linear: the share per step.
    traffic_percent: int = Field(default=10, ge=1, le=50)
    # How long each shift bakes (watching the alarms) before the next.
    wait_seconds: int = Field(default=600, ge=0, le=3600)
    # Roll back automatically when the endpoint's 5xx or latency alarm fires.
    rollback_on_alarms: bool = True


class BatchScoring(StrictModel):
    """Batch scoring with the stage's model (build/batch_pipeline.py), on a schedule."""

    # CSV rows without a header. Empty: data/batch/sample.csv as `mlops pipeline upsert` put it.
    input: str = Field(default="", pattern=S3_URL)
    # Empty: s3://<artifact bucket>/<project>/batch-output/<stage>; each run writes under its id.
    output: str = Field(default="", pattern=S3_URL)
    instance_type: str = Field(pattern=INSTANCE_TYPE_PATTERN)
    instance_count: int = Field(ge=1, le=100)
    schedule: Schedule


class Monitoring(StrictModel):
    """The endpoint's captured requests checked against the served version's data-quality baseline,
    and its answers that have a label against the model-quality one (build/monitor_pipeline.py), on
    a schedule."""

    lookback_hours: int = Field(ge=1, le=168)  # each run checks the requests of the hours before it
    instance_type: str = Field(pattern=INSTANCE_TYPE_PATTERN)
    schedule: Schedule
    # Where the team's labels for captured requests arrive, in SageMaker's ground-truth layout
    # (<url>/yyyy/mm/dd/hh/*.jsonl). Empty: s3://<artifact bucket>/<project>/ground-truth/<stage>.
    ground_truth: str = Field(default="", pattern=S3_URL)
    # Fewer answers with a label in a run's hours: the model's metric is not judged on them.
    min_labelled_rows: int = Field(default=100, ge=1)
    # A run that finds drift starts the build pipeline (build/retraining.yml's rule, with the
    # retraining block's parameters).
    retrain_on_drift: bool = False


class StageState(StrictModel):
    model_package_arn: str = Field(default="", pattern=MODEL_PACKAGE_ARN)
    instance_type: str | None = Field(default=None, pattern=INSTANCE_TYPE_PATTERN)
    initial_instance_count: int | None = Field(default=None, ge=1, le=100)
    serverless: Serverless | None = None
    data_capture: DataCapture = DataCapture(enabled=False, sampling_percentage=100)
    autoscaling: Autoscaling | None = None
    deployment: Deployment | None = None
    batch: BatchScoring | None = None  # deploy/batch.yml, as the stack <project>-<stage>-batch
    monitoring: Monitoring | None = None  # deploy/monitor.yml, as the stack <project>-<stage>-monitor

    @model_validator(mode="after")
    def _one_way_to_host(self):
        instances = self.instance_type is not None or self.initial_instance_count is not None
        if self.serverless is not None and instances:
            raise ValueError("give either serverless or instance_type + initial_instance_count, not both")
        if self.serverless is None and (self.instance_type is None or self.initial_instance_count is None):
            raise ValueError("give instance_type and initial_instance_count, or a serverless block")
        if self.serverless is not None and self.autoscaling is not None:
            raise ValueError("autoscaling applies to instances: a serverless endpoint scales by itself")
        if self.serverless is not None and self.data_capture.enabled:
            raise ValueError("data_capture: serverless endpoints do not support data capture")
        if self.monitoring is not None and not self.data_capture.enabled:
            raise ValueError(
                "monitoring reads the endpoint's captured requests: it needs data_capture.enabled: true"
                + (" (a serverless endpoint captures nothing)" if self.serverless is not None else "")
            )
        if self.autoscaling and not (
            self.autoscaling.min_capacity <= self.initial_instance_count <= self.autoscaling.max_capacity
        ):
            raise ValueError(
                f"initial_instance_count {self.initial_instance_count} is outside autoscaling"
                f" [{self.autoscaling.min_capacity}, {self.autoscaling.max_capacity}]"
            )
        return self


def deploy_dir() -> Path:
    return project().root / "deploy"


def stage_file(stage: str) -> Path:
    return deploy_dir() / f"{stage}.yml"


def load_stage(stage: str, path: Path | None = None) -> StageState:
    """deploy/<stage>.yml, validated; MlopsError naming the file, field and rule."""
    return load_validated(path or stage_file(stage), StageState)


def set_model_package(path: Path, arn: str) -> None:
    """Point a stage file at a model package, keeping every other line (and comment) as it is."""
    text = path.read_text()
    line = re.compile(r"^model_package_arn:.*$", re.MULTILINE)
    if not line.search(text):
        raise MlopsError(f"{path}: no model_package_arn line to update")
    path.write_text(line.sub(f'model_package_arn: "{arn}"', text, count=1))
