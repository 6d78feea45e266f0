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
        parameters: {output_url: "{RunFolder}/prepared"}   # {Name}: a pipeline variable
      - name: Train
        notebook: notebooks/train.ipynb
        after: [Prepare]
        dependencies: [notebooks/helpers.ipynb]          # what train.ipynb `%run`s
"""

import ast
import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ..definition.step_code import StepCode
from ..definition.step_kinds import is_notebook_job
from ..errors import MlopsError
from ..images import image_name, image_packages, missing_from, shipped_by
from ..notebook_files import code_cells, imports_of, read_notebook, read_notebook_text, run_targets, source
from ..validation import INSTANCE_TYPE_PATTERN, ScheduledRuns, StrictModel, load_validated

STEP_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"  # also a notebook job name: letters first, no spaces
PIPELINE_VARIABLE = re.compile(r"\{([A-Za-z][A-Za-z0-9]*)\}")
# The kernel each kernel package installs (the image must ship the package for the job to start).
KERNELS = {"python3": "ipykernel"}
IMAGE = "sagemaker-distribution"  # the SageMaker SDK's name for the image notebook jobs run in


class NotebookStep(StrictModel):
    name: str = Field(pattern=STEP_NAME)
    notebook: Path
    # Earlier steps that must end first (SageMaker's depends_on: notebook jobs pass no properties).
    after: list[str] = Field(default_factory=list)
    # Values injected after the `parameters` cell; "{Name}" inside a value is a pipeline variable.
    parameters: dict[str, str] = Field(default_factory=dict)
    # Files the notebook needs beside it: the notebooks it `%run`s, helper modules.
    dependencies: list[Path] = Field(default_factory=list)
    instance_type: str | None = Field(default=None, pattern=INSTANCE_TYPE_PATTERN)


class NotebookWorkflow(StrictModel):
    """build/notebooks.yml: which notebooks run, in what order, with what, on what."""

    # The SageMaker Distribution image release the notebooks run in (its packages are published).
    image_version: str = Field(default="3.2", pattern=r"^\d+\.\d+(\.\d+)?$")
    kernel: str = Field(default="python3", min_length=1, pattern=r"^\S+$")
    instance_type: str = Field(default="ml.m5.large", pattern=INSTANCE_TYPE_PATTERN)
    max_runtime_seconds: int = Field(default=3600, ge=60, le=172_800)  # a notebook job's limit: 2 days
    # Pipeline parameters of the workflow's own and their defaults, for "{Name}" in the steps' values.
    pipeline_parameters: dict[str, str] = Field(default_factory=dict)
    steps: list[NotebookStep] = Field(min_length=1)
    # Run the workflow on a schedule (build/notebook_schedule.yml, deployed by `mlops pipeline upsert`).
    scheduled_runs: ScheduledRuns | None = None

    @field_validator("pipeline_parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,255}", name):
                raise ValueError(
                    f"{name!r}: a pipeline parameter's name is letters and digits, a letter first"
                )
        return value

    @model_validator(mode="after")
    def _steps_in_order(self):
        seen: list[str] = []
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"step {step.name!r} is named twice")
            later = [name for name in step.after if name not in seen]
            if later:
                raise ValueError(f"step {step.name!r}: after {later[0]!r}, which is not a step before it")
            seen.append(step.name)
        return self

    def image_uri(self, region: str) -> str:
        """The SageMaker Distribution image of this release in `region`, checked to be one whose
        libraries are listed (image_packages.json) and to have the kernel; MlopsError otherwise."""
        from sagemaker.core import image_uris

        where = f"build/notebooks.yml: image_version {self.image_version}"
        try:
            uri = image_uris.retrieve(IMAGE, region, version=self.image_version, instance_type="ml.m5.large")
        except ValueError as error:
            reason = str(error).split(". ")[0]  # "Unsupported region: x"
            message = f"{where}: no SageMaker Distribution image of it in {region} ({reason})"
            raise MlopsError(message) from None
        listed = sorted(name for name in image_packages() if name.startswith(f"{IMAGE}-prod:"))
        # (The SDK answers its only release for a version it does not know.)
        if image_name(uri) != f"{IMAGE}-prod:{self.image_version}-cpu" or image_name(uri) not in listed:
            raise MlopsError(
                f"{where}: not a release whose libraries are listed, so neither a local run nor"
                f" `validate` would know them (listed: {', '.join(listed)})"
            )
        shipped = image_packages()[image_name(uri)]["packages"]
        if KERNELS.get(self.kernel) not in shipped:
            kernels = ", ".join(sorted(k for k, package in KERNELS.items() if package in shipped))
            raise MlopsError(
                f"build/notebooks.yml: kernel {self.kernel!r} is not one {image_name(uri)} has"
                f" ({kernels or 'none listed'})"
            )
        return uri


def load_workflow(path: Path, root: Path) -> NotebookWorkflow:
    """build/notebooks.yml, validated, and every notebook checked against what it is given (the
    paths in it are relative to the project's `root`)."""
    workflow = load_validated(path, NotebookWorkflow)
    for step in workflow.steps:
        check_step(root, step)
    return workflow


def variables_in(value: str) -> list[str]:
    """The "{Name}" pipeline variables a parameter value holds."""
    return PIPELINE_VARIABLE.findall(value)


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


def import_problems(definition: dict, code: StepCode) -> list[str]:
    """One line per import a notebook job's image cannot satisfy: each notebook the job is given
    (its staged folder) against what the image ships."""
    found = []
    for step in definition.get("Steps", []):
        arguments = step.get("Arguments", {})
        if not is_notebook_job(arguments):
            continue
        image = arguments["AlgorithmSpecification"]["TrainingImage"]
        shipped = shipped_by(image)
        if shipped is None:
            found.append(f"{step['Name']}: no package list for image {image_name(image)}")
            continue
        files = code.files_under(arguments["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"])
        notebooks = {name: body for name, body in sorted(files.items()) if name.endswith(".ipynb")}
        for name, body in notebooks.items():
            for module in sorted(imports_of(read_notebook_text(body, name))):
                if f"{module}.py" not in files and missing_from(shipped, module):
                    found.append(
                        f"{step['Name']}: {name} imports {module}, which {image_name(image)} does not ship"
                        " (ModuleNotFoundError in the notebook job): use a library the image ships"
                    )
    return found
