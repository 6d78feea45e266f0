"""The pipeline definition JSON as a graph of steps, checked before any step runs.

The checks catch wiring mistakes in seconds: a reference to a step or parameter that does
not exist, a property path that the step's Describe* response does not have (checked
against botocore's model of the SageMaker API), a property file that was never declared,
a step type or function this interpreter cannot run, and dependency cycles.
"""

from dataclasses import dataclass, field

from .expressions import STEP_REFERENCE, StepError, Token, parse_path, references
from .step_kinds import KINDS

EXECUTION_VARIABLES = {
    "PipelineExecutionId",
    "PipelineExecutionArn",
    "PipelineName",
    "PipelineArn",
    "StartDateTime",
    "CurrentDateTime",
    "TrainingJobName",
    "ProcessingJobName",
}
FUNCTIONS = {"Std:Join", "Std:JsonGet"}


@dataclass
class Step:
    name: str
    type: str
    document: dict
    # (Condition step, outcome) that must have happened for this step to run.
    gate: tuple[str, bool] | None = None
    depends_on: list[str] = field(default_factory=list)

    @property
    def arguments(self) -> dict:
        return self.document.get("Arguments", {})

    @property
    def property_files(self) -> dict[str, dict]:
        return {f["PropertyFileName"]: f for f in self.document.get("PropertyFiles", [])}

    @property
    def branches(self) -> tuple[tuple[str, bool], ...]:
        """The arguments holding steps of their own, and the outcome each runs on (none for a kind
        step_kinds.py does not declare: load() refuses those)."""
        return KINDS[self.type].branches if self.type in KINDS else ()

    def own_expressions(self) -> object:
        """What this step evaluates itself (a Condition's branches belong to their own steps)."""
        branches = {name for name, _ in self.branches}
        return {name: value for name, value in self.arguments.items() if name not in branches}


@dataclass
class Graph:
    steps: list[Step]  # in an order where every step comes after the steps it depends on
    parameters: list[dict]

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)


def load(definition: dict, service_model) -> Graph:
    """Parse and check a definition; `service_model` is botocore's SageMaker model."""
    graph = parse(definition)
    steps = {step.name: step for step in graph.steps}
    parameters = {p["Name"] for p in graph.parameters}
    for step in graph.steps:
        _check_type(step)
        _check_expressions(step, step.own_expressions(), steps, parameters, service_model)
    return graph


def parse(definition: dict) -> Graph:
    """The steps (Condition branches included) and their dependencies, in a runnable order."""
    steps: dict[str, Step] = {}

    def add(document: dict, gate: tuple[str, bool] | None) -> None:
        step = Step(document["Name"], document["Type"], document, gate)
        if step.name in steps:
            raise StepError(step.name, "two steps have this name")
        steps[step.name] = step
        for branch, outcome in step.branches:
            for inner in step.arguments.get(branch, []):
                add(inner, (step.name, outcome))

    for document in definition.get("Steps", []):
        add(document, None)
    for step in steps.values():
        step.depends_on = _dependencies(step, steps)
    return Graph(_ordered(steps), definition.get("Parameters", []))


def _check_type(step: Step) -> None:
    if step.type not in KINDS:
        raise StepError(step.name, f"`mlops local run` cannot run {step.type} steps")


def _dependencies(step: Step, steps: dict[str, Step]) -> list[str]:
    names = list(step.document.get("DependsOn", []))
    for reference in references(step.own_expressions()):
        match = STEP_REFERENCE.match(reference)
        if match:
            names.append(match.group(1))
    if step.gate:
        names.append(step.gate[0])
    for name in names:
        if name not in steps:
            raise StepError(step.name, f"depends on step {name!r}, which the pipeline does not have")
        if name == step.name:
            raise StepError(step.name, "refers to its own properties")
    return list(dict.fromkeys(names))


def _check_expressions(step: Step, value, steps: dict[str, Step], parameters: set[str], model) -> None:
    for function in _functions(value):
        if function not in FUNCTIONS:
            raise StepError(step.name, f"`mlops local run` does not support the function {function}")
    for reference in references(value):
        root, _, name = reference.partition(".")
        if root == "Parameters" and name not in parameters:
            raise StepError(step.name, f"{reference}: the pipeline has no parameter {name!r}")
        elif root == "Execution" and name not in EXECUTION_VARIABLES:
            raise StepError(step.name, f"{reference}: unknown execution variable {name!r}")
        elif root == "Steps":
            match = STEP_REFERENCE.match(reference)
            _check_property(step.name, steps[match.group(1)], match.group(2), model)
        elif root not in {"Parameters", "Execution"}:
            raise StepError(step.name, f"`mlops local run` does not support the reference {reference!r}")


def _functions(value) -> list[str]:
    if isinstance(value, dict):
        own = [key for key in value if key.startswith("Std:")]
        return own + [f for item in value.values() for f in _functions(item)]
    if isinstance(value, list):
        return [f for item in value for f in _functions(item)]
    return []


def _check_property(where: str, source: Step, path: str, model) -> None:
    reference = f"Steps.{source.name}{path}"
    try:
        tokens = parse_path(path)
    except ValueError as error:
        raise StepError(where, f"{reference}: {error}") from None
    if tokens and tokens[0] == Token("PropertyFiles", True):
        if len(tokens) != 2 or tokens[1].value not in source.property_files:
            declared = ", ".join(source.property_files) or "none"
            raise StepError(
                where,
                f"{reference}: step {source.name!r} declares no such property file (it has: {declared})",
            )
        return
    own = KINDS[source.type].own_properties
    if own:
        if [t.value for t in tokens] not in [[name] for name in own]:
            only = ", ".join(own)
            raise StepError(where, f"{reference}: a {source.type} step has only the property {only}")
        return
    operations = KINDS[source.type].describes
    if not operations:
        raise StepError(where, f"{reference}: a {source.type} step has no properties")
    missing = [_missing_hop(model.operation_model(op).output_shape, tokens, source.name) for op in operations]
    if all(missing):
        raise StepError(
            where,
            f"{reference}: {' or '.join(operations)} has no {max(missing, key=len)}"
            f" (step {source.name!r} is a {source.type} step)",
        )


def _missing_hop(shape, tokens: list[Token], step: str) -> str:
    """ "" when the shape has the whole path; else the path up to its first missing hop."""
    walked = f"Steps.{step}"
    for token in tokens:
        shape = _member(shape, token)
        walked += str(token)
        if shape is None:
            return walked
    return ""


def _member(shape, token: Token):
    """The botocore shape one hop down, or None when the hop does not exist."""
    if shape.type_name == "structure":
        return shape.members.get(token.value) if token.attribute else None
    if shape.type_name == "list":
        return None if token.attribute else shape.member
    if shape.type_name == "map":
        return None if token.attribute else shape.value
    return None


def _ordered(steps: dict[str, Step]) -> list[Step]:
    """Definition order, moved only as far as dependencies require; a cycle is an error."""
    ordered: list[Step] = []
    placed: set[str] = set()
    pending = list(steps.values())
    while pending:
        ready = next((s for s in pending if set(s.depends_on) <= placed), None)
        if ready is None:
            names = ", ".join(s.name for s in pending)
            raise StepError(pending[0].name, f"dependency cycle among steps {names}")
        ordered.append(ready)
        placed.add(ready.name)
        pending.remove(ready)
    return ordered
