"""`mlops template-update`: the template's newest release, proposed as a pull request."""

import typer

from .. import template_update
from ..project import project
from .shared import out

app = typer.Typer()


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
