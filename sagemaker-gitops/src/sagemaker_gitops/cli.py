"""The `mlops` command line: the verbs the Makefile, the workflows and the docs use."""

import json
import logging
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import (
    aws,
    batch_stack,
    bootstrap,
    deploy,
    github,
    models,
    pipeline_diff,
    pipeline_schedules,
    pipelines,
    promote,
    schedules,
    template_update,
    trials,
)
from .cli_help import NewcomerOrder, asks_for_help, group, unwrap_docstrings
from .config import load_config
from .errors import MlopsError
from .local import emulator, pull_requests, runner
from .project import finish_update, project, refuse_an_unfinished_update

app = group("Build, run and promote this project's SageMaker model.", cls=NewcomerOrder)
pipeline_app = group("The SageMaker pipeline in build/pipeline.py.")
app.add_typer(pipeline_app, name="pipeline")
local_app = group("Run the pipeline on this machine, against an AWS emulator or your account.")
app.add_typer(local_app, name="local")
schedule_app = group(
    "The schedules that start the pipelines: each stage's batch scoring, retraining, notebooks."
)
app.add_typer(schedule_app, name="schedule")
models_app = group("Model versions in the registry: list, approve, reject.")
app.add_typer(models_app, name="models")
report_app = group("Reports: tuning jobs' trials, pipeline executions compared, a run's output notebooks.")
app.add_typer(report_app, name="report")

# soft_wrap: an ARN printed for a script must stay on one line, whatever the terminal width.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class AwsChoice(StrEnum):
    emulator = "emulator"
    real = "real"


class Stage(StrEnum):
    staging = "staging"
    prod = "prod"


class PipelineChoice(StrEnum):
    build = "build"
    batch = "batch"
    notebooks = "notebooks"


WhichPipeline = Annotated[
    PipelineChoice,
    typer.Option(
        "--pipeline",
        help="build: build/pipeline.py (training); batch: build/batch_pipeline.py (batch scoring);"
        " notebooks: build/notebook_pipeline.py (the notebook workflow).",
    ),
]


# Verbs that change what runs where (deploy, promote, bootstrap, pipeline upsert and start) talk
# to the AWS they are told, never to one a pid file implies; the others follow a running emulator.
ChosenAws = Annotated[
    AwsChoice | None,
    typer.Option(
        "--aws",
        envvar="MLOPS_AWS",
        show_default=False,
        help="Which AWS: the local emulator, or the account your credentials name (real)."
        " Required while the emulator runs; otherwise real.",
    ),
]


@contextmanager
def chosen_aws(choice: AwsChoice | None, verb: str) -> Iterator[None]:
    """Send this verb's AWS calls where `--aws` says; once it has succeeded, say where it acted
    (after, so that a refusal stays one line, and a refusal before any AWS call costs none)."""
    running = emulator.running()
    if choice is None and running:
        raise MlopsError(
            f"the local AWS emulator is running: say which AWS `mlops {verb}` changes,"
            " --aws emulator or --aws real (or MLOPS_AWS)"
        )
    if choice is AwsChoice.emulator:
        if not running:
            raise MlopsError("the local AWS emulator is not running: start it with `mlops local up`")
        emulator.route()
        where = f"the local emulator at {running.url}"
    else:
        emulator.unroute()
        where = ""
    yield
    err.print(f"(on {where or f'AWS account {aws.account()}, {aws.region()}'})", highlight=False)


@app.callback()
def configure(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the SageMaker SDK's logs.")] = False,
) -> None:
    if asks_for_help(ctx):
        return
    if ctx.invoked_subcommand != "pipeline":  # `pipeline snapshot` finishes an update
        refuse_an_unfinished_update()
    # While `mlops local up` runs, reading verbs talk to the emulator (say so, once, on stderr);
    # the verbs that take --aws decide for themselves.
    found = emulator.route()
    if found and ctx.invoked_subcommand not in ("local", "deploy", "promote", "bootstrap", "pipeline"):
        say_using(found)
    if not verbose:
        # The SDK's loggers (with levels of their own) chatter about every step they
        # serialise; in a one-shot CLI process, muting up to WARNING is the complete fix.
        logging.disable(logging.WARNING)
        warnings.filterwarnings("ignore", message="Running within a PipelineSession")


