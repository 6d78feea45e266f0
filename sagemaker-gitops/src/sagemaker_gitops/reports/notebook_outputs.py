"""An execution's output notebooks: the executed notebooks its notebook jobs kept, fetched from S3
and rendered to HTML (`mlops report notebooks`).

SageMaker keeps each notebook job's output (the executed notebook, as the driver wrote it) in
<S3OutputPath>/<job>/output/output.tar.gz, and build/notebook_pipeline.py's S3OutputPath is
s3://<bucket>/<notebook_jobs_prefix>/<pipeline>/<execution id>/<step>, as the SDK builds it; a
local run puts it in the same place in the emulator. So one listing serves both.
"""

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .. import aws
from ..build.notebooks import load_workflow
from ..errors import MlopsError
from ..local.image_envs import Unavailable, notebook_interpreter
from ..project import project


@dataclass
class OutputNotebook:
    step: str
    notebook: Path  # the executed .ipynb, downloaded
    html: Path | None = None


def executions_prefix() -> str:
    """Where the notebook pipeline's executions keep their jobs' outputs."""
    return f"{project().notebook_jobs_prefix}/{project().pipeline_name_of('notebooks')}/"


def newest_execution(s3, bucket: str) -> str:
    """The execution whose outputs were written last."""
    prefix = executions_prefix()
    newest: dict[str, object] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            execution = item["Key"][len(prefix) :].split("/", 1)[0]
            newest[execution] = max(newest.get(execution, item["LastModified"]), item["LastModified"])
    if not newest:
        raise MlopsError(
            f"no output notebooks under s3://{bucket}/{prefix}: run the notebook pipeline first"
            " (`mlops local run --pipeline notebooks`, or `mlops pipeline start --pipeline notebooks`)"
        )
    return max(newest, key=newest.get)


def download(execution: str, folder: Path) -> list[OutputNotebook]:
    """Each step's executed notebook of `execution` (an id, or a pipeline execution ARN; "" for
    the newest), saved in folder/<execution id>/<step>.ipynb."""
    if "notebooks" not in project().pipelines:
        path = project().pipeline_file_of("notebooks").relative_to(project().root)
        raise MlopsError(f"{path}: not found (this project has no notebook pipeline)")
    s3, bucket = aws.client("s3"), aws.resolve_target().bucket
    execution = execution.rsplit("/", 1)[-1] or newest_execution(s3, bucket)
    prefix = f"{executions_prefix()}{execution}/"
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/output/output.tar.gz"):
                step = item["Key"][len(prefix) :].split("/", 1)[0]
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                found.append(_save(step, body, folder / execution))
    if not found:
        raise MlopsError(f"execution {execution}: no output notebooks under s3://{bucket}/{prefix}")
    order = [step.name for step in load_workflow(project().notebooks_path, project().root).steps]
    return sorted(found, key=lambda output: order.index(output.step) if output.step in order else len(order))


def _save(step: str, archive: bytes, folder: Path) -> OutputNotebook:
    try:
        return _extract(step, tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz"), folder)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise MlopsError(f"step {step}: its output.tar.gz cannot be read ({error})") from None


def _extract(step: str, tar: tarfile.TarFile, folder: Path) -> OutputNotebook:
    with tar:
        members = [
            member for member in tar.getmembers() if member.isfile() and member.name.endswith(".ipynb")
        ]
        if not members:
            raise MlopsError(f"step {step}: its output holds no notebook (the job failed before writing it)")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{step}.ipynb"
        path.write_bytes(tar.extractfile(members[0]).read())
    return OutputNotebook(step, path)


def render_html(outputs: list[OutputNotebook]) -> None:
    """Each notebook as HTML beside it, by nbconvert in the notebooks' image environment (the
    SageMaker Distribution ships it), so no renderer joins the project's own dependencies."""
    workflow = load_workflow(project().notebooks_path, project().root)
    try:
        python = notebook_interpreter(workflow.image_uri(aws.region()), {"nbconvert"})
    except Unavailable as why:
        raise MlopsError(f"cannot render HTML: {why}") from None
    paths = [str(output.notebook) for output in outputs]
    done = subprocess.run(
        [str(python), "-m", "nbconvert", "--to", "html", "--log-level", "ERROR", *paths],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise MlopsError(f"nbconvert failed: {' '.join(done.stderr.split()[-30:])}")
    for output in outputs:
        output.html = output.notebook.with_suffix(".html")
