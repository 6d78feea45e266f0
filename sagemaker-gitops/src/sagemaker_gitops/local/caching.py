"""SageMaker Pipelines' step cache: which arguments decide whether a step is a cache hit.

AWS documents, per step type, the request attributes its cache key covers ("Caching pipeline
steps" in the SageMaker developer guide). A hit hands on the earlier run's properties, so an S3
path built from the *current* execution id and a *cached* step's output name points at nothing;
`tests/test_caching.py` holds the pipeline to that.
"""

import json

# Not the outputs: a step whose only change is where it writes is still a hit.
CACHE_KEY_ATTRIBUTES = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
    "Tuning": ("HyperParameterTuningJobConfig", "TrainingJobDefinition"),
}
# Of a tuning step's TrainingJobDefinition, only these count.
TUNING_DEFINITION_ATTRIBUTES = (
    "AlgorithmSpecification",
    "HyperParameterRanges",
    "InputDataConfig",
    "StaticHyperParameters",
    "TuningObjective",
)


def cacheable(step_type: str, document: dict) -> bool:
    """Whether SageMaker may reuse an earlier run of this step (RegisterModel never is)."""
    return step_type in CACHE_KEY_ATTRIBUTES and document.get("CacheConfig", {}).get("Enabled") is True


def cache_key(step_type: str, request: dict) -> str:
    """The part of a step's resolved request that decides a hit, as canonical JSON."""
    key = {name: request.get(name) for name in CACHE_KEY_ATTRIBUTES[step_type]}
    if step_type == "Tuning":
        definition = request.get("TrainingJobDefinition", {})
        key["TrainingJobDefinition"] = {name: definition.get(name) for name in TUNING_DEFINITION_ATTRIBUTES}
    return json.dumps(key, sort_keys=True)
