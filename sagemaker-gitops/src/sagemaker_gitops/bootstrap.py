"""`mlops bootstrap`: deploy infra/bootstrap.yml in the current account, then name the repository
variables the GitHub workflows read.

Run it with administrator credentials once per account (and again after changing the template):
it is the one step that needs them. Options not given keep what the deployed stack has.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from . import aws
from .errors import MlopsError
from .project import project
from .stages.stacks import KEEP, apply_stack, deployed_parameters, describe_stack, outputs

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
# Read from the environment, never from an option: a token on a command line lands in shell history.
DISPATCH_TOKEN_VARIABLE = "MLOPS_DISPATCH_TOKEN"
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
# The owner copier suggests (`your-org/<slug>`), never a real one.
PLACEHOLDER_OWNER = "your-org"

# Stack output -> the repository variable the workflows read it from.
VARIABLES = {
    "Region": "AWS_REGION",
    "BuildRoleArn": "MLOPS_BUILD_ROLE_ARN",
    "StagingRoleArn": "MLOPS_STAGING_ROLE_ARN",
    "ProdRoleArn": "MLOPS_PROD_ROLE_ARN",
    "ObserverRoleArn": "MLOPS_OBSERVER_ROLE_ARN",
    "ProdReadRoleArn": "MLOPS_PROD_READ_ROLE_ARN",  # two accounts: how drift.yml reads prod
}


@dataclass(frozen=True)
class Request:
    prod_account: str | None = None  # this account builds; prod is served from that one
    main_account: str | None = None  # this is the prod account of that main account
    approval_dispatch: bool | None = None
    default_branch: str | None = None


@dataclass(frozen=True)
class Bootstrapped:
    stack: str
    action: str  # created | updated | unchanged
    account: str
    variables: dict[str, str]  # repository variable -> value


def template_path() -> Path:
    return project().root / "infra" / "bootstrap.yml"


def stack_name() -> str:
    return f"{project().slug}-bootstrap"


def bootstrap(request: Request, on_status: Callable[[str], None] = lambda _: None) -> Bootstrapped:
    """Create or update the bootstrap stack; refusals come before any change."""
    check_repository()
    account = aws.caller_account()
    check_accounts(request, account)
    existing = describe_stack(stack_name())
    parameters = stack_parameters(request, existing)
    if existing is None:
        check_nothing_in_the_way(account, serves_registry=not request.main_account)
    action = apply_stack(stack_name(), template_path(), parameters, on_status, ("CAPABILITY_NAMED_IAM",))
    found = outputs(stack_name())
    variables = {variable: found[key] for key, variable in VARIABLES.items() if key in found}
    return Bootstrapped(stack_name(), action, account, variables)


def check_repository() -> None:
    """The roles trust GitHub's tokens for exactly this repository: not copier's placeholder."""
    if project().github_repository.split("/")[0] == PLACEHOLDER_OWNER:
        raise MlopsError(
            f"github-repository is still the placeholder {project().github_repository!r}, which the AWS roles"
            " would trust: set the real owner/name in pyproject.toml's [tool.mlops] and .copier-answers.yml"
        )


def check_accounts(request: Request, account: str) -> None:
    if request.prod_account and request.main_account:
        raise MlopsError(
            "give --prod-account in the main account or --main-account in the prod account, not both"
        )
    for option, value in (("--prod-account", request.prod_account), ("--main-account", request.main_account)):
        if value is None or value == "":
            continue
        if not ACCOUNT_ID.match(value):
            raise MlopsError(f"{option} {value!r}: expected a 12-digit AWS account id")
        if value == account:
            raise MlopsError(
                f"{option} {value} is the account these credentials are in: use the other account's id"
                " (or leave the option out for a one-account setup)"
            )


def stack_parameters(request: Request, existing: dict | None) -> dict[str, str | object]:
    """Every template parameter; on an update, options not given keep the deployed values
    (a parameter that a newer template added, and the stack never had, gets its default)."""
    deployed = deployed_parameters(existing) if existing else {}

    def given(key: str, value: str | None, default: str) -> str | object:
        if value is not None:
            return value
        return KEEP if key in deployed else default

    dispatch = request.approval_dispatch
    return {
        "Project": project().slug,
        "GitHubRepository": project().github_repository,
        "ModelPackageGroupName": project().model_package_group,
        "DefaultBranch": given("DefaultBranch", request.default_branch, "main"),
        # The account's provider is found once, when the stack is created; after that the stack
        # keeps what it chose (re-detecting would make it delete the provider it created).
        "ExistingOidcProviderArn": KEEP if "ExistingOidcProviderArn" in deployed else find_oidc_provider(),
        "ProdAccountId": given("ProdAccountId", request.prod_account, ""),
        "MainAccountId": given("MainAccountId", request.main_account, ""),
        "ApprovalDispatch": given(
            "ApprovalDispatch", None if dispatch is None else str(dispatch).lower(), "false"
        ),
        "GitHubDispatchToken": dispatch_token(dispatch, deployed),
    }


def dispatch_token(dispatch: bool | None, deployed: dict[str, str]) -> str | object:
    """From the environment; else the stored one (CloudFormation never reads it back)."""
    token = os.environ.get(DISPATCH_TOKEN_VARIABLE, "")
    if token:
        return token
    if dispatch and deployed.get("ApprovalDispatch") != "true":
        raise MlopsError(
            f"--approval-dispatch needs a GitHub token in {DISPATCH_TOKEN_VARIABLE}: a fine-grained token for"
            f" {project().github_repository} with 'Contents: read and write'"
        )
    return KEEP if "GitHubDispatchToken" in deployed else ""


def find_oidc_provider() -> str:
    """The account's GitHub OIDC provider ARN, or "" (the stack then creates it): one per account."""
    listed = aws.client("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]
    return next((p["Arn"] for p in listed if p["Arn"].endswith("/" + GITHUB_OIDC_HOST)), "")


def check_nothing_in_the_way(account: str, serves_registry: bool) -> None:
    """The stack keeps its bucket and model group when it is deleted or its creation fails, so
    ones left behind (or made by hand) would fail the creation: say so before starting."""
    bucket = f"{project().slug}-{account}-{aws.region()}"
    try:
        aws.client("s3").head_bucket(Bucket=bucket)
    except ClientError as error:
        if aws.error_code(error) in {"ExpiredToken", "InvalidClientTokenId", "SignatureDoesNotMatch"}:
            raise
        if error.response["Error"]["Code"] not in {"404", "NoSuchBucket"}:
            raise MlopsError(f"bucket {bucket} is taken by another account: S3 names are global") from None
    else:
        raise MlopsError(
            f"bucket {bucket} already exists (kept from an earlier bootstrap stack?):"
            " delete it or move its contents, then bootstrap again"
        )
    if not serves_registry:
        return
    try:
        aws.client("sagemaker").describe_model_package_group(
            ModelPackageGroupName=project().model_package_group
        )
    except ClientError as error:
        if aws.is_not_found(error):
            return
        raise
    raise MlopsError(
        f"model group {project().model_package_group} already exists outside the stack (made by hand, or"
        " kept from an earlier bootstrap stack): delete it, then bootstrap again"
    )


def github_commands(variables: dict[str, str]) -> list[str]:
    """The `gh` commands that set the variables on the repository."""
    return [
        f"gh variable set {name} --repo {project().github_repository} --body {value}"
        for name, value in variables.items()
    ]
