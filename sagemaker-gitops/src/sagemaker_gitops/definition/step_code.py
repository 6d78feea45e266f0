"""Step scripts, and the data a run starts from, on S3 under content-hashed keys.

The pipeline references code already on S3 instead of letting the SDK upload it
while building the definition. That keeps `definition` free of AWS calls, makes the
definition byte-identical for identical code (so step caching hits), and lets
`upsert` upload exactly the objects the definition names. Local data (data/sample.csv, or what
`--data` names) is staged the same way under <prefix>/data/<hash>/: a changed file is a new URL.
"""

import gzip
import hashlib
import io
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from ..errors import MlopsError

# Where a staged file's content hash sits in its URI: ".../code/<16 hex>/<file name>".
HASHED_DIR = re.compile(r"/code/[0-9a-f]{16}/")
# The same for staged data: ".../data/<16 hex>/<file name>".
HASHED_DATA = re.compile(r"/data/[0-9a-f]{16}/")


def _hashed(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def content_key(prefix: str, under: str, name: str, body: bytes) -> str:
    """<prefix>/<under>/<hash of the body>/<name>: a key that names its content."""
    return f"{prefix}/{under}/{_hashed(body)}/{name}"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise MlopsError(f"{path}: cannot be read ({error.strerror})") from None


def data_key(prefix: str, path: Path) -> str:
    """Where a data file is staged: <prefix>/data/<hash of its content>/<its name>."""
    return content_key(prefix, "data", path.name, _read(path))


def _sourcedir_tarball(steps_dir: Path) -> bytes:
    """A reproducible sourcedir.tar.gz: sorted members, zeroed times and owners."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(steps_dir.glob("*.py")):
            info = tarfile.TarInfo(path.name)
            data = path.read_bytes()
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue(), mtime=0)


@dataclass
class StepCode:
    steps_dir: Path
    bucket: str
    prefix: str
    objects: dict[str, bytes] = field(default_factory=dict)  # S3 key -> body
    read: set[Path] = field(default_factory=set)  # the local files staged: what the definition names

    def _put(self, name: str, body: bytes, under: str = "code") -> str:
        key = content_key(self.prefix, under, name, body)
        self.objects[key] = body
        return f"s3://{self.bucket}/{key}"

    def _put_folder(self, bodies: dict[str, bytes], under: str = "code") -> str:
        """One folder holding these files (name -> body), named by a hash of them all."""
        listing = "\n".join(
            f"{name} {hashlib.sha256(body).hexdigest()}" for name, body in sorted(bodies.items())
        )
        folder = f"{self.prefix}/{under}/{_hashed(listing.encode())}"
        self.objects.update({f"{folder}/{name}": body for name, body in bodies.items()})
        return f"s3://{self.bucket}/{folder}/"

    def data(self, path: Path) -> str:
        """S3 URI of local data staged by content: a file's, or for a folder, the prefix of its CSV
        files (those directly in it, as a step's input folder holds them)."""
        if not path.is_dir():
            self.read.add(path)
            return self._put(path.name, _read(path), under="data")
        files = sorted(path.glob("*.csv"))
        if not files:
            raise MlopsError(f"{path}: no CSV file directly in the folder")
        self.read.update(files)
        return self._put_folder({file.name: _read(file) for file in files}, under="data")

    def script(self, name: str) -> str:
        """S3 URI of one script, e.g. script("preprocess.py")."""
        self.read.add(self.steps_dir / name)
        return self._put(name, (self.steps_dir / name).read_bytes())

    def sourcedir(self) -> str:
        """S3 URI of all step scripts as the sourcedir.tar.gz that script mode expects."""
        self.read.update(self.steps_dir.glob("*.py"))
        return self._put("sourcedir.tar.gz", _sourcedir_tarball(self.steps_dir))

    def folder(self, paths: list[Path]) -> str:
        """S3 URI of a folder holding these files (a directory with what is under it), named by a hash
        of them all: what a notebook job's input channel downloads."""
        members = {}
        for path in paths:
            if path.is_dir():
                found = sorted(file for file in path.rglob("*") if file.is_file())
                members.update({f"{path.name}/{file.relative_to(path).as_posix()}": file for file in found})
            else:
                members[path.name] = path
        self.read.update(members.values())
        return self._put_folder({name: file.read_bytes() for name, file in members.items()})

    def files_under(self, folder_uri: str) -> dict[str, bytes]:
        """The staged files under a folder() URI, by their names in it."""
        prefix = folder_uri.removeprefix(f"s3://{self.bucket}/")
        return {
            key.removeprefix(prefix): body for key, body in self.objects.items() if key.startswith(prefix)
        }

    def upload(self, s3_client) -> int:
        """Upload every object the definition references, write-once; return how many.

        Each key names its content, and infra/bootstrap.yml's bucket policy refuses a write under
        <slug>/code/ without If-None-Match (what an endpoint loads as its serving code stays what was
        approved). An object already there must hold the bytes its key names: anything else was put
        there by someone else, and is refused rather than run."""
        for key, body in self.objects.items():
            try:
                s3_client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
            except ClientError as error:
                if error.response["Error"]["Code"] != "PreconditionFailed":
                    raise
                if s3_client.get_object(Bucket=self.bucket, Key=key)["Body"].read() != body:
                    raise MlopsError(
                        f"s3://{self.bucket}/{key} holds other bytes than its name says: someone else"
                        " wrote it, and it is not used (the bucket policy lets no role delete it: an"
                        " administrator must)"
                    ) from None
        return len(self.objects)
