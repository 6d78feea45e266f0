"""The schedules that start this project's pipelines: each one CloudFormation stack holding one
AWS::Scheduler::Schedule, whose parameters are what the schedule sends, all from git.

    staging, prod   deploy/batch.yml as <project>-<stage>-batch, from deploy/<stage>.yml's batch block
                    (batch_stack.py, deployed by `mlops deploy`): starts the batch pipeline
    retraining      build/retraining.yml as <project>-retraining, from build/config.yml's retraining
                    block (pipeline_schedules.py, deployed by `mlops pipeline upsert`): starts the build
                    pipeline
    notebooks       build/notebook_schedule.yml as <project>-notebooks, from build/notebooks.yml's
                    scheduled_runs block (the same): starts the notebook pipeline
"""

from . import batch_stack
from .errors import MlopsError
from .project import project
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
NAMES = ("staging", "prod", "retraining", "notebooks")
# Where each schedule of a build/ pipeline is asked for, and the pipeline it starts.
BUILD_SCHEDULES = {
    "retraining": ("build/config.yml a retraining block", "build"),
    "notebooks": ("build/notebooks.yml a scheduled_runs block", "notebooks"),
}


def stack_of(name: str) -> str:
    return f"{project().slug}-{name}" if name in BUILD_SCHEDULES else batch_stack.stack_name(name)


def pipeline_of(name: str) -> str:
    """Which pipeline the schedule starts: "build" for retraining, "notebooks" for the notebook
    workflow's, "batch" for a stage's."""
    return BUILD_SCHEDULES[name][1] if name in BUILD_SCHEDULES else "batch"


def sent_by(name: str) -> list[str]:
    """The pipeline parameters the deployed schedule sends, as Name=value pairs (read from its stack,
    which `mlops status` compares with git)."""
    stack = describe_stack(stack_of(name))
    if stack is None:
        where = (
            f"{BUILD_SCHEDULES[name][0]} and run `mlops pipeline upsert`"
            if name in BUILD_SCHEDULES
            else (f"deploy/{name}.yml a batch block and deploy it (`mlops deploy {name}`)")
        )
        raise MlopsError(f"{name} has no schedule (stack {stack_of(name)}): give {where}")
    return [
        f"{key}={value}"
        for key, value in deployed_parameters(stack).items()
        if key not in SCHEDULE_PARAMETERS
    ]
