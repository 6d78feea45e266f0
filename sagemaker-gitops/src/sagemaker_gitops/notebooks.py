"""Notebooks as pipeline steps (SageMaker notebook jobs): build/notebooks.yml, checked against the
notebooks themselves before anything is built, uploaded or run.

A notebook job runs one notebook in an image with a kernel, its parameters injected after the cell
tagged `parameters` (papermill's convention, which SageMaker's notebook jobs follow), with the
files it `%run`s uploaded beside it. The job's driver (sagemaker-headless-execution-driver 0.0.13,
notebookrunner.py) hands papermill the training job's hyperparameters.json: every parameter
arrives as a string. SageMaker finds a wrong parameter name, a missing `parameters`
cell or a helper notebook left out only when the job runs ("Passed unknown parameter", an init
error naming the wrong file). Here each is one line naming the notebook, at build time:

    steps:
      - name: Prepare
        notebook: notebooks/prepare.ipynb
        parameters: {output_url: "{RunPrefix}/prepared"}   # {Name}: a pipeline parameter
      - name: Train
        notebook: notebooks/train.ipynb
        after: [Prepare]
        dependencies: [notebooks/helpers.ipynb]          # what train.ipynb `%run`s
"""

import ast
import contextlib
import json
import re
from pathlib import Path

from pydantic import Field, model_validator

from .config import INSTANCE_TYPE_PATTERN, StrictModel, load_validated
from .errors import MlopsError
from .images import imported_modules

STEP_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"  # also a notebook job name: letters first, no spaces
RUN_MAGIC = re.compile(r"^\s*%run\s+(?:-\w+\s+)*['\"]?([^'\"\s]+)['\"]?", re.MULTILINE)
PIPELINE_PARAMETER = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}")
# IPython line magics that import a library (a magic is no `import` statement).
MAGIC_IMPORTS = {"matplotlib": "matplotlib"}


class NotebookStep(StrictModel):
    name: str = Field(pattern=STEP_NAME)
    notebook: Path
    # Steps that must end first (SageMaker's depends_on: notebook jobs pass no properties).
    after: list[str] = Field(default_factory=list)
    # Values injected after the `parameters` cell; "{Name}" inside a value is a pipeline parameter.
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # Files the notebook needs beside it: the notebooks it `%run`s, helper modules.
    dependencies: list[Path] = Field(default_factory=list)
    instance_type: str | None = Field(default=None, pattern=INSTANCE_TYPE_PATTERN)


class NotebookWorkflow(StrictModel):
    """build/notebooks.yml: which notebooks run, in what order, with what, on what."""

    # The SageMaker Distribution image release the notebooks run in (its packages are published).
    image_version: str = Field(default="3.2", pattern=r"^\d+\.\d+(\.\d+)?$")
    kernel: str = Field(min_length=1, pattern=r"^\S+$")
    instance_type: str = Field(pattern=INSTANCE_TYPE_PATTERN)
    max_runtime_seconds: int = Field(default=3600, ge=60, le=172_800)  # a notebook job's limit: 2 days
    # Pipeline parameters and their defaults, for "{Name}" in the steps' parameter values.
    pipeline_parameters: dict[str, str] = Field(default_factory=dict)
    steps: list[NotebookStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _a_dag_of_known_steps(self):
        names = [step.name for step in self.steps]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"step {repeated[0]!r} is named twice")
        for step in self.steps:
            unknown = [name for name in step.after if name not in names]
            if unknown:
                raise ValueError(f"step {step.name!r}: after {unknown[0]!r}, which is not a step")
            for value in step.parameters.values():
                for name in PIPELINE_PARAMETER.findall(str(value)):
                    if name not in self.pipeline_parameters:
                        raise ValueError(f"step {step.name!r}: {{{name}}} is not one of pipeline_parameters")
        _refuse_cycles(self.steps)
        return self


def _refuse_cycles(steps: list[NotebookStep]) -> None:
    after = {step.name: set(step.after) for step in steps}
    done: set[str] = set()
    while len(done) < len(after):
        ready = [name for name, needs in after.items() if name not in done and needs <= done]
        if not ready:
            raise ValueError("the steps' `after` lists make a cycle: " + ", ".join(sorted(set(after) - done)))
        done.update(ready)


