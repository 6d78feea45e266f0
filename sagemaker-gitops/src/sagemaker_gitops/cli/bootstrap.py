"""`mlops bootstrap`: infra/bootstrap.yml in an account, and the repository variables it gives."""

from typing import Annotated

import typer

from .. import aws, bootstrap
from .shared import ChosenAws, chosen_aws, err, out

app = typer.Typer()


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
