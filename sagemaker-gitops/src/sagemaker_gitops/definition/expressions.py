"""Evaluate the expressions of a pipeline definition the way SageMaker Pipelines does.

An expression is a one-key object: {"Get": "Parameters.X" | "Execution.X" | "Steps.S.<path>"},
{"Std:Join": {"On", "Values"}} or {"Std:JsonGet": {"PropertyFile" | "S3Uri", "Path"}}.
Anything else with a "Std:" key is a construct this interpreter does not know: it stops
the run and names it, rather than guessing.
"""

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import MlopsError


class StepError(MlopsError):
    """A problem in, or met while running, one step of the definition."""

    def __init__(self, step: str, message: str):
        super().__init__(f"step {step!r}: {message}")
        self.step = step


class Unreadable(Exception):
    """A JSON document a JsonGet names cannot be read (missing object, not JSON)."""


STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9_-]+)(.*)$")
_PATH_TOKEN = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


@dataclass(frozen=True)
class Token:
    """One hop of a property path: an attribute (.Name), a list index ([0]) or a key (['train'])."""

    value: str | int
    attribute: bool

    def __str__(self) -> str:
        if self.attribute:
            return f".{self.value}"
        return f"[{self.value}]" if isinstance(self.value, int) else f"['{self.value}']"


def parse_path(path: str) -> list[Token]:
    """Split ".ProcessingOutputConfig.Outputs['train'].S3Output" into tokens; ValueError if malformed."""
    tokens, position = [], 0
    while position < len(path):
        match = _PATH_TOKEN.match(path, position)
        if not match:
            raise ValueError(f"cannot read {path[position:]!r}")
        attribute, index, key1, key2 = match.groups()
        if attribute is not None:
            tokens.append(Token(attribute, True))
        elif index is not None:
            tokens.append(Token(int(index), False))
        else:
            tokens.append(Token(key1 if key1 is not None else key2, False))
        position = match.end()
    return tokens


def _std_keys(value: dict) -> set[str]:
    return {key for key in value if key.startswith("Std:")}


