"""`mlops report`: tuning jobs' trials, executions compared, a run's output notebooks."""

from pathlib import Path
from typing import Annotated

import typer

from ..config import load_config
from ..project import project
from .help import group
from .shared import err, out

app = group("Reports: tuning jobs' trials, pipeline executions compared, a run's output notebooks.")


ReportDir = Annotated[Path, typer.Option(help="Where the HTML page and its PNGs go.", file_okay=False)]


@app.command("tuning")
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
    from ..reports import tuning as tuning_report  # here: Altair takes most of a second to import

    page = tuning_report.write(tuning_report.load_with_parents(jobs or [tuning_report.newest()]), out_dir)
    out.print(f"wrote {page} and {len(tuning_report.PLOTS)} PNGs beside it")


@app.command("notebooks")
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
    from ..reports import notebook_outputs

    found = notebook_outputs.download(execution, out_dir)
    if html:
        with err.status("rendering HTML"):
            notebook_outputs.render_html(found)
    for output in found:
        out.print(f"{output.step}: {output.html or output.notebook}")


@app.command("experiments")
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
    from ..reports import experiments as experiments_report  # here: Altair takes most of a second to import

    loaded = experiments_report.load_local() if local else experiments_report.load_from_sagemaker(last)
    shown = loaded[-last:]  # oldest first: the newest `last`
    metric = metric or f"test:{load_config(project().config_path).gate.metric}"
    page = experiments_report.write(shown, metric, out_dir)
    out.print(f"wrote {page} and its PNGs beside it ({len(shown)} executions)")
