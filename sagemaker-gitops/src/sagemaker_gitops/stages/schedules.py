"""The schedules that start this project's pipelines: each one CloudFormation stack holding one
AWS::Scheduler::Schedule, whose parameters are what the schedule sends, all from git.

    staging, prod   deploy/batch.yml as <project>-<stage>-batch, from deploy/<stage>.yml's batch block
                    (stages/stage_schedules.py, deployed by `mlops deploy`): starts the batch pipeline
    <stage>-monitor deploy/monitor.yml as <project>-<stage>-monitor, from its monitoring block (the
                    same): starts the monitoring pipeline
    retraining      build/retraining.yml as <project>-retraining, from build/config.yml's retraining
                    block (PipelineSchedule here; planned and deployed by pipeline_schedules.py, with
                    `mlops pipeline upsert`): starts the build pipeline
    notebooks       build/notebook_schedule.yml as <project>-notebooks, from build/notebooks.yml's
                    scheduled_runs block (the same): starts the notebook pipeline
"""

from dataclasses import dataclass
from pathlib import Path

from ..build.notebooks import load_workflow
from ..build.pipelines import parse_parameters
from ..config import load_config
from ..contract import DRIFT_RETRAINS
from ..definition.parameters import refuse_what_the_api_would, resolve_parameters
from ..desired_state import STAGES
from ..errors import MlopsError
from ..project import project
from ..validation import ScheduledRuns
from . import stage_schedules
from .stacks import deployed_parameters, describe_stack

# The stack parameters that describe the schedule itself; every other one is a pipeline parameter.
SCHEDULE_PARAMETERS = frozenset(
    {
        "Project",
        "Stage",
        "GitCommit",
        "SchedulerRoleArn",
        "ScheduleExpression",
        "ScheduleTimezone",
        "ScheduleState",
    }
)


@dataclass(frozen=True)
class PipelineSchedule:
    """One schedule of a build/ pipeline: what it starts, from which block of which file."""

    name: str  # "retraining" or "notebooks": also `mlops schedule fire NAME`
    kind: str  # the pipeline it starts
    template: str  # its CloudFormation template, in build/
    block: str  # the key of the block that asks for it

    @property
    def stack_name(self) -> str:
        return stack_of(self.name)

    @property
    def template_path(self) -> Path:
        """In build/, beside the pipeline it schedules."""
        return project().pipeline_file.parent / self.template

    @property
    def block_file(self) -> Path:
        """build/config.yml or build/notebooks.yml, wherever [tool.mlops] puts it."""
        return project().root / self.block_shown

    @property
    def block_shown(self) -> str:
        """The block's file as [tool.mlops] names it: build/config.yml."""
        settings = project().settings
        return (settings.config if self.kind == "build" else settings.notebooks).as_posix()

    @property
    def without(self) -> str:
        """What git lacks when it asks for no schedule: "build/config.yml has no retraining block"."""
        return f"{self.block_shown} has no {self.block} block"

    def wanted(self) -> ScheduledRuns | None:
        """The block, or None without one (or without the pipeline it would start)."""
        if self.kind == "build":
            return load_config(self.block_file).retraining
        if "notebooks" not in project().pipelines:
            return None
        return load_workflow(self.block_file, project().root).scheduled_runs


RETRAINING = PipelineSchedule("retraining", "build", "retraining.yml", "retraining")
NOTEBOOKS = PipelineSchedule("notebooks", "notebooks", "notebook_schedule.yml", "scheduled_runs")
ALL = (RETRAINING, NOTEBOOKS)
BUILD_SCHEDULES = {schedule.name: schedule for schedule in ALL}
# `mlops schedule fire` names for the stages' schedules: "staging" (batch), "staging-monitor", ...
STAGE_SCHEDULES = {
    schedule.fired_as(stage): (schedule, stage) for schedule in stage_schedules.ALL for stage in STAGES
}
NAMES = (*STAGE_SCHEDULES, *BUILD_SCHEDULES)


def drift_retrains(failed_step: str) -> bool:
    """Whether a monitoring run that failed at this step starts retraining: build/retraining.yml's
    rule listens for its step DriftedRetrain (contract.DRIFT_RETRAINS)."""
    return failed_step == DRIFT_RETRAINS


def refuse_what_a_scheduled_run_would(
    schedule: str, definition: dict, parameters: dict[str, str], refused: str
) -> None:
    """MlopsError when a schedule whose stack has these parameters could not run the pipeline of
    `definition`: each value it sends checked as `--param` checks one (in the pipeline's step
    requests, against SageMaker's API) and the schedule itself as EventBridge Scheduler checks it.
    One rule for every schedule: a stage's batch block, retraining, the notebook workflow's."""
    sent = [f"{name}={value}" for name, value in parameters.items() if name not in SCHEDULE_PARAMETERS]
    values = resolve_parameters(definition.get("Parameters", []), parse_parameters(sent))
    refuse_what_the_api_would(definition, values, refused)
    refuse_what_the_scheduler_would(schedule, parameters, refused)


def refuse_what_the_scheduler_would(schedule: str, parameters: dict[str, str], refused: str) -> None:
    """MlopsError when EventBridge Scheduler's CreateSchedule would refuse the schedule a stack with
    these parameters makes (botocore's model of the scheduler API: each pipeline parameter's value
    1 to 1,024 characters, the expression's and time zone's lengths), before anything is deployed."""
    from ..definition.api_requests import check  # botocore's service model: only deploying needs it

    request = {
        "Name": schedule,
        "ScheduleExpression": parameters["ScheduleExpression"],
        "ScheduleExpressionTimezone": parameters["ScheduleTimezone"],
        "State": parameters["ScheduleState"],
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{schedule}",
            "RoleArn": parameters["SchedulerRoleArn"],
            "SageMakerPipelineParameters": {
                "PipelineParameterList": [
                    {"Name": name, "Value": value}
                    for name, value in parameters.items()
                    if name not in SCHEDULE_PARAMETERS
                ]
            },
        },
    }
    found = check("CreateSchedule", request, service="scheduler")
    if found:
        raise MlopsError(f"{refused}: CreateSchedule {found[0]}")


def stack_of(name: str) -> str:
    if name in BUILD_SCHEDULES:
        return f"{project().slug}-{name}"
    schedule, stage = STAGE_SCHEDULES[name]
    return schedule.stack_name(stage)


def pipeline_of(name: str) -> str:
    """Which pipeline the schedule starts: "build" for retraining, "notebooks" for the notebook
    workflow's, "batch" or "monitor" for a stage's."""
    return BUILD_SCHEDULES[name].kind if name in BUILD_SCHEDULES else STAGE_SCHEDULES[name][0].kind


def sent_by(name: str) -> list[str]:
    """The pipeline parameters the deployed schedule sends, as Name=value pairs (read from its stack,
    which `mlops status` compares with git)."""
    stack = describe_stack(stack_of(name))
    if stack is None:
        if name in BUILD_SCHEDULES:
            block = BUILD_SCHEDULES[name]
            where = f"{block.block_shown} a {block.block} block and run `mlops pipeline upsert`"
        else:
            schedule, stage = STAGE_SCHEDULES[name]
            where = f"deploy/{stage}.yml a {schedule.block} block and deploy it (`mlops deploy {stage}`)"
        raise MlopsError(f"{name} has no schedule (stack {stack_of(name)}): give {where}")
    return [
        f"{key}={value}"
        for key, value in deployed_parameters(stack).items()
        if key not in SCHEDULE_PARAMETERS
    ]
