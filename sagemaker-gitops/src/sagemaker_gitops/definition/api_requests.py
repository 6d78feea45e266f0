"""Each step's request, checked against botocore's model of the SageMaker API it becomes.

SageMaker turns every step into a Create* call at run time; a value the API refuses (an instance
type that does not exist, a name too long, a missing field) fails the execution only when the
step is reached. This checks them before anything runs: pipeline expressions are replaced by
typed placeholders (parameters by their defaults, execution variables by sample values, step
properties and parameters without a default by values that are only type-checked), then
botocore's validator runs, and then the constraints it skips: patterns, maximum lengths, enums
and maximum values from the service model.
"""

import json
from collections.abc import Iterator
from functools import cache

from .graph import parse
from .step_kinds import KINDS

EXECUTION_SAMPLES = {
    "PipelineExecutionId": "abcdefghijkl",
    "PipelineExecutionArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abcdefghijkl",
    "PipelineName": "pipeline",
    "PipelineArn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/pipeline",
    "StartDateTime": "2026-01-01T00:00:00Z",
    "CurrentDateTime": "2026-01-01T00:00:00Z",
    "TrainingJobName": "pipelines-abcdefghijkl-step-0a1b2c3d4e",
    "ProcessingJobName": "pipelines-abcdefghijkl-step-0a1b2c3d4e",
}


class Unknown(str):
    """A value known only at run time (a step property): its type is checked, not its content."""


@cache
def service_model(service: str = "sagemaker"):
    import botocore.session  # here: the CLI's verbs that check no request need not load it

    return botocore.session.get_session().get_service_model(service)


def problems(definition: dict, pipeline_request: dict | None = None, values: dict | None = None) -> list[str]:
    """One line per value SageMaker would refuse, in every step's request (with the parameters'
    defaults, or a run's `values`) and in CreatePipeline's, when given."""
    defaults = {p["Name"]: p.get("DefaultValue") for p in definition.get("Parameters", [])} | (values or {})
    found = []
    for step in parse(definition).steps:
        kind = KINDS[step.type]
        if not kind.creates:
            continue
        request = {**kind.generated, **_placeholders(step.arguments, defaults)}
        for name in kind.pipeline_only:
            request.pop(name, None)
        found += [f"{step.name}: {kind.creates} {problem}" for problem in check(kind.creates, request)]
    if pipeline_request is not None:
        found += [f"CreatePipeline {problem}" for problem in check("CreatePipeline", pipeline_request)]
    return found


def check(operation: str, request: dict, service: str = "sagemaker") -> list[str]:
    """botocore's own validation, then the constraints of the model it leaves out."""
    from botocore.validate import ParamValidator

    shape = service_model(service).operation_model(operation).input_shape
    request = _typed(request, shape)
    report = ParamValidator().validate(request, shape)
    found = [" ".join(line.split()) for line in report.generate_report().splitlines() if line.strip()]
    return found + list(_constraints(request, shape, ""))


def _placeholders(value, defaults: dict):
    if isinstance(value, list):
        return [_placeholders(item, defaults) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Get"}:
        root, _, name = value["Get"].partition(".")
        if root == "Parameters":  # one without a default is known only when a run names it
            return Unknown(name) if defaults.get(name) is None else defaults[name]
        if root == "Execution":
            return EXECUTION_SAMPLES.get(name, Unknown(name))
        return Unknown(value["Get"])
    if set(value) == {"Std:Join"}:
        parts = [_placeholders(part, defaults) for part in value["Std:Join"]["Values"]]
        joined = value["Std:Join"]["On"].join(_text(part) for part in parts)
        return Unknown(joined) if any(isinstance(part, Unknown) for part in parts) else joined
    if set(value) == {"Std:JsonGet"}:
        return Unknown("JsonGet")
    return {key: _placeholders(item, defaults) for key, item in value.items()}


def _typed(value, shape):
    """An Unknown where the API takes a number or a boolean becomes a value of that type."""
    if isinstance(value, Unknown) and shape.type_name != "string":
        typed = {"boolean": False, "float": 0.0, "double": 0.0}
        return typed.get(shape.type_name, shape.metadata.get("min", 1))
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: _typed(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_typed(item, shape.member) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _typed(v, shape.value) for k, v in value.items()}
    return value


def _text(value) -> str:
    # Std:Join writes booleans and numbers as JSON does.
    return value if isinstance(value, str) else json.dumps(value)


def _constraints(value, shape, where: str) -> Iterator[str]:
    at = where or "request"
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, item in value.items():
            if name in shape.members:
                yield from _constraints(item, shape.members[name], f"{where}.{name}".lstrip("."))
    elif shape.type_name == "list" and isinstance(value, list):
        yield from _bounds(len(value), shape, at, "items")
        for index, item in enumerate(value):
            yield from _constraints(item, shape.member, f"{where}[{index}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        yield from _bounds(len(value), shape, at, "entries")
        for key, item in value.items():
            yield from _constraints(key, shape.key, f"{where}(key {key!r})")
            yield from _constraints(item, shape.value, f"{where}[{key!r}]")
    elif shape.type_name == "string" and isinstance(value, str) and not isinstance(value, Unknown):
        yield from _string(value, shape, at)
    elif shape.type_name in {"integer", "long", "float", "double"} and isinstance(value, int | float):
        maximum = shape.metadata.get("max")
        if maximum is not None and value > maximum:
            yield f"{at}: {value} is above the maximum {maximum}"


def _string(value: str, shape, at: str) -> Iterator[str]:
    enum = shape.enum
    if enum and value not in enum:
        shown = ", ".join(enum[:6]) + (f", ... ({len(enum)} in all)" if len(enum) > 6 else "")
        yield f"{at}: {value!r} is not one of {shown}"
        return
    yield from _bounds(len(value), shape, at, "characters")
    pattern = shape.metadata.get("pattern")
    if pattern and _compiled(pattern).fullmatch(value) is None:
        yield f"{at}: {_short(value)} does not match the pattern {pattern}"


def _bounds(size: int, shape, at: str, unit: str) -> Iterator[str]:
    maximum = shape.metadata.get("max")
    if maximum is not None and size > maximum:
        yield f"{at}: {size} {unit}, at most {maximum} allowed"


@cache
def _compiled(pattern: str):
    # AWS writes its patterns for Java's regex engine (\p{L}, ...), which `re` cannot read.
    import regex  # only `validate` needs it: the CLI starts without it

    return regex.compile(pattern)


def _short(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")