def say_using(found: emulator.Emulator) -> None:
    err.print(f"[dim]using the local AWS emulator at {found.url} (`mlops local down` stops it)[/dim]")


@pipeline_app.callback()
def pipeline_group(ctx: typer.Context) -> None:
    if asks_for_help(ctx):
        return
    if ctx.invoked_subcommand != "snapshot":
        refuse_an_unfinished_update()
    found = emulator.running()
    if found and ctx.invoked_subcommand not in ("upsert", "start"):
        say_using(found)


@pipeline_app.command("definition")
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


@pipeline_app.command("validate")
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


@pipeline_app.command("snapshot")
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
Label = Annotated[
    str, typer.Option(help="A note on what this execution tries, shown by `mlops report experiments`.")
]
Summary = Annotated[
    Path | None,
    typer.Option(
        help='Also append a Markdown report to this file (in GitHub Actions: "$GITHUB_STEP_SUMMARY").',
        dir_okay=False,
    ),
]


def append_summary(path: Path | None, markdown: str) -> None:
    if path is not None:
        with path.open("a") as summary:
            summary.write(markdown + "\n")


@pipeline_app.command("diff")
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


@pipeline_app.command("upsert")
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
            action = pipeline_schedules.apply(schedule, plan, status.update)
            if action:
                out.print(f"{schedule.name} schedule: stack {schedule.stack_name} {action}")


# A local file or folder to run on, staged under its content's hash (pipelines.stage_data).
Data = Annotated[
    Path | None,
    typer.Option(
        "--data",
        exists=True,
        dir_okay=True,
        readable=True,
        help="Run on this CSV file, or on the CSV files in this folder (uploaded under their content's"
        " hash, given as InputDataUrl).",
    ),
]


@pipeline_app.command("start")
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


@pipeline_app.command("attach-trials")
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


@pipeline_app.command("status")
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


@local_app.command("up")
def local_up() -> None:
    """Start the AWS emulator for this project in the background (state survives `down`)."""
    with err.status("starting the local AWS emulator"):
        found, what = emulator.up()
    out.print(f"emulator at {found.url} (pid {found.pid}): {what}")


@local_app.command("down")
def local_down(
    reset: Annotated[
        bool, typer.Option(help="Also forget the emulator's state (buckets, models...).")
    ] = False,
) -> None:
    """Stop the emulator this project started (no other process is touched)."""
    stopped = emulator.down(reset=reset)
    message = f"stopped the emulator (pid {stopped.pid})" if stopped else "the emulator was not running"
    out.print(message + ("; its state is forgotten" if reset else ""))


@local_app.command("status")
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


@local_app.command("merge")
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


@local_app.command("run")
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
    """Run the "build" or "batch" pipeline on this machine and report it; exit 1 when it failed."""
    result = runner.run_project(pairs, ConsoleProgress(), label, kind, data, use_cache)
    out.print(run_summary(result))
    for arn in result.model_packages:
        out.print(f"registered model package: {arn}")
    out.print(f"workspace: {result.workspace} (each step's job folder and log)")
    if result.definition_reused:
        out.print("definition: the last run's (build/, the data, the commit and the platform are unchanged)")
    if result.failed:
        fail(f"pipeline failed at step {result.failed.name!r}: {result.failed.failure}")


class ScheduleName(StrEnum):
    staging = "staging"
    prod = "prod"
    retraining = "retraining"
    notebooks = "notebooks"


@schedule_app.command("fire")
def schedule_fire(
    name: Annotated[
        ScheduleName,
        typer.Argument(
            help="staging or prod: the stage's batch scoring; retraining: the build pipeline's;"
            " notebooks: the notebook workflow's."
        ),
    ],
    aws_choice: ChosenAws = None,
) -> None:
    """Fire a schedule now: its pipeline runs with exactly the parameters the schedule sends (in AWS,
    an execution is started; on the emulator, the pipeline runs on this machine)."""
    label = f"{name.value} schedule, fired by hand"
    kind = schedules.pipeline_of(name.value)
    with chosen_aws(aws_choice, "schedule fire"):
        pairs = schedules.sent_by(name.value)
        if emulator.in_use():
            run_here(pairs, label, kind)
        else:
            out.print(pipelines.start(pairs, label, kind))


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


