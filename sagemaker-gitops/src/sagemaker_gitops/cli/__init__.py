"""The `mlops` command line: the verbs the Makefile, the workflows and the docs use, one module per
noun, each mapping options to the functions that do the work."""

import logging
import warnings
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError

from .. import aws
from ..errors import MlopsError
from ..local import emulator
from ..project import refuse_an_unfinished_update
from . import bootstrap, local, models, pipeline, report, schedule, stages, template_update
from .help import NewcomerOrder, asks_for_help, group, unwrap_docstrings
from .shared import fail, say_using

__all__ = ["app", "main"]

app = group("Build, run and promote this project's SageMaker model.", cls=NewcomerOrder)
app.add_typer(pipeline.app, name="pipeline")
app.add_typer(local.app, name="local")
app.add_typer(schedule.app, name="schedule")
app.add_typer(models.app, name="models")
app.add_typer(report.app, name="report")
for flat in (stages.app, bootstrap.app, template_update.app):  # verbs at the top level
    app.add_typer(flat)


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
