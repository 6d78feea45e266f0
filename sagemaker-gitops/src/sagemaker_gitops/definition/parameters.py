"""A definition's parameters given values for one run: the defaults it declares, overrides cast to
the declared types, and the run refused, before it starts, when a value makes a step request
SageMaker's API would refuse. (Where the overrides come from, `--param` or a schedule's block,
and what a project's own rules add to them, is build/pipelines.py's parse_parameters.)"""

from typing import Any

from ..errors import MlopsError
from . import api_requests


def resolve_parameters(declared: list[dict], overrides: list[dict]) -> dict[str, Any]:
    """Parameter values: defaults, then --param overrides cast to the declared type."""
    types = {p["Name"]: p.get("Type", "String") for p in declared}
    values = {p["Name"]: p["DefaultValue"] for p in declared if "DefaultValue" in p}
    for override in overrides:
        name, text = override["Name"], override["Value"]
        if name not in types:
            known = ", ".join(sorted(types))
            raise MlopsError(f"unknown pipeline parameter {name!r}: expected one of {known}")
        values[name] = _cast(name, types[name], text)
    missing = sorted(set(types) - set(values))
    if missing:
        raise MlopsError(f"parameter {missing[0]!r} has no default: give it with --param {missing[0]}=VALUE")
    return values


CASTS = {
    "Integer": (int, "an integer"),
    "Float": (float, "a number"),
    "Boolean": (lambda text: {"true": True, "false": False}[text.lower()], "true or false"),
}


def _cast(name: str, kind: str, text: str) -> Any:
    if kind not in CASTS:
        return text
    cast, expected = CASTS[kind]
    try:
        return cast(text)
    except (ValueError, KeyError):
        raise MlopsError(f"--param {name}={text}: expected {expected}") from None


def refuse_what_the_api_would(definition: dict, values: dict[str, Any], refused: str) -> None:
    """MlopsError when a run's parameter values make a step request SageMaker's API refuses
    (an instance type that does not exist, a count out of range): before, not minutes into it."""
    found = api_requests.problems(definition, values=values)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise MlopsError(f"{refused}: {found[0]}{more}")
