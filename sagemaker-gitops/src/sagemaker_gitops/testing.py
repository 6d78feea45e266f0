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
from .stages.batch_stack import stack_name as batch_stack_name
from .stages.batch_stack import stack_parameters as batch_stack_parameters
from .stages.pipeline_schedules import plan as plan_schedule
from .stages.pipeline_schedules import sent as sent_parameters
from .stages.schedules import NOTEBOOKS, RETRAINING
from .stages.status import status as stage_status

__all__ = [
    "NOTEBOOKS",
    "RETRAINING",
    "STAGES",
    "batch_stack_name",
    "batch_stack_parameters",
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
