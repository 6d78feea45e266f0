"""`mlops pipeline`: the SageMaker pipelines in build/, built, checked, published and started."""

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from ..build import pipelines, trials
from ..definition import pipeline_diff
from ..local import emulator
from ..project import finish_update, project, refuse_an_unfinished_update
from ..stages import pipeline_schedules, stacks
from .help import asks_for_help, group
from .shared import (
    ChosenAws,
    Data,
    Label,
    PipelineChoice,
    Summary,
    WhichPipeline,
    append_summary,
    chosen_aws,
    err,
    out,
    say_error,
    say_using,
)

app = group("The SageMaker pipeline in build/pipeline.py.")


@app.callback()
def pipeline_group(ctx: typer.Context) -> None:
    if asks_for_help(ctx):
        return
    if ctx.invoked_subcommand != "snapshot":
        refuse_an_unfinished_update()
    found = emulator.running()
    if found and ctx.invoked_subcommand not in ("upsert", "start"):
        say_using(found)


@app.command("definition")
def definition(
    normalized: Annotated[
        bool, typer.Option(help="Mask code hashes and the git commit (for diffs between commits).")
    ] = False,
    which: WhichPipeline = PipelineChoice.build,
) -> None:
    """Print the pipeline definition JSON. Offline: no AWS call, no credentials needed."""
    document = pipelines.build(offline=True, kind=which).definition()
    if normalized:
        document = pipelines.normalize(document)
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=normalized) + "\n")


@app.command("validate")
def validate() -> None:
    """Check the definition offline, as SageMaker would: each step's request against the API it
    becomes (botocore's model), each step's script against what its image ships. Every pipeline of
    the project (build, and batch when it scores in batch). Exit 1 on a problem."""
    failed = False
    for kind in project().pipelines:
        built = pipelines.build(offline=True, kind=kind)
        found = pipelines.problems(built)
        for problem in found:
            say_error(f"{built.name}: {problem}" if kind != "build" else problem)
        failed = failed or bool(found)
        if not found:
            out.print(f"{built.name}: the definition is valid", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("snapshot")
def snapshot() -> None:
    """Refresh the reviewed definition snapshot the tests compare against (offline); this finishes a
    `copier update` stopped before its post-update task did (after `make setup`)."""
    pipelines.write_snapshot()
    err.print(
        f"wrote {project().snapshot_path.relative_to(project().root)}: review `git diff`, then commit it"
    )
    release = finish_update()
    if release:
        err.print(f"the update to {release} is finished: review `git diff`, then `make test`")


# Recorded with the execution (its description) and shown by `mlops report experiments`.
@app.command("diff")
def diff(
    base: Annotated[
        str, typer.Option(help="The commit to compare with (its tests/snapshots/pipeline-definition.json).")
    ] = "HEAD",
    summary: Summary = None,
) -> None:
    """What this checkout changes in the pipeline against BASE: steps, parameters, and the graph (offline)."""
    head = pipelines.normalize(pipelines.build(offline=True).definition())
    report = pipeline_diff.report(base, pipeline_diff.snapshot_at(base), head)
    out.print(report, markup=False, highlight=False)
    append_summary(summary, report)


@app.command("upsert")
def upsert(aws_choice: ChosenAws = None) -> None:
    """Upload the step code and create or update the pipelines (build; batch and notebooks when the
    project has them), each tagged with the git commit; then their schedules, as build/config.yml's
    retraining block and build/notebooks.yml's scheduled_runs block say (none: deleted)."""
    with chosen_aws(aws_choice, "pipeline upsert"), err.status("upserting") as status:
        everything = pipelines.build_all()
        planned = pipeline_schedules.plan_for(everything)  # refused here, before anything changes
        for arn in pipelines.upsert(everything):
            out.print(f"pipeline ready: {arn}")
        for schedule, plan in planned:
            action = stacks.reconcile(plan, status.update)
            if action:
                out.print(f"{schedule.name} schedule: stack {schedule.stack_name} {action}")


@app.command("start")
def start(
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="NAME=VALUE",
            envvar="MLOPS_PIPELINE_PARAMETERS",
            help="Override a parameter: Name=value (repeatable; from the variable, space-separated).",
        ),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the execution until it ends.")] = False,
    summary: Summary = None,
    aws_choice: ChosenAws = None,
    label: Label = "",
    which: WhichPipeline = PipelineChoice.build,
    data: Data = None,
) -> None:
    """Start an execution and print its ARN (returns at once unless --wait)."""
    with chosen_aws(aws_choice, "pipeline start"):
        pairs = param or []
        if data is not None:
            pairs = pipelines.with_data(pairs, pipelines.stage_data(data, pipelines.step_code()))
        arn = pipelines.start(pairs, label, which)
        out.print(arn)
        append_summary(summary, pipelines.execution_summary(arn, pairs, which))
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


@app.command("attach-trials")
def attach_trials(
    last: Annotated[int, typer.Option(min=1, max=200, help="How many of the newest executions.")] = 20,
) -> None:
    """Put each tuning step's trials (hyperparameters, metrics) in their execution's run group of
    the project's experiment, where SageMaker leaves them out. A second run changes nothing."""
    attached = trials.attach_trials(last)
    if not attached:
        out.print(f"no tuning step in the last {last} executions that ended: nothing to attach")
    for done in attached:
        out.print(
            f"{done.execution_id} ({done.tuning_job}): {done.added} attached, {done.present} already there"
            + (f", {done.missing} without a trial component" if done.missing else ""),
            highlight=False,
        )


@app.command("status")
def status(
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many recent executions.")] = 5,
    which: WhichPipeline = PipelineChoice.build,
) -> None:
    """Show the most recent executions, newest first."""
    table = Table("started", "status", "execution id", "failure reason")
    for execution in pipelines.recent_executions(limit, which):
        table.add_row(
            execution["StartTime"].strftime("%Y-%m-%d %H:%M:%S"),
            execution["PipelineExecutionStatus"],
            execution["PipelineExecutionArn"].rsplit("/", 1)[-1],
            execution.get("PipelineExecutionFailureReason") or "",
        )
    out.print(table if table.row_count else "no executions yet: run `mlops pipeline start`")
