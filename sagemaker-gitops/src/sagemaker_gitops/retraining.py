"""Scheduled retraining: build/retraining.yml as the stack <project>-retraining, an EventBridge
Scheduler schedule that starts the build pipeline, from build/config.yml's `retraining` block.

`mlops pipeline upsert` deploys it with the pipeline (and deletes it once the block is gone). Every
pipeline parameter the template sends gets the definition's default (from build/config.yml) or the
block's value for it, checked as `mlops pipeline start --param` checks a value.
"""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import load_config
from .errors import MlopsError
from .pipelines import (
    BuiltPipeline,
    build,
    parse_parameters,
    refuse_what_the_api_would,
    resolve_parameters,
)
from .project import git, project
from .schedules import SCHEDULE_PARAMETERS, stack_of
from .stacks import (
    apply_stack,
    delete_stack,
    deployed_parameters,
    describe_stack,
    drift,
    read_template,
)

TEMPLATE = "retraining.yml"


@dataclass
class Plan:
    """What `upsert` will make of the retraining stack: its parameters, or None to delete it."""

    parameters: dict[str, str] | None


@dataclass
class ScheduleStatus:
    """The retraining schedule git asks for against the deployed one, for `mlops status`."""

    desired: str  # the schedule expression build/config.yml gives; "" without a block
    deployed: str  # the deployed stack's; "" without a stack
    differences: list[str]

    @property
    def drift(self) -> bool:
        return bool(self.differences)


def stack_name() -> str:
    return stack_of("retraining")


def template_path() -> Path:
    """build/retraining.yml: beside the pipeline it schedules."""
    return project().pipeline_file.parent / TEMPLATE


def sent(template: dict) -> list[str]:
    """The pipeline parameters the template's schedule sends."""
    return [name for name in template["Parameters"] if name not in SCHEDULE_PARAMETERS]


def plan(built: BuiltPipeline) -> Plan:
    """The retraining stack's parameters for the build pipeline as built; MlopsError, before anything
    is changed, for a block the schedule could not run."""
    retraining = load_config(project().config_path).retraining
    if retraining is None:
        return Plan(None)
    if not template_path().is_file():
        raise MlopsError(f"build/config.yml schedules retraining, but build/{TEMPLATE} is missing")
    names = sent(read_template(template_path()))
    unsent = sorted(set(retraining.parameters) - set(names))
    if unsent:
        raise MlopsError(
            f"build/config.yml: retraining.parameters.{unsent[0]}: build/{TEMPLATE} does not send it"
            " (add it to the template's Parameters and PipelineParameterList)"
        )
    definition = built.definition()
    declared = definition.get("Parameters", [])
    undeclared = [name for name in names if name not in {p["Name"] for p in declared}]
    if undeclared:
        raise MlopsError(
            f"build/{TEMPLATE} sends {undeclared[0]!r}, a parameter build/pipeline.py does not declare"
        )
    overrides = parse_parameters([f"{name}={value}" for name, value in retraining.parameters.items()])
    values = resolve_parameters(declared, overrides)
    refuse_what_the_api_would(definition, values, "retraining not scheduled")
    schedule = retraining.schedule
    return Plan(
        {
            "Project": project().slug,
            "GitCommit": committed(),
            "SchedulerRoleArn": built.target.scheduler_role_arn,
            "ScheduleExpression": schedule.expression,
            "ScheduleTimezone": schedule.timezone,
            "ScheduleState": "ENABLED" if schedule.enabled else "DISABLED",
            **{name: str(values[name]) for name in names},
        }
    )


def committed() -> str:
    """The last commit of build/config.yml or build/retraining.yml (what the schedule is made from),
    "-dirty" with uncommitted changes to either; "unknown" outside git. Other commits leave it
    unchanged, so they never update the schedule."""
    files = [str(project().config_path), str(template_path())]
    try:
        commit = git("log", "-1", "--format=%H", "--", *files) or "unknown"
        return commit + ("-dirty" if git("status", "--porcelain", "--", *files) else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def status() -> ScheduleStatus | None:
    """The retraining schedule against git; None when there is neither a block nor a stack."""
    wanted = load_config(project().config_path).retraining
    stack = describe_stack(stack_name())
    if wanted is None and stack is None:
        return None
    deployed = deployed_parameters(stack).get("ScheduleExpression", "") if stack else ""
    if wanted is None:
        return ScheduleStatus(
            "", deployed, [f"stack {stack_name()} exists, but build/config.yml has no retraining block"]
        )
    if stack is None:
        return ScheduleStatus(wanted.schedule.expression, "", [f"stack {stack_name()} does not exist"])
    found = drift(stack, template_path(), plan(build()).parameters)
    return ScheduleStatus(wanted.schedule.expression, deployed, found)


def apply(planned: Plan, on_status: Callable[[str], None]) -> str:
    """Make the retraining stack what `planned` says; "" when there is none and should be none."""
    if planned.parameters is None:
        return delete_stack(stack_name(), on_status) if describe_stack(stack_name()) else ""
    return apply_stack(stack_name(), template_path(), planned.parameters, on_status)
