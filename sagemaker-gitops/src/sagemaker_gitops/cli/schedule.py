"""`mlops schedule`: the schedules that start the pipelines, fired by hand."""

from enum import StrEnum
from typing import Annotated

import typer

from ..build import pipelines
from ..local import emulator
from ..stages import schedules
from .help import group
from .local import fail_if_failed, run_and_report
from .shared import ChosenAws, chosen_aws, err, out

app = group(
    "The schedules that start the pipelines: each stage's batch scoring and monitoring, retraining,"
    " notebooks."
)


ScheduleName = StrEnum("ScheduleName", {name: name for name in schedules.NAMES})


@app.command("fire")
def schedule_fire(
    name: Annotated[
        ScheduleName,
        typer.Argument(
            help="staging or prod: the stage's batch scoring; staging-monitor or prod-monitor: the"
            " stage's monitoring; retraining: the build pipeline's; notebooks: the notebook workflow's."
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
            result = run_and_report(pairs, label, kind)
            if result.failed and schedules.drift_retrains(result.failed.name):
                # What build/retraining.yml's rule does in AWS, the emulator (which runs no rule) does here.
                err.print("note: drift: the retraining rule starts the build pipeline, here", highlight=False)
                drift = f"drift found by {name.value} run {result.execution_id}"
                fail_if_failed(run_and_report(schedules.sent_by("retraining"), drift, "build"))
            fail_if_failed(result)
        else:
            out.print(pipelines.start(pairs, label, kind))