@models_app.command("list")
def models_list(
    limit: Annotated[int, typer.Option(min=1, help="How many versions, newest first.")] = 20,
) -> None:
    """Show the newest model versions: status, gate metric, when, from which commit and data (their
    sha256), and where it serves."""
    serving = deploy.serving()
    rows = []
    for summary in models.versions()[:limit]:
        arn = summary["ModelPackageArn"]
        described = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
        gate = described.get("CustomerMetadataProperties", {}).get("gate_metric", "")
        value = models.package_metrics(described).get(gate)
        rows.append((summary, described, gate, f"{value:.4g}" if value is not None else ""))
    if not rows:
        out.print("no model versions yet: run the pipeline (`mlops local run`)")
        return
    # One gate metric for all (the usual case): its name heads the column, and the cells are numbers,
    # so that the table fits 80 columns without breaking a value across lines.
    gates = {gate for _, _, gate, _ in rows}
    shared = gates.pop() if len(gates) == 1 else ""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("version", "status", shared or "gate metric", "created", "git commit", "data", "serves"):
        table.add_column(column, no_wrap=column != "serves")
    for summary, described, gate, value in rows:
        arn = summary["ModelPackageArn"]
        table.add_row(
            str(summary["ModelPackageVersion"]),
            summary.get("ModelApprovalStatus", ""),
            value if shared else f"{gate} {value}".strip(),
            summary["CreationTime"].strftime("%Y-%m-%d"),
            models.provenance(described),
            models.trained_on(described)[:8],  # sha256, shortened as the commit is
            ", ".join(stage for stage, served in serving.items() if served == arn),
        )
    out.print(table)


Reason = Annotated[str, typer.Option(help="Why: kept with the version as its approval description.")]


@models_app.command("approve")
def models_approve(version: Annotated[int, typer.Argument(min=1)], reason: Reason) -> None:
    """Approve a model version (its metadata is kept intact)."""
    _set_approval(version, "Approved", reason)


@models_app.command("reject")
def models_reject(version: Annotated[int, typer.Argument(min=1)], reason: Reason) -> None:
    """Reject a model version (its metadata is kept intact)."""
    _set_approval(version, "Rejected", reason)


def _set_approval(version: int, status: str, reason: str) -> None:
    before = models.set_approval(version, status, reason)
    was = before.get("ModelApprovalStatus")
    if was == status:
        out.print(f"version {version} is already {status}: nothing changed")
    else:
        out.print(f"version {version}: {was} -> {status} ({before['ModelPackageArn']})")


@app.command("deploy")
def deploy_stage(
    stage: Annotated[Stage, typer.Argument(help="Which deploy/<stage>.yml to reconcile.")],
    aws_choice: ChosenAws = None,
) -> None:
    """Make the stage's endpoint match deploy/STAGE.yml as committed, then smoke-test it."""
    with chosen_aws(aws_choice, "deploy"), err.status(f"deploying {stage}") as status:
        done = deploy.deploy(stage.value, lambda text: status.update(text))
        waiting = pull_requests.open_promotions() if stage is Stage.prod and emulator.in_use() else {}
    if waiting:
        err.print(
            f"note: the promotion pull request of v{max(waiting)} is not merged yet: `mlops local merge`,"
            " then deploy prod again",
            highlight=False,
        )
    out.print(
        f"{stage}: stack {done.stack} {done.action}; endpoint {done.endpoint} serves {done.model_package_arn}"
    )
    out.print(f"smoke test: {done.smoke_test}")
    if done.batch:
        out.print(f"batch schedule: stack {batch_stack.stack_name(stage.value)} {done.batch}")


