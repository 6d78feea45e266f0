"""Staging's smoke tests that passed: the evidence `mlops deploy prod` requires, kept where no
commit, pull request or pipeline can write it.

`mlops deploy staging` (promote.yml and deploy.yml, as the staging deploy role) writes one object
per version after the smoke test passed, beside the model it tested:

    s3://<the model's bucket>/<project>/staging-evidence/<group>/<version>.json

infra/bootstrap.yml lets the staging deploy role write there, and its bucket policy denies every
other principal (the execution role, which may write models anywhere else, and the build role
among them); the prod deploy role may read it, from the prod account too. The object names the
artifact's sha256 the test ran against: prod deploys a version only if that is the sha256 the
registry records for it (and deploy checked the bytes against).
"""

import json
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from .. import aws
from ..contract import MODEL_SHA256, metadata
from ..errors import MlopsError
from ..local import emulator
from ..project import project

PREFIX = "staging-evidence"


def location(package: dict) -> str:
    """Where the evidence of this version lives: in its model's bucket, under the project."""
    bucket, _ = aws.split_s3_uri(package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])
    group, version = package["ModelPackageArn"].rsplit("/", 2)[-2:]
    return f"s3://{bucket}/{project().slug}/{PREFIX}/{group}/{version}.json"


def record(package: dict, sha256: str, endpoint: str, result: str) -> None:
    """Staging's smoke test of this version passed, against the artifact with this sha256."""
    evidence = {
        "model_package_arn": package["ModelPackageArn"],
        MODEL_SHA256: sha256,
        "endpoint": endpoint,
        "passed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "result": result,
    }
    bucket, key = aws.split_s3_uri(location(package))
    body = json.dumps(evidence, indent=1).encode()
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def read(package: dict) -> dict | None:
    """This version's evidence, or None when staging never passed it."""
    try:
        return json.loads(aws.read_s3(location(package)))
    except ClientError as error:
        if aws.error_code(error) in {"NoSuchKey", "404"}:
            return None
        raise
    except ValueError:
        return None  # not what `deploy staging` writes: no evidence


def require(package: dict) -> dict:
    """The evidence prod deploys on: staging's smoke test passed on the very bytes the registry
    records for this version; MlopsError otherwise."""
    version = package["ModelPackageArn"].rsplit("/", 1)[-1]
    found = read(package)
    if found is None or found.get("model_package_arn") != package["ModelPackageArn"]:
        raise MlopsError(
            f"version {version} has no passed staging smoke test ({location(package)}):"
            f" promote it through staging with `{emulator.command('promote')}`"
        )
    recorded = metadata(package).get(MODEL_SHA256)
    if found.get(MODEL_SHA256) != recorded:
        raise MlopsError(
            f"version {version}'s staging smoke test ran on another artifact (sha256"
            f" {str(found.get(MODEL_SHA256))[:12]}, registered {str(recorded)[:12]}): promote it again"
        )
    return found
