"""`mlops models`: the model versions in the registry."""

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from .. import aws
from ..contract import GATE_METRIC, metadata
from ..stages import models, status
from .help import group
from .shared import out

app = group("Model versions in the registry: list, show, approve, reject.")


@app.command("list")
def models_list(
    limit: Annotated[int, typer.Option(min=1, help="How many versions, newest first.")] = 20,
) -> None:
    """Show the newest model versions: status, gate metric, when, from which commit and data (their
    sha256), and where it serves."""
    serving = status.serving()
    rows = []
    for summary in models.versions()[:limit]:
        arn = summary["ModelPackageArn"]
        described = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
        gate = metadata(described).get(GATE_METRIC, "")
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


@app.command("show")
def models_show(version: Annotated[int, typer.Argument(min=1, help="The version's number.")]) -> None:
    """Show one model version in full: its approval and its reason, where it was built from and
    trained on, every metric, its data- and model-quality baselines, and where it serves."""
    described = models.describe(version)
    serves = [stage for stage, arn in status.serving().items() if arn == described["ModelPackageArn"]]
    for what, value in models.details(described, serves):
        out.print(f"{what}: {value}", highlight=False, soft_wrap=True)


Reason = Annotated[str, typer.Option(help="Why: kept with the version as its approval description.")]


@app.command("approve")
def models_approve(version: Annotated[int, typer.Argument(min=1)], reason: Reason) -> None:
    """Approve a model version (its metadata is kept intact)."""
    _set_approval(version, "Approved", reason)


@app.command("reject")
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
