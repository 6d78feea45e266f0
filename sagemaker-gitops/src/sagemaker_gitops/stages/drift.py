"""`mlops status`: what git says against what is deployed, for each stage and each pipeline
schedule, and the one GitHub issue kept in step with it (drift.yml runs `mlops status --issue`)."""

from dataclasses import dataclass

from .. import github
from ..desired_state import STAGES
from ..errors import MlopsError
from ..project import project
from . import pipeline_schedules, status

ISSUE_TITLE = "Deployed endpoints differ from git (mlops status)"


@dataclass(frozen=True)
class Row:
    """One stage or schedule: git's value, the deployed one, and how they compare."""

    name: str
    desired: str
    deployed: str
    state: str  # "in sync", "ahead of git: ...", or the differences
    kind: str  # "in sync" | "ahead" | "drift"


def rows() -> list[Row]:
    """Each stage, then each pipeline schedule the project has."""
    found = [stage_row(status.status(stage)) for stage in STAGES]
    for which in pipeline_schedules.of_pipelines(list(project().pipelines)):
        schedule = pipeline_schedules.status(which)
        if schedule is not None:
            found.append(
                _compared(
                    which.name,
                    schedule.desired or "(none)",
                    schedule.deployed or "(no stack)",
                    schedule.differences,
                )
            )
    return found


def stage_row(stage: status.StageStatus) -> Row:
    desired, deployed = _version(stage.desired_arn), _version(stage.deployed_arn, "(no stack)")
    if stage.ahead_on:  # a promotion pull request carries the record: not drift
        ahead = f"ahead of git: promotion pull request from {stage.ahead_on}"
        return Row(stage.stage, desired, deployed, ahead, "ahead")
    return _compared(stage.stage, desired, deployed, stage.differences)


def _compared(name: str, desired: str, deployed: str, differences: list[str]) -> Row:
    if differences:
        return Row(name, desired, deployed, "; ".join(differences), "drift")
    return Row(name, desired, deployed, "in sync", "in sync")


def _version(arn: str | None, missing: str = "(none)") -> str:
    return f"v{arn.rsplit('/', 1)[-1]}" if arn else missing


def sync_issue(found: list[Row]) -> str:
    """Open or update the drift issue while anything drifts; close it once nothing does."""
    credentials = github.credentials()
    if credentials is None:
        raise MlopsError("--issue needs GITHUB_TOKEN and GITHUB_REPOSITORY (GitHub Actions sets the latter)")
    token, repository = credentials
    if not any(row.kind == "drift" for row in found):
        url = github.close_issue(token, repository, ISSUE_TITLE, "Every stage matches git again.")
        return f"closed {url}" if url else "no drift issue open"
    url = github.open_or_update_issue(token, repository, ISSUE_TITLE, issue_body(found))
    return f"drift reported in {url}"


def issue_body(found: list[Row]) -> str:
    table = ["| stage | git says | deployed | state |", "|---|---|---|---|"]
    table += [f"| {row.name} | {row.desired} | {row.deployed} | {row.state} |" for row in found]
    return "\n".join(
        [
            "`mlops status` found deployed stacks that differ from git (`deploy/*.yml`, the retraining"
            " block of `build/config.yml`, the scheduled_runs block of `build/notebooks.yml`):",
            "",
            *table,
            "",
            "Reconcile with `mlops deploy <stage>` (`mlops pipeline upsert` for the schedules), or revert the"
            " change that was made outside git.",
            "This issue closes itself when every stage matches git again.",
        ]
    )
