"""What each kind of pipeline step is, declared once: the step types a definition may hold, and for
each what the platform's readers need to know of it.

- `describes`: the Describe*/List* responses its properties (Steps.<name>.<path>) mirror, which
  graph.py checks property references against (botocore's shapes);
- `creates` and `generated`: the API SageMaker turns its request into at run time, and the fields
  SageMaker fills in itself (sample values), which api_requests.py validates the request against;
  `pipeline_only`: fields the SDK writes that SageMaker Pipelines drops from that request;
- `cache_key`: the request attributes SageMaker's step cache keys on ("Caching pipeline steps" in
  the developer guide; empty: never cached), which local/caching.py compares;
- `scripts`: the code of ours its request runs, as (image, script, the staged files it receives or
  None for all of them), which the package's images.py checks against what the image ships and
  the local run warms each image's environment for;
- `branches`: the arguments holding steps of their own, and the outcome each runs on (a
  Condition's IfSteps and ElseSteps), which the definition's parser, its checks and
  `mlops pipeline diff` read; `own_properties`: the properties it has without a Describe response
  (a Condition's Outcome).
How each kind runs locally is local/runner.py's (a method registered for it).
A kind that is not here cannot be run locally, validated or cached: adding one starts here
(docs/adding-a-step-kind.md).
"""

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .step_code import HASHED_DIR

# What SageMaker names a step's job: pipelines-<execution id>-<step name>-<hash>.
JOB_NAME = "pipelines-abcdefghijkl-step-0a1b2c3d4e"
# A staged script's URI ends in /code/<hash>/<file>; sourcedir.tar.gz holds every build/steps/*.py.
STAGED_CODE = re.compile(HASHED_DIR.pattern + r"([^/]+)$")
SOURCEDIR = "sourcedir.tar.gz"

# (image URI, script file, the build/steps files the job receives; None: all of them)
Script = tuple[str, str, frozenset[str] | None]


def _processing_scripts(arguments: dict) -> Iterator[Script]:
    app = arguments["AppSpecification"]
    staged = {
        match.group(1)
        for source in arguments.get("ProcessingInputs", [])
        if isinstance(uri := source.get("S3Input", {}).get("S3Uri"), str)
        and (match := STAGED_CODE.search(uri))
    }
    receives = None if SOURCEDIR in staged else frozenset(staged)
    for part in app.get("ContainerEntrypoint", []):
        if str(part).endswith(".py"):
            yield app["ImageUri"], Path(part).name, receives


def _training_job_scripts(job: dict) -> Iterator[Script]:
    hyperparameters = job.get("HyperParameters") or job.get("StaticHyperParameters") or {}
    program = hyperparameters.get("sagemaker_program")
    if program:  # script mode; a built-in algorithm runs no code of ours
        yield job["AlgorithmSpecification"]["TrainingImage"], json.loads(program), None


# What a notebook job's container runs: a NotebookJobStep is a Training step running this driver.
NOTEBOOK_ENTRYPOINT = ["amazon_sagemaker_scheduler"]


def is_notebook_job(request: dict) -> bool:
    """Whether a CreateTrainingJob request is a notebook job's (its container runs the notebook driver)."""
    return request.get("AlgorithmSpecification", {}).get("ContainerEntrypoint") == NOTEBOOK_ENTRYPOINT


def _serving_scripts(arguments: dict) -> Iterator[Script]:
    spec = arguments.get("InferenceSpecification", arguments)
    for container in spec.get("Containers") or [spec.get("PrimaryContainer", {})]:
        program = container.get("Environment", {}).get("SAGEMAKER_PROGRAM")
        if program:
            yield container["Image"], program, None


def _none(arguments: dict) -> Iterator[Script]:
    return iter(())


@dataclass(frozen=True)
class StepKind:
    name: str  # the definition's "Type"
    describes: tuple[str, ...] = ()
    creates: str = ""
    generated: dict[str, str] = field(default_factory=dict)
    pipeline_only: frozenset[str] = frozenset()
    cache_key: tuple[str, ...] = ()
    # Of a tuning step's TrainingJobDefinition, the attributes its cache key covers.
    cache_key_of_definition: tuple[str, ...] = ()
    scripts: Callable[[dict], Iterator[Script]] = _none
    branches: tuple[tuple[str, bool], ...] = ()
    own_properties: tuple[str, ...] = ()


KINDS = {
    kind.name: kind
    for kind in (
        StepKind(
            "Processing",
            describes=("DescribeProcessingJob",),
            creates="CreateProcessingJob",
            generated={"ProcessingJobName": JOB_NAME},
            # Not the outputs: a step whose only change is where it writes is still a hit.
            cache_key=("AppSpecification", "Environment", "ProcessingInputs"),
            scripts=_processing_scripts,
        ),
        StepKind(
            "Training",
            describes=("DescribeTrainingJob",),
            creates="CreateTrainingJob",
            generated={"TrainingJobName": JOB_NAME},
            cache_key=(
                "AlgorithmSpecification",
                "CheckpointConfig",
                "DebugHookConfig",
                "DebugRuleConfigurations",
                "Environment",
                "HyperParameters",
                "InputDataConfig",
            ),
            scripts=_training_job_scripts,
        ),
        StepKind(
            "Tuning",
            describes=("DescribeHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"),
            creates="CreateHyperParameterTuningJob",
            generated={"HyperParameterTuningJobName": "abcdefghijkl-0a1b2c3d"},
            cache_key=("HyperParameterTuningJobConfig", "TrainingJobDefinition"),
            cache_key_of_definition=(
                "AlgorithmSpecification",
                "HyperParameterRanges",
                "InputDataConfig",
                "StaticHyperParameters",
                "TuningObjective",
            ),
            scripts=lambda arguments: _training_job_scripts(arguments["TrainingJobDefinition"]),
        ),
        StepKind(
            "RegisterModel",
            describes=("DescribeModelPackage",),
            creates="CreateModelPackage",
            pipeline_only=frozenset({"SkipModelValidation"}),
            scripts=_serving_scripts,
        ),
        StepKind(
            "Model",
            describes=("DescribeModel",),
            creates="CreateModel",
            generated={"ModelName": JOB_NAME},
            scripts=_serving_scripts,
        ),
        StepKind(
            "Transform",
            describes=("DescribeTransformJob",),
            creates="CreateTransformJob",
            generated={"TransformJobName": JOB_NAME},
        ),
        StepKind(
            "Condition",
            branches=(("IfSteps", True), ("ElseSteps", False)),
            own_properties=("Outcome",),
        ),
        StepKind("Fail"),
    )
}