def references(value: Any) -> list[str]:
    """Every "Get" path inside a value, in document order."""
    if isinstance(value, dict):
        if set(value) == {"Get"} and isinstance(value["Get"], str):
            return [value["Get"]]
        return [ref for item in value.values() for ref in references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []


def as_text(value: Any) -> str:
    """How a value reads once joined into a string (booleans as JSON, like the service)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def short(value: Any) -> str:
    """A value for people to read: numbers to 6 significant digits."""
    return f"{value:.6g}" if isinstance(value, float) else as_text(value)


@dataclass
class Scope:
    """What expressions can see during a run; step properties fill in as steps finish."""

    parameters: dict[str, Any]
    execution: dict[str, str]
    # Step name -> its Describe*-shaped properties once it has run.
    properties: dict[str, dict] = field(default_factory=dict)
    # (step, property file name) -> the parsed JSON document.
    read_property_file: Callable[[str, str], Any] | None = None
    read_s3_json: Callable[[str], Any] | None = None

    def resolve(self, value: Any, step: str) -> Any:
        """The value with every expression inside it evaluated; `step` names the caller in errors."""
        if isinstance(value, list):
            return [self.resolve(item, step) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Get"}:
            return self._get(value["Get"], step)
        if len(value) == 1 and _std_keys(value):
            function, arguments = next(iter(value.items()))
            if function == "Std:Join":
                return arguments["On"].join(as_text(self.resolve(v, step)) for v in arguments["Values"])
            if function == "Std:JsonGet":
                return self._json_get(arguments, step)
            raise StepError(step, f"`mlops local run` does not support the function {function}")
        return {key: self.resolve(item, step) for key, item in value.items()}

    def _get(self, path: str, step: str) -> Any:
        root, _, name = path.partition(".")
        if root == "Parameters":
            if name not in self.parameters:
                raise StepError(step, f"{path}: the pipeline has no parameter {name!r}")
            return self.parameters[name]
        if root == "Execution":
            if name not in self.execution:
                raise StepError(step, f"{path}: unknown execution variable {name!r}")
            return self.execution[name]
        match = STEP_REFERENCE.match(path)
        if match:
            return self._step_property(match.group(1), match.group(2), step)
        raise StepError(step, f"`mlops local run` does not support the reference {path!r}")

    def _step_property(self, source: str, path: str, step: str) -> Any:
        if source not in self.properties:
            raise StepError(step, f"Steps.{source}{path}: step {source!r} has not run")
        value: Any = self.properties[source]
        walked = f"Steps.{source}"
        for token in parse_path(path):
            value = _follow(value, token)
            walked += str(token)
            if value is None:
                raise StepError(
                    step,
                    f"{walked}: not set by the local run of {source!r} (the reference may be valid in"
                    " SageMaker; `mlops local run` fills in the request fields and job outputs)",
                )
        return value

    def _json_get(self, arguments: dict, step: str) -> Any:
        json_path = arguments.get("Path")
        where, document = self._json_document(arguments, step)
        try:
            return json_path_get(document, json_path)
        except (KeyError, IndexError, TypeError, ValueError):
            raise StepError(
                step,
                f"Std:JsonGet: path {json_path!r} does not exist in {where} (keys there: {_keys(document)})",
            ) from None

    def _json_document(self, arguments: dict, step: str) -> tuple[str, Any]:
        """The document a JsonGet reads, and how to name it in errors."""
        where = "its S3Uri"
        try:
            if "PropertyFile" in arguments:
                source, name = _property_file_reference(arguments["PropertyFile"], step)
                where = f"property file {name!r} of step {source!r}"
                return where, self.read_property_file(source, name)
            if "S3Uri" in arguments:
                where = self.resolve(arguments["S3Uri"], step)
                return where, self.read_s3_json(where)
        except Unreadable as error:
            raise StepError(step, f"Std:JsonGet: cannot read {where}: {error}") from None
        raise StepError(step, "Std:JsonGet needs a PropertyFile or an S3Uri")

    def condition(self, condition: dict, step: str) -> bool:
        """Evaluate one entry of a Condition step's Conditions."""
        kind = condition.get("Type")
        if kind == "Not":
            return not self.condition(condition["Condition"], step)
        if kind == "Or":
            return any(self.condition(inner, step) for inner in condition["Conditions"])
        if kind == "In":
            query = self.resolve(condition["QueryValue"], step)
            return any(_equal(query, self.resolve(v, step)) for v in condition["Values"])
        if kind not in COMPARISONS:
            raise StepError(step, f"`mlops local run` does not support the condition type {kind!r}")
        left = self.resolve(condition["LeftValue"], step)
        right = self.resolve(condition["RightValue"], step)
        try:
            return COMPARISONS[kind](*_comparable(left, right))
        except TypeError:
            raise StepError(step, f"{kind}: cannot compare {left!r} with {right!r}") from None


def _property_file_reference(reference: Any, step: str) -> tuple[str, str]:
    """{"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"} -> ("Evaluate", "EvaluationReport")."""
    match = STEP_REFERENCE.match(reference.get("Get", "")) if isinstance(reference, dict) else None
    kind, _, name = (match.group(2).lstrip(".") if match else "").partition(".")
    if not match or kind != "PropertyFiles" or not name:
        raise StepError(step, f"Std:JsonGet: cannot read the property file reference {reference!r}")
    return match.group(1), name


def _follow(value: Any, token: Token) -> Any:
    if token.attribute:
        return value.get(token.value) if isinstance(value, dict) else None
    if not isinstance(value, list):
        return value.get(token.value) if isinstance(value, dict) else None
    if isinstance(token.value, int):
        return value[token.value] if token.value < len(value) else None
    # Lists of named things (Outputs['train'], FinalMetricDataList['validation:rmse']) are
    # keyed by their *Name field, as the SDK's properties are.
    for item in value:
        if isinstance(item, dict) and any(key.endswith("Name") and item[key] == token.value for key in item):
            return item
    return None


def json_path_get(document: Any, path: str) -> Any:
    """Follow a JsonGet path ("a.b[0].c"); KeyError/IndexError when a hop is missing."""
    if not path:
        raise ValueError("empty path")
    value = document
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        value = value[int(part[1:-1])] if part.startswith("[") else value[part]
    return value


def _keys(document: Any) -> str:
    return ", ".join(sorted(document)) if isinstance(document, dict) else type(document).__name__


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    # JsonGet values and parameters arrive as numbers or numeric strings: compare as numbers.
    return _number(left), _number(right)


def _equal(left: Any, right: Any) -> bool:
    return operator.eq(*_comparable(left, right))


COMPARISONS = {
    "Equals": operator.eq,
    "GreaterThan": operator.gt,
    "GreaterThanOrEqualTo": operator.ge,
    "LessThan": operator.lt,
    "LessThanOrEqualTo": operator.le,
}
