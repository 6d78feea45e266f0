"""Each SageMaker image's libraries as a local virtualenv: where a job's script runs locally.

The project's own virtualenv holds every library the project needs, so a step that imports one its
image lacks would pass locally and die in SageMaker. A job therefore runs in its image's
environment: every package of the image's published lock (image_packages.json, or a project's own
list) at the image's version, on the image's Python, built with uv once per machine under the user
cache folder and shared by every run and project. GPU-only packages (CUDA, NCCL, NVML bindings and
the RAPIDS dask plugins) are left out: a CPU job never imports them.

Before a job runs in an environment, it is checked against its manifest, the list it was built
from (its folder is named by that list's hash): one whose Python is gone (its base interpreter
removed) or whose packages no longer match (one uninstalled or changed by hand, a cache cleaned
halfway) is rebuilt.

Where the image's Python cannot be found (uv finds installed Pythons and downloads missing ones;
pyenv's are looked up too) or the environment cannot be built (offline with a cold uv cache),
jobs run in the project's virtualenv and the run says so once.
"""

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from packaging.utils import canonicalize_name, canonicalize_version
from platformdirs import user_cache_path
from uv import find_uv_bin

from ..images import image_name, image_packages

GPU_ONLY = re.compile(r"^(cuda-|nvidia-|pynvml$|dask-cuda$|rapids-)")
# What the images' Dockerfiles change in their installed packages (aws/deep-learning-containers
# docker/sklearn/1.9-0/Dockerfile and docker/xgboost/Dockerfile): sagemaker-containers 2.8.6 uses
# collections.Mapping, gone in Python 3.10, and the images rewrite it. file -> (old, new) pairs.
IMAGE_PATCHES = {"sagemaker_containers/_mapping.py": [("collections.Mapping", "collections.abc.Mapping")]}


class Unavailable(Exception):
    """The image's environment cannot be had here; the message says why, in one line."""


def cache_folder() -> Path:
    return user_cache_path("sagemaker-gitops") / "image-envs"


def pins(image: str) -> list[str]:
    """The image's packages as `name==version`, GPU-only ones left out."""
    packages = image_packages()[image]["packages"]
    return [f"{name}=={version}" for name, version in sorted(packages.items()) if not GPU_ONLY.match(name)]


def folder(image: str, recipe: list, kind: str = "") -> Path:
    """Where an environment of the image lives: named by the image (and its kind), keyed by what
    it is built from."""
    key = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:12]
    return cache_folder() / f"{re.sub(r'[^A-Za-z0-9.-]+', '-', image)}-{kind}{key}"


def interpreter(image_uri: str) -> Path:
    """The Python of the image's environment, built on first use; Unavailable if it cannot be."""
    image = image_name(image_uri)
    if image not in image_packages():
        raise Unavailable(f"no package list for image {image}")
    if "python" not in image_packages()[image]:
        raise Unavailable(f"the package list for image {image} gives no Python version")
    if image_packages()[image].get("conda"):
        # Hundreds of conda packages (PyTorch, TensorFlow, JupyterLab): not one environment to
        # install whole; its jobs' environments will hold what they import, at its versions.
        raise Unavailable(f"{image} is a conda environment, not built locally as a whole")
    listed = pins(image)
    environment = folder(image, [image_packages()[image]["python"], listed, IMAGE_PATCHES])
    if not whole(environment, listed):
        _build(image, environment, _install_the_whole_lock, listed)
    return environment / "bin" / "python"


def _install_the_whole_lock(image: str, python: str, environment: Path) -> None:
    # --no-deps: the list is the image's whole resolved lock, installed exactly as it is.
    _uv("pip", "install", "--quiet", "--no-deps", "--python", python, *pins(image))
    _patch(environment)


def whole(environment: Path, requested: list[str]) -> bool:
    """Whether an environment holds what it was built from: its Python runnable (the base
    interpreter it links to still installed), each `requested` package (name==version) installed
    at its version (its dist-info folder). Reads folder names only: milliseconds."""
    if not (environment / "bin" / "python").resolve().is_file():
        return False
    installed = dict(
        _name_and_version(found.name.removesuffix(".dist-info"))
        for found in environment.glob("lib/python*/site-packages/*.dist-info")
    )
    wanted = (pin.split("==", 1) for pin in requested)
    return all(installed.get(canonicalize_name(name)) == canonicalize_version(v) for name, v in wanted)


def _name_and_version(dist_info: str) -> tuple[str, str]:
    name, _, version = dist_info.rpartition("-")  # {name}-{version}: PEP 427 escapes "-" in both
    return canonicalize_name(name), canonicalize_version(version)


