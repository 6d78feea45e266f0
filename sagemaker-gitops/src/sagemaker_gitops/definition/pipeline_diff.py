"""`mlops pipeline diff`: what a change does to the pipeline, in words and a graph, not raw JSON.

Both sides are the reviewed snapshot (tests/snapshots/pipeline-definition.json): the tests
keep it equal to what build/pipeline.py builds, so the base side is read from git and no
old code is ever run.
"""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import MlopsError
from ..project import project
from ..repository import git, is_commit
from .graph import Graph, Step, parse

# Longer values (a whole processing command line, a JSON blob) are cut in the report.
VALUE_WIDTH = 60


@dataclass
class Change:
    what: str  # "step Train" or "parameter GateThreshold"
    how: str  # "added", "removed", or the changed fields with old -> new


def snapshot_at(ref: str, repo: Path | None = None) -> dict | None:
    """The snapshot as committed at `ref`; None when that commit has none."""
    relative = project().snapshot_path.relative_to(project().root).as_posix()
    if not is_commit(ref, repo):
        raise MlopsError(f"no commit {ref!r} in this repository (fetch it first)")
    try:
        return json.loads(git("show", f"{ref}:{relative}", repo=repo))
    except subprocess.CalledProcessError:
        return None


def changes(base: dict, head: dict) -> list[Change]:
    found = _named_changes("parameter", _by_name(base.get("Parameters", [])), _by_name(head["Parameters"]))
    base_steps = {step.name: step.document for step in parse(base).steps}
    head_steps = {step.name: step.document for step in parse(head).steps}
    return found + _named_changes("step", base_steps, head_steps)


def _by_name(items: list[dict]) -> dict[str, dict]:
    return {item["Name"]: item for item in items}


def _named_changes(kind: str, base: dict[str, dict], head: dict[str, dict]) -> list[Change]:
    found = [Change(f"{kind} {name}", "added") for name in head if name not in base]
    found += [Change(f"{kind} {name}", "removed") for name in base if name not in head]
    for name in head.keys() & base.keys():
        fields = _field_changes(_without_branches(base[name]), _without_branches(head[name]))
        if fields:
            found.append(Change(f"{kind} {name}", "; ".join(fields)))
    return sorted(found, key=lambda change: change.what)


def _without_branches(document: dict) -> dict:
    # A Condition's branch steps are compared as steps of their own.
    if "Arguments" not in document:
        return document
    return {**document, "Arguments": Step(document["Name"], document["Type"], document).own_expressions()}


def _field_changes(base: dict, head: dict) -> list[str]:
    old, new = _leaves(base), _leaves(head)
    return [
        f"`{path}` {_short(old.get(path, '(none)'))} → {_short(new.get(path, '(none)'))}"
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    ]


def _leaves(value, path: str = "") -> dict[str, object]:
    """Every scalar in a JSON document by its dotted path (list items as [i])."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _leaves(item, f"{path}[{i}]").items()}
    return {path.lstrip("."): value}


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) or value == "(none)" else value
    return f"`{text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + '…'}`"


def mermaid(graph: Graph) -> str:
    """The step graph as a Mermaid flowchart (GitHub draws it in job summaries and comments)."""
    lines = ["flowchart LR"]
    for step in graph.steps:
        shape = ("{", "}") if step.branches else ("[", "]")  # a decision
        lines.append(f'    {step.name}{shape[0]}"{step.name}<br/><small>{step.type}</small>"{shape[1]}')
    for step in graph.steps:
        for upstream in step.depends_on:
            if step.gate and upstream == step.gate[0]:
                label = "if true" if step.gate[1] else "if false"
                lines.append(f"    {upstream} -->|{label}| {step.name}")
            else:
                lines.append(f"    {upstream} --> {step.name}")
    return "\n".join(lines)


def report(base_ref: str, base: dict | None, head: dict) -> str:
    """The Markdown for a job summary or a pull request comment."""
    lines = [f"## Pipeline definition against `{base_ref}`", ""]
    if base is None:
        lines.append(f"`{base_ref}` has no pipeline snapshot: the whole pipeline is new.")
    else:
        found = changes(base, head)
        lines += [f"- **{c.what}**: {c.how}" for c in found] if found else ["No change to the pipeline."]
    lines += ["", "```mermaid", mermaid(parse(head)), "```", ""]
    return "\n".join(lines)
