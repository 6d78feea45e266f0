"""Check that the model a batch run names is the one that was evaluated and approved.

Runs as a SageMaker Processing job (scikit-learn image) at the head of the batch pipeline, and on a
laptop. The model package records the sha256 of the model.tar.gz that Evaluate scored
(`model_sha256`); SageMaker creates the batch model from the package's URL, and the object behind
a URL can be replaced after the approval. This reads both and stops the run, before any model is
created, when they differ. (SageMaker reads the URL again when it starts the transform: what the
bucket policy lets write there is the other half, docs/security.md.)
"""

import argparse
import hashlib
import sys
from urllib.parse import urlparse

import boto3

CHUNK = 8 * 1024 * 1024


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-package-arn", required=True)
    return parser.parse_args(argv)


def sha256_of(url: str) -> str:
    """The sha256 of the object at an s3:// URL, read in chunks."""
    location = urlparse(url)
    body = boto3.client("s3").get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def main(argv=None) -> None:
    arn = parse_args(argv).model_package_arn
    package = boto3.client("sagemaker").describe_model_package(ModelPackageName=arn)
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    registered = package.get("CustomerMetadataProperties", {}).get("model_sha256")
    if not registered:
        sys.exit(f"{arn} records no model_sha256: register it again by running the build pipeline")
    found = sha256_of(url)
    if found != registered:
        sys.exit(
            f"{url} changed after it was evaluated (sha256 {found[:12]}, registered {registered[:12]}):"
            " not scored"
        )
    print(f"{url}: sha256 {found}, as registered with {arn}")


if __name__ == "__main__":
    main()