def _build(
    image: str, destination: Path, install: Callable[[str, str, Path], None], requested: list[str]
) -> None:
    """A virtualenv on the image's Python at `destination`, filled by install(image, its python,
    its folder) with `requested` (name==version); one there already that is not whole() is
    replaced."""
    version = image_packages()[image]["python"]
    base = base_python(version) or version  # a version uv may still download
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its final place, then renamed: a run that is stopped, or one building the same
    # environment at the same time, never leaves a half-built one where runs look.
    scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=destination.parent))
    try:
        try:
            # Relocatable: its scripts (gunicorn, ...) find it after the rename below.
            _uv("venv", "--quiet", "--relocatable", "--python", str(base), str(scratch))
        except Unavailable:
            raise Unavailable(
                f"Python {version}, which {image} runs, is not on this machine (uv python install {version})"
            ) from None
        install(image, str(scratch / "bin" / "python"), scratch)
        if destination.exists() and not whole(destination, requested):
            shutil.rmtree(destination, ignore_errors=True)  # broken since it was built: replaced
        with contextlib.suppress(OSError):  # another run built it first: theirs is the same
            scratch.rename(destination)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _patch(environment: Path) -> None:
    """Apply IMAGE_PATCHES to the packages installed in `environment`, as the images' builds do."""
    for site_packages in environment.glob("lib/python*/site-packages"):
        for name, replacements in IMAGE_PATCHES.items():
            path = site_packages / name
            if path.exists():
                text = path.read_text()
                for old, new in replacements:
                    text = text.replace(old, new)
                path.write_text(text)


def _uv(*args: str) -> None:
    done = subprocess.run([find_uv_bin(), *args], capture_output=True, text=True)
    if done.returncode != 0 and os.environ.get("UV_OFFLINE"):
        # UV_OFFLINE is set for a project's own lock and sync (CI, once its cache is warm); an
        # image's environment, built once per machine, may need packages that cache never held.
        online = {name: value for name, value in os.environ.items() if name != "UV_OFFLINE"}
        done = subprocess.run([find_uv_bin(), *args], capture_output=True, text=True, env=online)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Unavailable(f"uv {args[0]} failed: {last.strip()}")


def base_python(version: str) -> Path | None:
    """An interpreter of that version: uv's discovery (and its downloads), else pyenv's versions."""
    found = subprocess.run(
        [find_uv_bin(), "python", "find", "--no-project", version], capture_output=True, text=True
    )
    if found.returncode == 0:
        return Path(found.stdout.strip())
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"), key=_version_order)
    return candidates[-1] if candidates else None


def _version_order(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parts[-3]))


# What a notebook job's driver needs beside the notebooks' own imports (headless_execution.sh runs
# papermill; the kernel is ipykernel's python3).
NOTEBOOK_EXECUTOR = ("papermill", "ipykernel", "nbclient", "nbformat")


def notebook_interpreter(image_uri: str, imported: set[str]) -> Path:
    """The Python of an environment holding what a notebook job uses of its image: papermill and
    the kernel, and each library the notebooks import that the image ships, at the image's
    versions; every package these pull in is held to the image's version too (a constraint), so
    the environment is the image's, cut down to the job. Built once per machine; Unavailable if
    it cannot be."""
    image = image_name(image_uri)
    listed = image_packages().get(image)
    if listed is None or "python" not in listed:
        raise Unavailable(f"no package list with a Python version for image {image}")
    packages = listed["packages"]
    wanted = sorted({*NOTEBOOK_EXECUTOR, *imported} & set(packages))
    requested = [f"{name}=={packages[name]}" for name in wanted]
    environment = folder(image, [listed["python"], requested], kind="notebooks-")
    if not whole(environment, requested):
        _build(image, environment, functools.partial(_install_held_to_the_image, requested), requested)
    return environment / "bin" / "python"


def _install_held_to_the_image(requested: list[str], image: str, python: str, environment: Path) -> None:
    """`requested`, and every package they pull in at the image's version (its list, a constraint)."""
    constraints = environment / "image-constraints.txt"
    constraints.write_text("\n".join(pins(image)) + "\n")
    _uv("pip", "install", "--quiet", "--python", python, "--constraint", str(constraints), *requested)


class Interpreters:
    """Which Python runs each image's jobs in one run, saying once why an image falls back."""

    def __init__(self, note):
        self.note = note  # called with one line for the person running
        self.found: dict[str, Path] = {}

    def __call__(self, image_uri: str) -> Path:
        if image_uri not in self.found:
            try:
                self.found[image_uri] = interpreter(image_uri)
            except Unavailable as why:
                self.note(
                    f"{image_name(image_uri)}: {why}; its jobs run in this project's environment,"
                    " which may hold libraries the image lacks"
                )
                self.found[image_uri] = Path(sys.executable)
        return self.found[image_uri]
