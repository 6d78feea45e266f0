"""`mlops local run`: this project's "build" or "batch" pipeline run on this machine, built as
`mlops pipeline definition` builds it (or as the last run built it, when nothing it is built from
has changed: definition_cache.py), its parameters checked as `mlops pipeline start` checks them,
the data it is given staged, then run step by step by local/runner.py."""

from dataclasses import replace
from pathlib import Path

from .. import aws
from ..local import launchers
from ..local.emulator import state_dir
from ..local.image_envs import Interpreters
from ..local.runner import Progress, RunResult, run_definition, warm_up
from ..repository import run_description
from . import definition_cache
from .pipelines import parse_parameters, with_data, with_prod


def run_project(
    pairs: list[str],
    progress: Progress,
    label: str = "",
    kind: str = "build",
    data: Path | None = None,
    use_cache: bool = True,
) -> RunResult:
    """Run this project's "build" or "batch" definition, as `mlops pipeline definition` builds it
    (or as the last run built it, when nothing it is built from has changed: definition_cache), on
    `data` (a local file or folder to run on) when given."""
    description = run_description(label)
    with launchers.started() as launcher:
        prepared = definition_cache.for_run(kind)
        # The hosts import the step libraries while the parameters are checked, the data staged and
        # the requests validated: an unchanged re-run asks for its first job within a second.
        interpreters = Interpreters(progress.note)
        warm_up(prepared.definition, launcher, interpreters)
        if data is not None:
            pairs = with_data(pairs, prepared.code.data(data))
        overrides = parse_parameters(pairs)
        overrides += parse_parameters(with_prod(pairs, prepared.definition)[len(pairs) :])
        prepared.code.upload(aws.client("s3"))  # the data given, staged by content
        result = run_definition(
            prepared.definition,
            overrides,
            prepared.target,
            state_dir() / "runs",
            progress,
            launcher,
            description,
            prepared.name,
            use_cache,
            interpreters,
        )
        if any(result.workspace.rglob("statistics.json")):
            progress.note(ANALYZER)
        return replace(result, definition_reused=prepared.reused)


# Said once a run computed a baseline or checked one (Preprocess, the monitor): the files are in
# Model Monitor's formats, the numbers are not its analyzer's.
ANALYZER = (
    "statistics.json and constraints.json were computed by build/steps/data_quality.py (pandas, exact),"
    " here as in AWS, not by Model Monitor's Deequ analyzer: the template's docs/quality.md says what"
    " differs"
)
