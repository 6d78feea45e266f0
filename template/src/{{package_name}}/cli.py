"""The `mlops` command line: the verbs the Makefile, the workflows and the docs use."""

import json
import logging
import sys
import warnings
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from . import aws, pipelines
from .errors import MlopsError
from .project import ROOT, SNAPSHOT_PATH

app = typer.Typer(
    help="Build, run and promote this project's SageMaker model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # our errors are one line; bugs keep a plain traceback
)
pipeline_app = typer.Typer(help="The SageMaker pipeline in build/pipeline.py.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")

# soft_wrap: an ARN printed for a script must stay on one line, whatever the terminal width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.callback()
def configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the SageMaker SDK's logs.")] = False,
) -> None:
    if not verbose:
        # The SDK's loggers (with levels of their own) chatter about every step they
        # serialise; in a one-shot CLI process, muting up to WARNING is the complete fix.
        logging.disable(logging.WARNING)
        warnings.filterwarnings("ignore", message="Running within a PipelineSession")


@pipeline_app.command("definition")
def definition(
    normalized: Annotated[
        bool, typer.Option(help="Mask code hashes and the git commit (for diffs between commits).")
    ] = False,
) -> None:
    """Print the pipeline definition JSON. Offline: no AWS call, no credentials needed."""
    document = pipelines.build(offline=True).definition()
    if normalized:
        document = pipelines.normalize(document)
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=normalized) + "\n")


@pipeline_app.command("snapshot")
def snapshot() -> None:
    """Refresh the reviewed definition snapshot the tests compare against (offline)."""
    pipelines.write_snapshot()
    err.print(f"wrote {SNAPSHOT_PATH.relative_to(ROOT)}: review `git diff`, then commit it")


@pipeline_app.command("upsert")
def upsert() -> None:
    """Upload the step code and create or update the pipeline, tagged with the git commit."""
    arn = pipelines.upsert()
    out.print(f"pipeline ready: {arn}")


@pipeline_app.command("start")
def start(
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Override a parameter: Name=value (repeatable).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the execution until it ends.")] = False,
) -> None:
    """Start an execution and print its ARN (returns at once unless --wait)."""
    arn = pipelines.start(param or [])
    out.print(arn)
    if not wait:
        return
    with err.status("waiting for the pipeline execution") as status:
        described = pipelines.wait(arn, lambda s: status.update(f"pipeline execution: {s}"))
    final = described["PipelineExecutionStatus"]
    err.print(
        f"execution {final}"
        + (f": {described.get('FailureReason')}" if described.get("FailureReason") else "")
    )
    if final != "Succeeded":
        raise typer.Exit(1)


@pipeline_app.command("status")
def status(
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many recent executions.")] = 5,
) -> None:
    """Show the most recent executions, newest first."""
    table = Table("started", "status", "execution id", "failure reason")
    for execution in pipelines.recent_executions(limit):
        table.add_row(
            execution["StartTime"].strftime("%Y-%m-%d %H:%M:%S"),
            execution["PipelineExecutionStatus"],
            execution["PipelineExecutionArn"].rsplit("/", 1)[-1],
            execution.get("PipelineExecutionFailureReason") or "",
        )
    out.print(table if table.row_count else "no executions yet: run `mlops pipeline start`")


def main() -> None:
    try:
        app()
    except MlopsError as error:
        fail(str(error))
    except aws.UNREACHABLE as error:
        fail(aws.explain_unreachable(error))


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    sys.exit(1)
