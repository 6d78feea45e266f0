"""`mlops local`: the AWS emulator, and the pipeline run on this machine."""

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from ..build import run_locally
from ..errors import MlopsError
from ..local import emulator, pull_requests, runner
from .help import group
from .shared import AwsChoice, Data, Label, PipelineChoice, WhichPipeline, err, fail, out

app = group("Run the pipeline on this machine, against an AWS emulator or your account.")


@app.command("up")
def local_up() -> None:
    """Start the AWS emulator for this project in the background (state survives `down`)."""
    with err.status("starting the local AWS emulator"):
        found, what = emulator.up()
    out.print(f"emulator at {found.url} (pid {found.pid}): {what}")


@app.command("down")
def local_down(
    reset: Annotated[
        bool, typer.Option(help="Also forget the emulator's state (buckets, models...).")
    ] = False,
) -> None:
    """Stop the emulator this project started (no other process is touched)."""
    stopped = emulator.down(reset=reset)
    message = f"stopped the emulator (pid {stopped.pid})" if stopped else "the emulator was not running"
    out.print(message + ("; its state is forgotten" if reset else ""))


@app.command("status")
def local_status() -> None:
    """Say whether the emulator runs, where, and how much state it keeps. Exit code 3 when it is not."""
    found = emulator.running()
    kept = emulator.snapshot_file()
    saved = (
        f"state saved at its last stop: {kept.stat().st_size // 1024} KiB"
        if kept.exists()
        else "no saved state"
    )
    if not found:
        out.print(f"not running ({saved}, restored by `mlops local up`)")
        raise typer.Exit(3)
    out.print(f"running at {found.url} (pid {found.pid}); {saved}")
    for container in emulator.serving_containers(found):
        out.print(
            f"endpoint {container['endpoint']}: served by {container['image']}'s serving stack"
            f" (pid {container['pid']}, log {container['log']})",
            highlight=False,
        )
    out.print(f"logs: {emulator.log_file()}")


@app.command("merge")
def local_merge(
    version: Annotated[
        int | None,
        typer.Argument(min=1, metavar="VERSION", help="Whose promotion.", show_default="the newest waiting"),
    ] = None,
) -> None:
    """Merge a promotion pull request on the emulator, as a reviewer's merge on GitHub would: the
    branch `mlops promote --aws emulator` made, merged into the emulator's git record."""
    merged = pull_requests.merge(version)
    out.print(
        f"merged {merged.branch}: deploy/prod.yml names v{merged.version} in the emulator's record;"
        " next: `mlops deploy prod --aws emulator`",
        highlight=False,
    )


@app.command("run")
def local_run(
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="NAME=VALUE", help="Override a parameter (repeatable)."),
    ] = None,
    aws_target: Annotated[
        AwsChoice,
        typer.Option(
            "--aws",
            help="Where S3 and the model registry are: the local emulator, or the account your"
            " AWS credentials name (the steps still run on this machine).",
        ),
    ] = AwsChoice.emulator,
    label: Label = "",
    which: WhichPipeline = PipelineChoice.build,
    data: Data = None,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache",
            help="Run every step, even one an earlier run with the same request could hand on.",
        ),
    ] = False,
) -> None:
    """Run the pipeline's real definition on this machine, on data/sample.csv by default
    (the batch pipeline: on data/batch/sample.csv, with --param ModelPackageArn=...)."""
    if aws_target is AwsChoice.real:
        emulator.unroute()
    elif not emulator.running():
        raise MlopsError(
            "the local AWS emulator is not running: start it with `mlops local up` (or use --aws real)"
        )
    run_here(param or [], label, which, data, use_cache=not no_cache)


def run_here(
    pairs: list[str], label: str, kind: str, data: Path | None = None, use_cache: bool = True
) -> None:
    """Run one of the project's pipelines on this machine and report it; exit 1 when it failed."""
    fail_if_failed(run_and_report(pairs, label, kind, data, use_cache))


def run_and_report(
    pairs: list[str], label: str, kind: str, data: Path | None = None, use_cache: bool = True
) -> runner.RunResult:
    """Run one of the project's pipelines on this machine and print what it did."""
    result = run_locally.run_project(pairs, ConsoleProgress(), label, kind, data, use_cache)
    out.print(run_summary(result))
    for arn in result.model_packages:
        out.print(f"registered model package: {arn}")
    out.print(f"workspace: {result.workspace} (each step's job folder and log)")
    if result.definition_reused:
        out.print("definition: the last run's (build/, the data, the commit and the platform are unchanged)")
    return result


def fail_if_failed(result: runner.RunResult) -> None:
    if result.failed:
        fail(f"pipeline failed at step {result.failed.name!r}: {result.failed.failure}")


class ConsoleProgress(runner.Progress):
    """A spinner on the running step; one line per finished step."""

    def __init__(self) -> None:
        self.status = None

    def started(self, step: str, kind: str) -> None:
        self.status = err.status(f"{step} ({kind}) running")
        self.status.start()

    def finished(self, result: runner.StepResult) -> None:
        self.status.stop()
        mark = "[green]ok[/green]" if result.status == "Succeeded" else "[red]failed[/red]"
        took = (
            f"cache hit, from execution {result.cached_from}"
            if result.cached_from
            else f"in {result.seconds:.1f} s"
        )
        err.print(f"{mark} {result.name} ({result.type}) {took}", highlight=False)

    def note(self, message: str) -> None:
        err.print(f"note: {message}", highlight=False, markup=False)

    def update(self, step: str, message: str) -> None:
        if self.status is not None:
            self.status.update(f"{step} running: {message}")


def run_summary(result: runner.RunResult) -> Table:
    table = Table(
        "step",
        "type",
        "status",
        "seconds",
        title=f"local execution {result.execution_id}",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("outputs", overflow="fold")  # never cut an ARN short
    for step in result.steps:
        colour = {"Succeeded": "green", "Failed": "red"}.get(step.status, "dim")
        table.add_row(
            step.name,
            step.type,
            f"[{colour}]{step.status}[/{colour}]",
            f"{step.seconds:.1f}" if step.status != "NotRun" else "",
            "\n".join(step.outputs),
        )
    return table
