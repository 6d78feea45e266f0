"""Which AWS account, region, bucket and role the pipeline targets.

Names follow infra/bootstrap.yml's conventions and can be overridden per
environment (CI sets them from repository variables):
  MLOPS_ARTIFACT_BUCKET      default <slug>-<account>-<region>
  MLOPS_SAGEMAKER_ROLE_ARN   default arn:aws:iam::<account>:role/<slug>-sagemaker-execution
  MLOPS_AWS_ACCOUNT_ID       skips the STS lookup (and names the account offline)
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from .errors import MlopsError
from .project import project

# Offline builds (`mlops pipeline definition`) never call AWS; ARNs name this account.
PLACEHOLDER_ACCOUNT = "000000000000"


@cache
def _client_config():
    """botocore's standard retry mode: backoff with jitter on throttling and transient errors."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5})


@dataclass(frozen=True)
class AwsTarget:
    region: str
    account: str
    bucket: str
    role_arn: str

    @property
    def scheduler_role_arn(self) -> str:
        """infra/bootstrap.yml's SchedulerRole, beside the execution role: what schedules start
        pipelines as."""
        return f"{self.role_arn.rsplit(':', 1)[0]}:role/{project().slug}-scheduler"


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or project().region


# While `assumed` is active: the session of the role it assumed.
_assumed_session = None


def client(service: str):
    # boto3 and botocore's client machinery are imported here, by the first call to AWS: half a
    # second that `mlops --help` and the offline verbs need not pay (docs/performance.md).
    import boto3

    return (_assumed_session or boto3).client(service, region_name=region(), config=_client_config())


@contextmanager
def assumed(role_arn: str | None) -> Iterator[None]:
    """AWS calls inside go through `role_arn`, assumed with the current credentials (another
    account's, in a two-account setup); with no role, nothing changes."""
    global _assumed_session
    if not role_arn:
        yield
        return
    try:
        credentials = client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=f"{project().slug}-read"[:64]
        )
    except (BotoCoreError, ClientError) as error:
        raise MlopsError(f"cannot assume {role_arn}: {explain(error)}") from None
    keys = credentials["Credentials"]
    import boto3

    previous, _assumed_session = (
        _assumed_session,
        boto3.Session(
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys["SessionToken"],
        ),
    )
    try:
        yield
    finally:
        _assumed_session = previous


# Failures that mean "AWS is not reachable from here", whichever call meets them first.
UNREACHABLE = (NoCredentialsError, EndpointConnectionError)


def explain_unreachable(error: Exception) -> str:
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: configure a profile or environment credentials for the target account"
    return f"cannot reach AWS ({error}): check the network, AWS_REGION and AWS_ENDPOINT_URL"


# Fixes for the errors every verb can meet, by the code AWS answers with.
FIXES = {
    "AccessDenied": "the credentials in use lack this permission: use the role infra/bootstrap.yml "
    "made for this job (docs/security.md says which role may do what)",
    "ExpiredToken": "the credentials have expired: renew them (`aws sso login`, or a new session)",
    "InvalidClientTokenId": "AWS does not know this access key: check the profile or environment credentials",
    "SignatureDoesNotMatch": "the secret key does not match the access key: check the credentials",
    "Throttling": "AWS is throttling this account's calls (retried 5 times): try again in a minute",
}
# Other spellings the services use for the same errors.
SAME_ERROR = {
    "AccessDeniedException": "AccessDenied",
    "UnauthorizedOperation": "AccessDenied",
    "ExpiredTokenException": "ExpiredToken",
    "RequestExpired": "ExpiredToken",
    "UnrecognizedClientException": "InvalidClientTokenId",
    "ThrottlingException": "Throttling",
    "TooManyRequestsException": "Throttling",
}
NOT_FOUND = {"ResourceNotFound", "ResourceNotFoundException", "ValidationException", "NoSuchKey", "404"}


def error_code(error: ClientError) -> str:
    code = error.response.get("Error", {}).get("Code", "")
    return SAME_ERROR.get(code, code)


def is_not_found(error: ClientError) -> bool:
    """Whether AWS said the thing is not there (never an access or credentials problem)."""
    return error.response.get("Error", {}).get("Code", "") in NOT_FOUND


def explain(error: ClientError | BotoCoreError) -> str:
    """One line for any AWS failure: the operation, AWS's code and message, and the fix if known."""
    if isinstance(error, UNREACHABLE):
        return explain_unreachable(error)
    if isinstance(error, BotoCoreError):
        return f"AWS call failed: {error}"
    details = error.response.get("Error", {})
    message = " ".join(str(details.get("Message") or "").split())
    line = f"AWS refused {error.operation_name} ({details.get('Code', 'error')}): {message}".rstrip(": ")
    fix = FIXES.get(error_code(error))
    return f"{line}. {fix}" if fix else line


def caller_account() -> str:
    try:
        return client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        raise MlopsError(explain(error)) from None


def split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/of/object") from "s3://bucket/key/of/object"; ValueError otherwise."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def read_s3(uri: str) -> bytes:
    """The object an s3:// URI names (ValueError for another URI, ClientError from S3)."""
    bucket, key = split_s3_uri(uri)
    return client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def create_bucket(bucket: str) -> None:
    """Create a bucket in this region (us-east-1 is the one region that refuses a LocationConstraint)."""
    where = region()
    location = {} if where == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": where}}
    client("s3").create_bucket(Bucket=bucket, **location)


def account() -> str:
    """The account the calls go to: MLOPS_AWS_ACCOUNT_ID, else the credentials' (STS)."""
    return os.environ.get("MLOPS_AWS_ACCOUNT_ID") or caller_account()


def resolve_target(offline: bool = False) -> AwsTarget:
    number = (os.environ.get("MLOPS_AWS_ACCOUNT_ID") or PLACEHOLDER_ACCOUNT) if offline else account()
    where = region()
    return AwsTarget(
        region=where,
        account=number,
        bucket=os.environ.get("MLOPS_ARTIFACT_BUCKET") or f"{project().slug}-{number}-{where}",
        role_arn=os.environ.get("MLOPS_SAGEMAKER_ROLE_ARN")
        or f"arn:aws:iam::{number}:role/{project().slug}-sagemaker-execution",
    )
