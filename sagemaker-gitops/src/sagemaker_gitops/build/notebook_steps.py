"""A notebook job step whose files are on S3 under a content hash, uploaded by `mlops pipeline upsert`.

SDK v3's NotebookJobStep uploads the notebook, its dependencies and its init script while the
definition is *built*, under a timestamped prefix (`<root>/<pipeline>/<step>/input-<timestamp>`):
building needs AWS, and no two builds give the same definition, which breaks the reviewed snapshot
and step caching. This step hands the files to the project's StepCode instead, and its input
channel names their content-hashed folder, which `publish` uploads with the step code. (The
notebook job's name, timestamped by default, is the step's.)
"""

from pathlib import Path

from sagemaker.mlops.workflow.notebook_job_step import NotebookJobStep

from ..definition.step_code import StepCode
from ..errors import MlopsError
from .notebooks import PIPELINE_VARIABLE, NotebookStep, variables_in


class StagedNotebookJobStep(NotebookJobStep):
    """NotebookJobStep(name=..., ..., code=StepCode): the same request, its input folder named by
    content, and its notebook job named after the step (the SDK's default name is timestamped)."""

    def __init__(self, *args, code: StepCode, **kwargs):
        kwargs.setdefault("notebook_job_name", kwargs.get("name"))
        super().__init__(*args, **kwargs)
        # Staged now, as StepCode.script is: `publish` may upload before the definition is written.
        files = [self.input_notebook, self.initialization_script, *(self.additional_dependencies or [])]
        self.staged = code.folder([Path(path) for path in files if path])

    def _upload_job_files(self, s3_base_uri, paths_to_upload, kms_key, sagemaker_session):
        pass  # called by `arguments` before it writes the request: the files are staged instead

    @property
    def arguments(self) -> dict:
        request = super().arguments
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = self.staged
        return request


def notebook_parameters(step: NotebookStep, variables: dict[str, object]) -> dict[str, object]:
    """A step's parameters with each "{Name}" made the pipeline variable `variables` names (a Join
    when the value holds more than the variable); MlopsError naming the step for an unknown one."""
    values = {}
    for key, value in step.parameters.items():
        unknown = [name for name in variables_in(value) if name not in variables]
        if unknown:
            raise MlopsError(
                f"build/notebooks.yml: step {step.name!r}: parameters.{key}: {{{unknown[0]}}} is not a"
                f" pipeline variable (known: {', '.join(sorted(variables))})"
            )
        values[key] = _with_variables(value, variables)
    return values


def _with_variables(value: str, variables: dict[str, object]) -> object:
    """The value with its variables in: "{Name}" as the variable, "{RunFolder}/prepared" as one
    Join of its pieces (a variable that is a Join spliced in), text without one as it is."""
    from sagemaker.core.workflow.functions import Join

    parts = PIPELINE_VARIABLE.split(value)  # text, name, text, name, ..., text
    if len(parts) == 1:
        return value
    pieces: list[object] = []
    for index, part in enumerate(parts):
        variable = variables[part] if index % 2 else part
        if isinstance(variable, Join):  # one flat Join: a Join inside a Join is not needed
            spliced = [piece for item in variable.values for piece in (variable.on, item)][1:]
            pieces.extend(piece for piece in spliced if piece != "")
        elif variable != "":
            pieces.append(variable)
    return pieces[0] if len(pieces) == 1 else Join(on="", values=pieces)