@app.command("invoke")
def invoke_stage(
    stage: Annotated[Stage, typer.Argument(help="Whose endpoint to ask.")],
    body: Annotated[
        str | None, typer.Option(help="CSV rows to send, features only, no header (one row per line).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A CSV file of such rows (features only, no header)."),
    ] = None,
) -> None:
    """Send CSV rows to the stage's endpoint and print its answer, one prediction per row. A row is
    the feature columns of data/sample.csv (every column but the target), in their order, without a
    header; each is checked against the version's columns before anything is sent. For example:

    - mlops invoke staging --body "59,2,32.1,101,clinic_a"
    - mlops invoke prod --file rows.csv (one row per line)"""
    if (body is None) == (file is None):
        raise MlopsError("give the rows to send with --body or --file (one of them)")
    rows = body if body is not None else file.read_text()
    out.print(deploy.invoke(stage.value, rows), end="", markup=False, highlight=False)
    # On stderr, so stdout stays the endpoint's CSV for a pipe.
    if meaning := deploy.answer_meaning(stage.value):
        err.print(f"({meaning})", markup=False, highlight=False)


@app.command("promote")
def promote_newest(
    aws_choice: ChosenAws = None,
    allow_uncommitted: Annotated[
        bool,
        typer.Option(
            "--allow-uncommitted",
            help="Promote a version built from uncommitted changes or outside git (refused otherwise).",
        ),
    ] = False,
) -> None:
    """Deploy the newest Approved model to staging, then propose it for prod in a pull request."""
    with chosen_aws(aws_choice, "promote"), err.status("promoting") as status:
        done = promote.promote(on_status=status.update, allow_uncommitted=allow_uncommitted)
    out.print(done.message)
    if done.body and not done.pull_request_url:
        out.print(f"\nThe pull request it would open: {done.title}\n\n{done.body}")


DRIFT_ISSUE_TITLE = "Deployed endpoints differ from git (mlops status)"


@app.command("status")
def stage_status(
    issue: Annotated[
        bool,
        typer.Option(
            help="Also keep one GitHub issue in step: opened or updated on drift, closed when in sync"
            " (needs GITHUB_TOKEN and GITHUB_REPOSITORY)."
        ),
    ] = False,
) -> None:
    """Desired (git) against actual (cloud) for each stage, and the retraining and notebook schedules
    when there are any. Exit code 3 on drift, with the difference."""
    found = [deploy.status(stage.value) for stage in Stage]
    rows = status_rows(found)
    drift = any(stage.drift for stage in found)
    for which in pipeline_schedules.of_pipelines(list(project().pipelines)):
        schedule = pipeline_schedules.status(which)
        if schedule is not None:
            rows.append(schedule_row(which.name, schedule))
            drift = drift or schedule.drift
    table = Table("stage", "git says", "deployed", "state", box=box.SIMPLE_HEAD, show_edge=False)
    for row in rows:
        table.add_row(*row)
    out.print(table)
    if issue:
        out.print(sync_drift_issue(rows, drift))
    if drift:
        raise typer.Exit(3)


def schedule_row(name: str, schedule: pipeline_schedules.ScheduleStatus) -> tuple[str, str, str, str]:
    desired, deployed = schedule.desired or "(none)", schedule.deployed or "(no stack)"
    return (name, desired, deployed, state_cell(schedule.differences))


def status_rows(found: list[deploy.StageStatus]) -> list[tuple[str, str, str, str]]:
    return [
        (
            stage.stage,
            _version(stage.desired_arn) or "(none)",
            _version(stage.deployed_arn) or "(no stack)",
            state_cell(stage.differences, stage.ahead_on),
        )
        for stage in found
    ]


def state_cell(differences: list[str], ahead_on: str = "") -> str:
    """In sync, ahead of git on a promotion branch (not drift), or the differences."""
    if ahead_on:
        return f"[yellow]ahead of git: promotion pull request from {ahead_on}[/yellow]"
    if differences:
        return "[red]" + "; ".join(differences) + "[/red]"
    return "[green]in sync[/green]"


