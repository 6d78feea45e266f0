"""What several verbs share: the consoles, the choice of AWS, the options more than one verb takes,
and how a refusal is said."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from .. import aws
from ..errors import MlopsError
from ..local import emulator

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
    monitor = "monitor"


WhichPipeline = Annotated[
    PipelineChoice,
    typer.Option(
        "--pipeline",
        help="build: build/pipeline.py (training); batch: build/batch_pipeline.py (batch scoring);"
        " notebooks: build/notebook_pipeline.py (the notebook workflow);"
        " monitor: build/monitor_pipeline.py (an endpoint's captured requests against its baseline).",
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


def say_using(found: emulator.Emulator) -> None:
    err.print(f"[dim]using the local AWS emulator at {found.url} (`mlops local down` stops it)[/dim]")


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


def fail(message: str) -> None:
    say_error(message)
    sys.exit(1)


def say_error(message: str) -> None:
    # As text: a message quotes user input and AWS's words, where "[" is not Rich markup.
    err.print(Text.assemble(("error:", "red"), " ", message), highlight=False)
