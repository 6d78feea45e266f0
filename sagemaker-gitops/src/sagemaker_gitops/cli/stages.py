"""The verbs of the deploy half, one stage at a time: promote, deploy, invoke, status, and which
stages a commit changed."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from ..errors import MlopsError
from ..local import emulator, pull_requests
from ..stages import deploy, drift, promote, stage_schedules
from .shared import ChosenAws, Stage, chosen_aws, err, out

app = typer.Typer()  # its verbs sit at the top level: `mlops deploy`, not `mlops stages deploy`


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
    for schedule in stage_schedules.ALL:
        if schedule.block in done.schedules:
            action = done.schedules[schedule.block]
            out.print(f"{schedule.block} schedule: stack {schedule.stack_name(stage.value)} {action}")


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
    inference_id: Annotated[
        str,
        typer.Option(
            help="An id for this request (InvokeEndpoint's InferenceId, 1-64 characters): the data"
            " capture records it, and the labels you write for the request name it (monitoring)."
        ),
    ] = "",
) -> None:
    """Send CSV rows to the stage's endpoint and print its answer, one prediction per row. A row is
    the feature columns of data/sample.csv (every column but the target), in their order, without a
    header; each is checked against the version's columns before anything is sent. For example:

    - mlops invoke staging --body "59,2,32.1,101,clinic_a"
    - mlops invoke prod --file rows.csv (one row per line)"""
    if (body is None) == (file is None):
        raise MlopsError("give the rows to send with --body or --file (one of them)")
    rows = body if body is not None else file.read_text()
    out.print(deploy.invoke(stage.value, rows, inference_id), end="", markup=False, highlight=False)
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
    rows = drift.rows()
    table = Table("stage", "git says", "deployed", "state", box=box.SIMPLE_HEAD, show_edge=False)
    for row in rows:
        table.add_row(row.name, row.desired, row.deployed, Text(row.state, style=STATE_STYLE[row.kind]))
    out.print(table)
    if issue:
        out.print(drift.sync_issue(rows))
    if any(row.kind == "drift" for row in rows):
        raise typer.Exit(3)


STATE_STYLE = {"in sync": "green", "ahead": "yellow", "drift": "red"}


@app.command("changed-stages")
def changed_stages(
    since: Annotated[
        str, typer.Option(help="The commit to compare HEAD with (a push's `before`); none: every stage.")
    ] = "",
) -> None:
    """Print, as a JSON list, the stages whose deploy/*.yml changed since a commit (what to reconcile)."""
    sys.stdout.write(json.dumps(deploy.changed_stages(since)) + "\n")  # for $GITHUB_OUTPUT: no rich