def load_workflow(path: Path) -> NotebookWorkflow:
    """build/notebooks.yml, validated, and every notebook checked against what it is given."""
    workflow = load_validated(path, NotebookWorkflow)
    root = path.parent.parent  # build/notebooks.yml: paths are the project's
    for step in workflow.steps:
        check_step(root, step)
    return workflow


def check_step(root: Path, step: NotebookStep) -> None:
    """What SageMaker would find only when the job runs, found now: MlopsError naming the notebook."""
    notebook = read_notebook(root / step.notebook, step.notebook)
    where = f"{step.notebook} (step {step.name})"
    if step.parameters:
        cell = parameters_cell(notebook)
        if cell is None:
            raise MlopsError(
                f"{where}: it is given parameters but has no cell tagged `parameters` to put them after"
                " (tag one: View > Cell Toolbar > Tags in Jupyter)"
            )
        defined = assigned_names(cell, where)
        unknown = sorted(set(step.parameters) - set(defined))
        if unknown:
            raise MlopsError(
                f"{where}: parameter {unknown[0]!r} is not set in its `parameters` cell"
                f" (it sets {', '.join(sorted(defined)) or 'nothing'})"
            )
        for name in sorted(step.parameters):
            if defined[name] not in (None, str):
                raise MlopsError(
                    f"{where}: {name} is {article(defined[name])} in its `parameters` cell, but a"
                    f" notebook job passes every parameter as a string ({name} = '{step.parameters[name]}'):"
                    f" make the default a string and convert it where it is used"
                )
    for dependency in step.dependencies:
        if not (root / dependency).exists():
            raise MlopsError(f"{where}: dependency {dependency} does not exist")
    listed = {dependency.name for dependency in step.dependencies}
    for name in run_targets(notebook):
        if Path(name).name not in listed:
            raise MlopsError(
                f"{where}: it runs `%run {name}`, which is not in its dependencies: add"
                f" {(step.notebook.parent / name).as_posix()} to them"
            )


def article(kind: type) -> str:
    return f"{'an' if kind.__name__[0] in 'aeiou' else 'a'} {kind.__name__}"


def read_notebook(path: Path, shown: Path) -> dict:
    try:
        notebook = json.loads(path.read_text())
    except FileNotFoundError:
        raise MlopsError(f"{shown}: not found") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise MlopsError(f"{shown}: not a notebook (not JSON: {error})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise MlopsError(f"{shown}: not a notebook (no cells)")
    return notebook


def code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell.get("cell_type") == "code"]


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def parameters_cell(notebook: dict) -> dict | None:
    """The first code cell tagged `parameters`, as papermill finds it."""
    tagged = [
        cell for cell in code_cells(notebook) if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    return tagged[0] if tagged else None


def assigned_names(cell: dict, where: str) -> dict[str, type | None]:
    """The names a `parameters` cell assigns at top level (magics and shell lines left out), with
    the type of a literal value (None for anything else)."""
    lines = [line for line in source(cell).splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as error:
        raise MlopsError(
            f"{where}: its `parameters` cell is not Python ({error.msg}, line {error.lineno})"
        ) from None
    names: dict[str, type | None] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            try:
                kind = type(ast.literal_eval(node.value))
            except (ValueError, TypeError, SyntaxError):  # not a literal: a call, a name
                kind = None
            names.update({target.id: kind for target in targets if isinstance(target, ast.Name)})
    return names


def notebook_imports(folder: Path) -> set[str]:
    """The top-level modules the notebooks in a folder import, and those their magics load
    (`%matplotlib inline` imports matplotlib); shell lines left out."""
    found = set()
    for path in sorted(folder.rglob("*.ipynb")):
        for cell in code_cells(read_notebook(path, path)):
            lines = source(cell).splitlines()
            found |= {
                MAGIC_IMPORTS[m] for line in lines if (m := line.strip()[1:].split(" ")[0]) in MAGIC_IMPORTS
            }
            lines = [line for line in lines if not line.lstrip().startswith(("%", "!"))]
            with contextlib.suppress(SyntaxError):  # the kernel reports it, in the cell it is in
                found |= imported_modules("\n".join(lines))
    return found


def run_targets(notebook: dict) -> list[str]:
    """The files the notebook `%run`s."""
    return [name for cell in code_cells(notebook) for name in RUN_MAGIC.findall(source(cell))]
