"""A local run's pipeline definition, kept between runs and built again only when what it is built
from changes.

Building a definition imports the SageMaker SDK: about 3 s of an unchanged re-run that otherwise
takes 2 (docs/performance.md). A definition is a function of the project's files (build/, the data
samples it stages by content, pyproject.toml, uv.lock...), of the platform and SDK versions, of the
git commit it records, and of the AWS target it names (account, region, bucket, role). The kept
one is used while all of those are the same and the objects it references (step code, staged
data, each under its content's hash) are still in the bucket; anything else builds anew.
"""

import hashlib
import importlib.metadata
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from .. import aws
from ..definition.step_code import StepCode
from ..local.emulator import state_dir
from ..project import project
from ..repository import git_commit
from .pipelines import BuiltPipeline, build, step_code

# The whole platform (this module is one folder down in it): a change to any module builds anew.
PACKAGE_DIR = Path(__file__).parents[1]
# The distributions whose code builds a definition: the SDK's parts, and this platform.
BUILT_WITH = ("sagemaker-core", "sagemaker-mlops", "sagemaker-train", "sagemaker-serve", "sagemaker-gitops")
# Folders of a project that never hold what a definition is built from (when git cannot say).
NOT_INPUTS = {".git", ".venv", ".mlops", "__pycache__", "node_modules", "reports"}


@dataclass(frozen=True)
class RunDefinition:
    """What a local run needs of a built pipeline: the definition, and where new data is staged."""

    name: str
    definition: dict
    target: aws.AwsTarget
    code: StepCode  # what is still to upload: the step code when built anew, and data staged for the run
    reused: bool


def for_run(kind: str) -> RunDefinition:
    """The definition of the "build", "batch" or "notebooks" pipeline for a run in this account:
    the kept one when nothing it is built from has changed, else built anew (and kept)."""
    target = aws.resolve_target()
    key = _key(kind, target)
    return _load(kind, key, target) or _build_and_keep(kind, key)


def kept(kind: str) -> RunDefinition | None:
    """The definition for_run would reuse now: the kept one, if nothing it is built from changed."""
    target = aws.resolve_target()
    return _load(kind, _key(kind, target), target)


def _build_and_keep(kind: str, key: str) -> RunDefinition:
    built = build(kind=kind)
    definition = built.definition()
    # Kept before its code is uploaded: a run that fails to upload leaves objects missing, which
    # the next run finds, and builds again.
    _keep(kind, key, built, definition)
    return RunDefinition(built.name, definition, built.target, built.code, reused=False)


def _path(kind: str) -> Path:
    return state_dir() / "definitions" / f"{kind}.json"


def _load(kind: str, key: str, target: aws.AwsTarget) -> RunDefinition | None:
    try:
        kept = json.loads(_path(kind).read_text())
    except (OSError, ValueError):
        return None
    if kept.get("key") != key or kept.get("staged") != _digest(Path(path) for path in kept.get("read", [])):
        return None
    if not _all_in_bucket(target.bucket, kept.get("objects", [])):
        return None
    return RunDefinition(kept["name"], kept["definition"], target, step_code(target), reused=True)


def _all_in_bucket(bucket: str, keys: list[str]) -> bool:
    """Whether the staged objects the definition references are still there (an emulator reset,
    or another bucket, has none of them)."""
    s3 = aws.client("s3")
    try:
        for key in keys:
            s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        return False
    return True


def _keep(kind: str, key: str, built: BuiltPipeline, definition: dict) -> None:
    kept = {
        "key": key,
        "name": built.name,
        "definition": definition,
        "objects": sorted(built.code.objects),
        # Every local file the build staged, wherever it is (a notebook outside the project, say).
        "read": sorted(str(path) for path in built.code.read),
        "staged": _digest(built.code.read),
    }
    path = _path(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(kept))
    partial.replace(path)  # a run stopped mid-write leaves the last whole one, or none


def _key(kind: str, target: aws.AwsTarget) -> str:
    """A hash of what the definition is built from, as far as it is known before building: the
    project's files, its [tool.mlops] settings and what they name, the commit, the AWS target, the
    platform's and the SDK's versions (the files the build stages are checked apart: _load)."""
    current = project()
    named = [
        current.root / value for value in current.settings.model_dump().values() if isinstance(value, Path)
    ]
    parts = (
        kind,
        str(current.root),
        current.settings.model_dump_json(),
        git_commit(),
        json.dumps(asdict(target), sort_keys=True),
        *(f"{name} {_version(name)}" for name in BUILT_WITH),
        _digest([*_project_files(current.root), *named, PACKAGE_DIR]),
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _digest(paths) -> str:
    """A hash of these files' names and contents (a folder: every file under it)."""
    found = set()
    for path in paths:
        if path.is_dir():
            found.update(
                file for file in path.rglob("*") if file.is_file() and "__pycache__" not in file.parts
            )
        else:
            found.add(path)
    digest = hashlib.sha256()
    for path in sorted(found):
        content = hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"(missing)"
        digest.update(str(path).encode() + b"\0" + content)
    return digest.hexdigest()


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _project_files(root: Path) -> list[Path]:
    """The project's files as git sees them (tracked, and new ones it does not ignore); every file
    outside the folders that hold no inputs when the project is not a git repository."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        files = []
        for folder, folders, names in os.walk(root):
            folders[:] = [name for name in folders if name not in NOT_INPUTS]
            files += [Path(folder) / name for name in names]
        return files
    return [root / name for name in listed.decode().split("\0") if name and "__pycache__" not in name]
