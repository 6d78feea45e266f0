"""The schedules a stage file asks for: each a CloudFormation stack of one EventBridge Scheduler
schedule that starts a build/ pipeline with what the stage serves, deployed by `mlops deploy
STAGE` once the endpoint passed its smoke test (and deleted once its block is gone).

    batch        deploy/batch.yml as <project>-<stage>-batch, from the stage file's `batch` block:
                 build/batch_pipeline.py scores files with the stage's model
    monitoring   deploy/monitor.yml as <project>-<stage>-monitor, from its `monitoring` block:
                 build/monitor_pipeline.py checks the endpoint's captured requests against the
                 served version's data-quality baseline (and, given labels, its answers against
                 the model-quality one)
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..aws import AwsTarget
from ..contract import data_baseline, model_baseline
from ..desired_state import StageState
from ..errors import MlopsError
from ..project import project
from .endpoint_stack import stack_parameters as endpoint_parameters
from .stacks import DesiredStack

VARIANT = "main"  # deploy/endpoint.yml's one production variant


@dataclass(frozen=True)
class StageSchedule:
    """One kind of schedule a stage file may ask for."""

    block: str  # the key of its block in deploy/<stage>.yml
    kind: str  # the pipeline it starts, and its stack's suffix
    template: str  # its CloudFormation template, in deploy/
    # Its pipeline's parameters for a stage, from the stage file and the served version (described).
    sends: Callable[[str, StageState, AwsTarget, dict], dict[str, str]]
    reads_version: bool = False  # whether `sends` reads the described version (one AWS call)

    def stack_name(self, stage: str) -> str:
        return f"{project().slug}-{stage}-{self.kind}"

    def fired_as(self, stage: str) -> str:
        """Its name for `mlops schedule fire`: the stage for batch scoring, "<stage>-monitor"."""
        return stage if self.kind == "batch" else f"{stage}-{self.kind}"

    def asked_for(self, state: StageState):
        return getattr(state, self.block)

    def desired(
        self, stage: str, state: StageState, target: AwsTarget, commit: str, repo: Path, package: dict
    ) -> DesiredStack:
        """The stage's stack as deploy/<stage>.yml (in `repo`) asks for it, for the version it
        serves (`package`, described): none without the block."""
        template = repo / "deploy" / self.template
        if self.asked_for(state) is None:
            return DesiredStack(
                self.stack_name(stage), template, None, f"deploy/{stage}.yml has no {self.block} block"
            )
        if not template.is_file():
            raise MlopsError(
                f"deploy/{stage}.yml has a {self.block} block, but deploy/{self.template} is missing"
            )
        return DesiredStack(
            self.stack_name(stage), template, self.parameters(stage, state, target, commit, package)
        )

    def parameters(
        self, stage: str, state: StageState, target: AwsTarget, commit: str, package: dict
    ) -> dict[str, str]:
        """Every template parameter of the stage's stack (the stage has the block)."""
        block = self.asked_for(state)
        return {
            "Project": project().slug,
            "Stage": stage,
            "GitCommit": commit,
            "SchedulerRoleArn": target.scheduler_role_arn,
            "ScheduleExpression": block.schedule.expression,
            "ScheduleTimezone": block.schedule.timezone,
            "ScheduleState": "ENABLED" if block.schedule.enabled else "DISABLED",
            **self.sends(stage, state, target, package),
        }


def _batch(stage: str, state: StageState, target: AwsTarget, package: dict) -> dict[str, str]:
    batch = state.batch
    return {
        "ModelPackageArn": state.model_package_arn,
        "InputDataUrl": batch.input or f"s3://{target.bucket}/{project().sample_data_key_of('batch')}",
        "OutputDataUrl": batch.output or f"s3://{target.bucket}/{project().slug}/batch-output/{stage}",
        "TransformInstanceType": batch.instance_type,
        "TransformInstanceCount": str(batch.instance_count),
    }


def _monitoring(stage: str, state: StageState, target: AwsTarget, package: dict) -> dict[str, str]:
    data_quality, model_quality = data_baseline(package), model_baseline(package)
    if not (data_quality and model_quality):
        raise MlopsError(
            f"deploy/{stage}.yml monitors its endpoint, but {state.model_package_arn} has no quality"
            " baselines to compare with (a version registered before baselines were): promote a newer one"
        )
    destination = endpoint_parameters(stage, state, target, "")["DataCaptureDestination"].rstrip("/")
    endpoint = f"{project().slug}-{stage}"  # deploy/endpoint.yml's EndpointName
    monitoring = state.monitoring
    labels = monitoring.ground_truth or f"s3://{target.bucket}/{project().slug}/ground-truth/{stage}"
    return {
        "CaptureUrl": f"{destination}/{endpoint}/{VARIANT}",
        "DataBaselineUrl": data_quality,
        "GroundTruthUrl": labels.rstrip("/"),
        "ModelBaselineUrl": model_quality,
        "MinLabelledRows": str(monitoring.min_labelled_rows),
        "LookbackHours": str(monitoring.lookback_hours),
        "RetrainOnDrift": str(monitoring.retrain_on_drift).lower(),
        "ProcessingInstanceType": monitoring.instance_type,
    }


BATCH = StageSchedule("batch", "batch", "batch.yml", _batch)
MONITORING = StageSchedule("monitoring", "monitor", "monitor.yml", _monitoring, reads_version=True)
ALL = (BATCH, MONITORING)


def read_version(state: StageState) -> bool:
    """Whether the stage file asks for a schedule whose parameters come from the served version."""
    return any(schedule.reads_version and schedule.asked_for(state) is not None for schedule in ALL)