def sync_drift_issue(rows: list[tuple[str, str, str, str]], drift: bool) -> str:
    credentials = github.credentials()
    if credentials is None:
        raise MlopsError("--issue needs GITHUB_TOKEN and GITHUB_REPOSITORY (GitHub Actions sets the latter)")
    token, repository = credentials
    if not drift:
        url = github.close_issue(token, repository, DRIFT_ISSUE_TITLE, "Every stage matches git again.")
        return f"closed {url}" if url else "no drift issue open"
    lines = ["| stage | git says | deployed | state |", "|---|---|---|---|"]
    for row in rows:
        lines.append("| " + " | ".join(Text.from_markup(cell).plain for cell in row) + " |")
    body = "\n".join(
        [
            "`mlops status` found deployed stacks that differ from git (`deploy/*.yml`, the retraining"
            " block of `build/config.yml`, the scheduled_runs block of `build/notebooks.yml`):",
            "",
            *lines,
            "",
            "Reconcile with `mlops deploy <stage>` (`mlops pipeline upsert` for the schedules), or revert the"
            " change that was made outside git.",
            "This issue closes itself when every stage matches git again.",
        ]
    )
    return f"drift reported in {github.open_or_update_issue(token, repository, DRIFT_ISSUE_TITLE, body)}"


@app.command("changed-stages")
def changed_stages(
    since: Annotated[
        str, typer.Option(help="The commit to compare HEAD with (a push's `before`); none: every stage.")
    ] = "",
) -> None:
    """Print, as a JSON list, the stages whose deploy/*.yml changed since a commit (what to reconcile)."""
    sys.stdout.write(json.dumps(deploy.changed_stages(since)) + "\n")  # for $GITHUB_OUTPUT: no rich


@app.command("template-update")
def template_update_command() -> None:
    """Propose the template's newest release as a pull request: `copier update` on a branch
    `template/<version>`, committed with any conflict markers for a person to merge
    (template-update.yml runs this weekly). Needs GITHUB_TOKEN and GITHUB_REPOSITORY."""
    versions = template_update.check(project().root)
    if not versions.behind:
        out.print(f"up to date: the template's newest release is {versions.latest}, and this project has it")
        return
    proposal = template_update.propose(versions, project().root)
    out.print(f"{versions.current} -> {versions.latest}: {proposal.url}", highlight=False)
    if proposal.conflicts:
        out.print("conflicts to merge by hand: " + ", ".join(proposal.conflicts), highlight=False)


@app.command("bootstrap")
def bootstrap_account(
    prod_account: Annotated[
        str | None,
        typer.Option(
            metavar="ACCOUNT_ID",
            help="Two accounts: this one builds and stages, and shares the registry with this prod account.",
        ),
    ] = None,
    main_account: Annotated[
        str | None,
        typer.Option(
            metavar="ACCOUNT_ID",
            help="Two accounts: this is the prod account; ACCOUNT_ID builds and holds the registry.",
        ),
    ] = None,
    approval_dispatch: Annotated[
        bool | None,
        typer.Option(
            help="Tell GitHub the moment a version is approved (needs a token in "
            f"{bootstrap.DISPATCH_TOKEN_VARIABLE}); without it promote.yml runs on its schedule.",
            show_default=False,
        ),
    ] = None,
    default_branch: Annotated[
        str | None, typer.Option(help="The branch the build and drift roles trust (first run: main).")
    ] = None,
    aws_choice: ChosenAws = None,
) -> None:
    """Create or update infra/bootstrap.yml in this account (admin credentials), then print the
    repository variables to set. Options left out keep what the deployed stack has."""
    request = bootstrap.Request(prod_account, main_account, approval_dispatch, default_branch)
    with chosen_aws(aws_choice, "bootstrap"), err.status(f"bootstrapping {bootstrap.stack_name()}") as status:
        done = bootstrap.bootstrap(request, on_status=status.update)
    out.print(f"stack {done.stack} {done.action} in account {done.account} ({aws.region()})")
    out.print("\nSet these repository variables (Settings → Secrets and variables → Actions → Variables):")
    for name, value in done.variables.items():
        out.print(f"  {name:<24} {value}", highlight=False)
    out.print("\nor with the GitHub CLI:")
    for command in bootstrap.github_commands(done.variables):
        out.print(f"  {command}", highlight=False)
    if "MLOPS_BUILD_ROLE_ARN" in done.variables and "MLOPS_PROD_ROLE_ARN" not in done.variables:
        out.print(
            "\nMLOPS_PROD_ROLE_ARN comes from the prod account: run"
            f" `mlops bootstrap --main-account {done.account}` there, with its credentials."
        )


