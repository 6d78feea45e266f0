"""What a project's tests may import, besides the fixtures sagemaker_gitops.pytest_plugin gives
them: the project's settings and config, its built definitions and their checks, its stage files,
its schedules, and a step of its own run as its container runs it. A release keeps these working;
the modules they come from are internal."""

from .aws import resolve_target
from .build.notebooks import load_workflow
from .build.pipelines import build, normalize
from .build.pipelines import problems as request_problems
from .build.tuning import metric_definitions
from .config import load_config
from .definition.pipeline_diff import changes
from .desired_state import STAGES, load_stage
from .images import problems as image_problems
from .local.emulator import routed
from .project import project
from .pytest_plugin import run_evaluate
from .stages.pipeline_schedules import plan as plan_schedule
from .stages.pipeline_schedules import sent as sent_parameters
from .stages.schedules import NOTEBOOKS, RETRAINING
from .stages.stage_schedules import BATCH, MONITORING
from .stages.status import status as stage_status

__all__ = [
    "BATCH",
    "MONITORING",
    "NOTEBOOKS",
    "RETRAINING",
    "STAGES",
    "build",
    "changes",
    "image_problems",
    "load_config",
    "load_stage",
    "load_workflow",
    "metric_definitions",
    "normalize",
    "plan_schedule",
    "project",
    "request_problems",
    "resolve_target",
    "routed",
    "run_evaluate",
    "sent_parameters",
    "stage_status",
]

# Kept for projects generated before stage schedules were one kind (BATCH, MONITORING): their
# tests/test_batch.py imports these.
batch_stack_name = BATCH.stack_name


def batch_stack_parameters(stage: str, state, target, git_commit: str) -> dict[str, str]:
    """BATCH.parameters for a stage (the batch stack needs no described version)."""
    return BATCH.parameters(stage, state, target, git_commit, {})


__all__ += ["batch_stack_name", "batch_stack_parameters"]
