"""Put a file in S3 once, under a key that names its content: how a step hands on what a later
step, a cached run or a model version must find unchanged.

Shipped beside preprocess.py and evaluate.py (the `write_once` input of their jobs). The write sends
If-None-Match, which S3 refuses for a key that exists; infra/bootstrap.yml's bucket policy refuses
writes without it, and any delete, under <project>/models/ and <project>/code/. An object already
under the key must hold the same bytes (the same content made again); any other is refused.
fetch() reads such an object back (an s3:// URL, or a file:// one in a test).
"""

import hashlib
import shutil
from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

CHUNK = 8 * 1024 * 1024


def sha256_of(stream) -> str:
    """The sha256 of a binary stream (a file, an S3 object's body), read in chunks."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def put_once(path: Path, url: str) -> None:
    """Put the file at the s3:// URL unless it is there already; SystemExit if other bytes are."""
    bucket, key = urlparse(url).netloc, urlparse(url).path.lstrip("/")
    s3 = boto3.client("s3")
    try:
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
    except ClientError as error:
        if error.response["Error"]["Code"] != "PreconditionFailed":
            raise
        with path.open("rb") as body:
            same = sha256_of(s3.get_object(Bucket=bucket, Key=key)["Body"]) == sha256_of(body)
        if not same:
            raise SystemExit(f"{url} holds other bytes than its name says: someone else wrote it") from None


def fetch(url: str, path: Path) -> Path:
    """An s3:// or file:// URL's object, saved at path."""
    where = urlparse(url)
    if where.scheme == "s3":
        boto3.client("s3").download_file(where.netloc, where.path.lstrip("/"), str(path))
    elif where.scheme == "file":
        shutil.copyfile(where.path, path)
    else:
        raise SystemExit(f"cannot read {url!r}: give an s3:// or file:// URL")
    return path