ReportDir = Annotated[Path, typer.Option(help="Where the HTML page and its PNGs go.", file_okay=False)]


@report_app.command("tuning")
def report_tuning(
    jobs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="JOB...",
            help="SageMaker tuning job names or `mlops local run` ids, compared.",
            show_default="the newest",
        ),
    ] = None,
    out_dir: ReportDir = Path("reports/tuning"),
) -> None:
    """One offline HTML page of linked, interactive charts, and their PNGs: each trial's objective
    over time with the best so far, its density, each hyperparameter against the objective, every
    trial's objective and training time. Warm-start parents are read too."""
    from .reports import tuning as tuning_report  # here: Altair takes most of a second to import

    page = tuning_report.write(tuning_report.load_with_parents(jobs or [tuning_report.newest()]), out_dir)
    out.print(f"wrote {page} and {len(tuning_report.PLOTS)} PNGs beside it")


@report_app.command("notebooks")
def report_notebooks(
    execution: Annotated[
        str,
        typer.Argument(
            help="A notebook pipeline execution: its id or ARN, or a `mlops local run` id.",
            show_default="the newest",
        ),
    ] = "",
    html: Annotated[bool, typer.Option(help="Render each notebook to HTML beside it (nbconvert).")] = True,
    out_dir: ReportDir = Path("reports/notebooks"),
) -> None:
    """An execution's output notebooks (each step's notebook as its job ran it, outputs and plots
    included), downloaded to OUT_DIR/<execution>/<step>.ipynb and rendered to HTML, with the
    libraries of the notebooks' image."""
    from . import notebook_outputs

    found = notebook_outputs.download(execution, out_dir)
    if html:
        with err.status("rendering HTML"):
            notebook_outputs.render_html(found)
    for output in found:
        out.print(f"{output.step}: {output.html or output.notebook}")


@report_app.command("experiments")
def report_experiments(
    local: Annotated[
        bool,
        typer.Option("--local", help="Compare `mlops local run`s (.mlops/runs/), not SageMaker executions."),
    ] = False,
    last: Annotated[int, typer.Option(min=1, max=200, help="How many of the newest executions.")] = 20,
    metric: Annotated[
        str | None,
        typer.Option(help="The metric drawn against each input.", show_default="test:<gate metric>"),
    ] = None,
    out_dir: ReportDir = Path("reports/experiments"),
) -> None:
    """What went into each execution (label, commit, parameters, hyperparameters, search space) and
    what came out (metrics, tuned values), each metric execution by execution, and each input that
    changed and can change the metric against it: one offline HTML page and its PNGs."""
    from .reports import experiments as experiments_report  # here: Altair takes most of a second to import

    loaded = experiments_report.load_local() if local else experiments_report.load_from_sagemaker(last)
    shown = loaded[-last:]  # oldest first: the newest `last`
    metric = metric or f"test:{load_config(project().config_path).gate.metric}"
    page = experiments_report.write(shown, metric, out_dir)
    out.print(f"wrote {page} and its PNGs beside it ({len(shown)} executions)")


def _version(arn: str | None) -> str:
    return f"v{arn.rsplit('/', 1)[-1]}" if arn else ""


unwrap_docstrings(app)


def main() -> None:
    try:
        app()
    except MlopsError as error:
        fail(str(error))
    except (ClientError, BotoCoreError) as error:
        fail(aws.explain(error))
    except OSError as error:
        # The machine refused (a full disk, a folder that cannot be written): one line, what and where.
        where = f": {error.filename}" if error.filename else ""
        fail(f"{error.strerror or error}{where}")
    finally:
        emulator.unroute()  # for callers that run the CLI in-process (the tests)


def fail(message: str) -> None:
    say_error(message)
    sys.exit(1)


def say_error(message: str) -> None:
    # As text: a message quotes user input and AWS's words, where "[" is not Rich markup.
    err.print(Text.assemble(("error:", "red"), " ", message), highlight=False)
