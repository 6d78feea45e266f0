"""Which model a stage may serve, and that it is the one evaluated: an Approved version of this
project's group, not the emulator's, whose model and serving code are where nothing can replace
them (the write-once prefixes), and whose bytes have the sha256 Evaluate recorded."""

import hashlib

from botocore.exceptions import ClientError

from .. import aws
from ..contract import MODEL_SHA256, metadata
from ..errors import MlopsError
from ..images import SERVING_CODE
from ..project import project


def refuse_an_emulator_model(stage: str, arn: str, account: str) -> None:
    """A model registered on the local emulator (moto's account) does not exist in AWS: a stage file
    naming one (an emulator promotion that reached git) is refused before anything is created.
    (A model package in another real account is a shared registry, and is allowed.)"""
    from moto.core import DEFAULT_ACCOUNT_ID as EMULATOR_ACCOUNT

    arn_account = arn.split(":")[4] if arn.count(":") >= 5 else ""
    if arn_account == EMULATOR_ACCOUNT != account:
        raise MlopsError(
            f"deploy/{stage}.yml names {arn}, a model of the local emulator (account {EMULATOR_ACCOUNT}),"
            f" not of AWS account {account}: promote a model from this account's registry"
        )


def approved_package(stage: str, arn: str, account: str) -> dict:
    """The model package deploy/<stage>.yml names, if AWS account `account` can serve it."""
    refuse_an_emulator_model(stage, arn, account)
    group, version = arn.rsplit("/", 2)[-2:]
    # SageMaker writes the group in lowercase in model package ARNs.
    if group != project().model_package_group.lower():
        raise MlopsError(
            f"{arn} is in model group {group!r}, not this project's {project().model_package_group!r}"
        )
    try:
        package = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if not aws.is_not_found(error):
            raise  # AccessDenied and the like are not "not found": the CLI says what AWS said
        raise MlopsError(f"model package {arn} not found in {aws.region()}") from None
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise MlopsError(
            f"version {version} is {status}, not Approved: approve it first"
            f" (`mlops models approve {version} --reason ...`)"
        )
    return package


def refuse_what_can_be_replaced(package: dict) -> None:
    """What an endpoint loads, and loads again on every scale-out, must be where nothing can replace
    it: the model where Evaluate keeps it, its serving code where `upsert` stages it; the bucket
    policy of infra/bootstrap.yml makes both write-once. A version whose model is elsewhere was
    registered by an earlier release, from the training job's output, which stays writable."""
    version = package["ModelPackageArn"].rsplit("/", 1)[-1]
    container = package["InferenceSpecification"]["Containers"][0]
    places = {
        "model": (container["ModelDataUrl"], project().kept_models_key),
        "serving code": (container.get("Environment", {}).get(SERVING_CODE, ""), f"{project().slug}/code"),
    }
    for what, (url, prefix) in places.items():
        if url.startswith("s3://") and not aws.split_s3_uri(url)[1].startswith(f"{prefix}/"):
            raise MlopsError(
                f"version {version}'s {what} {url} is not under {prefix}/, where nothing can replace it:"
                " run the pipeline to register it again, then approve the new version"
            )


def verify_artifact(package: dict, artifact: bytes) -> None:
    """The model artifact is the one the pipeline evaluated: its sha256 is what Evaluate recorded
    and registration stored with the version (an approval approves those bytes, not a URL)."""
    version = package["ModelPackageArn"].rsplit("/", 1)[-1]
    recorded = metadata(package).get(MODEL_SHA256)
    if not recorded:
        raise MlopsError(
            f"version {version} records no model_sha256 (registered before checksums): register it again"
            " by running the pipeline, then approve the new version"
        )
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    if hashlib.sha256(artifact).hexdigest() != recorded:
        raise MlopsError(
            f"version {version}'s artifact {url} changed after it was evaluated (sha256 differs from the"
            " registered one): not deployed; register and approve a new version"
        )
