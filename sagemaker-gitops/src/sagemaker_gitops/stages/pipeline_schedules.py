"""The schedules that start a pipeline from build/, each a stack of one EventBridge Scheduler
schedule, deployed by `mlops pipeline upsert` (and deleted once its block is gone):

    retraining   build/retraining.yml as <project>-retraining, from build/config.yml's
                 `retraining` block: starts the build pipeline
    notebooks    build/notebook_schedule.yml as <project>-notebooks, from build/notebooks.yml's
                 `scheduled_runs` block: starts the notebook pipeline

Which schedules there are, and the block and template of each, is schedules.py's (PipelineSchedule);
this module plans their stacks (stacks.reconcile deploys them). Every pipeline parameter a template
sends gets the definition's default or the block's value for it, checked as `mlops pipeline start
--param` checks a value.
"""

import subprocess
from dataclasses import dataclass

from ..build.pipelines import BuiltPipeline, build, parse_parameters
from ..definition.parameters import resolve_parameters
from ..errors import MlopsError
from ..project import project
from ..repository import git
from .schedules import ALL, SCHEDULE_PARAMETERS, PipelineSchedule, refuse_what_a_scheduled_run_would
from .stacks import (
    DesiredStack,
    against_git,
    deployed_parameters,
    describe_stack,
    read_template,
    unwanted_or_missing,
)


def of_pipelines(kinds: list[str]) -> list[PipelineSchedule]:
    """The schedules of these pipelines."""
    return [schedule for schedule in ALL if schedule.kind in kinds]


@dataclass
class ScheduleStatus:
    """The schedule git asks for against the deployed one, for `mlops status`."""

    desired: str  # the schedule expression the block gives; "" without a block
    deployed: str  # the deployed stack's; "" without a stack
    differences: list[str]

    @property
    def drift(self) -> bool:
        return bool(self.differences)


def sent(template: dict) -> list[str]:
    """The pipeline parameters the template's schedule sends."""
    return [name for name in template["Parameters"] if name not in SCHEDULE_PARAMETERS]


def plan(schedule: PipelineSchedule, built: BuiltPipeline) -> DesiredStack:
    """The schedule's stack for its pipeline as built (parameters None without a block);
    MlopsError, before anything is changed, for a block the schedule could not run."""
    wanted = schedule.wanted()
    if wanted is None:
        return DesiredStack(schedule.stack_name, schedule.template_path, None, schedule.without)
    if not schedule.template_path.is_file():
        raise MlopsError(
            f"{schedule.block_file.name} schedules runs, but build/{schedule.template} is missing"
        )
    names = sent(read_template(schedule.template_path))
    unsent = sorted(set(wanted.parameters) - set(names))
    if unsent:
        raise MlopsError(
            f"{schedule.block_shown}: {schedule.block}.parameters.{unsent[0]}: build/{schedule.template}"
            " does not send it"
            " (add it to the template's Parameters and PipelineParameterList)"
        )
    definition = built.definition()
    declared = definition.get("Parameters", [])
    undeclared = [name for name in names if name not in {p["Name"] for p in declared}]
    if undeclared:
        raise MlopsError(
            f"build/{schedule.template} sends {undeclared[0]!r}, a parameter"
            f" {project().pipeline_file_of(schedule.kind).relative_to(project().root)} does not declare"
        )
    overrides = parse_parameters([f"{name}={value}" for name, value in wanted.parameters.items()])
    values = resolve_parameters(declared, overrides)  # the block's, and the definition's defaults
    parameters = {
        "Project": project().slug,
        "GitCommit": committed(schedule),
        "SchedulerRoleArn": built.target.scheduler_role_arn,
        "ScheduleExpression": wanted.schedule.expression,
        "ScheduleTimezone": wanted.schedule.timezone,
        "ScheduleState": "ENABLED" if wanted.schedule.enabled else "DISABLED",
        **{name: str(values[name]) for name in names},
    }
    refuse_what_a_scheduled_run_would(
        schedule.stack_name, definition, parameters, f"{schedule.name} not scheduled"
    )
    return DesiredStack(schedule.stack_name, schedule.template_path, parameters)


def plan_for(built: list[BuiltPipeline]) -> list[tuple[PipelineSchedule, DesiredStack]]:
    """Each schedule of these pipelines, planned against the pipeline it starts; MlopsError for one
    that could not run, before anything is changed."""
    by_kind = {pipeline.kind: pipeline for pipeline in built}
    return [(schedule, plan(schedule, by_kind[schedule.kind])) for schedule in of_pipelines(list(by_kind))]


def committed(schedule: PipelineSchedule) -> str:
    """The last commit of the block's file or the template (what the schedule is made from),
    "-dirty" with uncommitted changes to either; "unknown" outside git. Other commits leave it
    unchanged, so they never update the schedule."""
    files = [str(schedule.block_file), str(schedule.template_path)]
    try:
        commit = git("log", "-1", "--format=%H", "--", *files) or "unknown"
        return commit + ("-dirty" if git("status", "--porcelain", "--", *files) else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def status(schedule: PipelineSchedule) -> ScheduleStatus | None:
    """The schedule against git; None when there is neither a block nor a stack."""
    wanted = schedule.wanted()
    stack = describe_stack(schedule.stack_name)
    if wanted is None and stack is None:
        return None
    deployed = deployed_parameters(stack).get("ScheduleExpression", "") if stack else ""
    # The pipeline is built (to plan the stack) only when there is a stack to compare it with.
    found = unwanted_or_missing(schedule.stack_name, wanted is not None, stack, schedule.without)
    if found is None:
        found = against_git(plan(schedule, build(kind=schedule.kind)), stack)
    return ScheduleStatus(wanted.schedule.expression if wanted else "", deployed, found)
