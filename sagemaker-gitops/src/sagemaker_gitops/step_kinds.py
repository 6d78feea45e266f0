"""What each kind of pipeline step is, declared once: the step types a definition may hold, and for
each what the platform's readers need to know of it.

- `describes`: the Describe*/List* responses its properties (Steps.<name>.<path>) mirror, which
  local/definition.py checks property references against (botocore's shapes);
- `creates` and `generated`: the API SageMaker turns its request into at run time, and the fields
  SageMaker fills in itself (sample values), which api_requests.py validates the request against;
  `pipeline_only`: fields the SDK writes that SageMaker Pipelines drops from that request;
- `cache_key`: the request attributes SageMaker's step cache keys on ("Caching pipeline steps" in
  the developer guide; empty: never cached), which local/caching.py compares;
A kind that is not here cannot be run locally, validated or cached: adding one starts here
(docs/adding-a-step-kind.md).
"""

from dataclasses import dataclass, field

# What SageMaker names a step's job: pipelines-<execution id>-<step name>-<hash>.
JOB_NAME = "pipelines-abcdefghijkl-step-0a1b2c3d4e"


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
        ),
        StepKind(
            "RegisterModel",
            describes=("DescribeModelPackage",),
            creates="CreateModelPackage",
            pipeline_only=frozenset({"SkipModelValidation"}),
        ),
        StepKind(
            "Model",
            describes=("DescribeModel",),
            creates="CreateModel",
            generated={"ModelName": JOB_NAME},
        ),
        StepKind(
            "Transform",
            describes=("DescribeTransformJob",),
            creates="CreateTransformJob",
            generated={"TransformJobName": JOB_NAME},
        ),
        StepKind("Condition"),
        StepKind("Fail"),
    )
}
