"""sagemaker-gitops: the platform a generated project depends on, the `mlops` CLI and the code
behind it (README.md says which module holds what).

A project's own code imports only what `__all__` below names (its pipelines, build/*.py) and what
`sagemaker_gitops.testing` names (its tests): that is what a release keeps working. Every other
module is internal, and may change in any release.
"""

import importlib

from . import contract  # the names a project and the platform both rely on
from .project import project  # the project's settings: light, imported with the package

# Where each other public name lives, imported on first use: some of these modules import the
# SageMaker SDK, which `mlops --help` and the verbs that build no definition never load.
_WHERE = {
    "AwsTarget": "aws",
    "BuildConfig": "config",
    "StepCode": "definition.step_code",
    "ScaledTransformStep": "build.batch_steps",
    "StagedNotebookJobStep": "build.notebook_steps",
    "notebook_parameters": "build.notebook_steps",
    "load_workflow": "build.notebooks",
    "custom_metric_definitions": "build.tuning",
    "parameter_ranges": "build.tuning",
    "strategy_config": "build.tuning",
    "warm_start_config": "build.tuning",
    "warm_start_parent": "build.tuning",
}
__all__ = ["contract", "project", *_WHERE]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(__all__)
