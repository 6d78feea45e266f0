"""Write the package list of each SageMaker image the template runs steps in.

The generated projects' `mlops pipeline validate` checks every job step's script against
what its image really ships (sagemaker_gitops/image_packages.json). AWS publishes the framework
images' environments as uv lock files in aws/deep-learning-containers, and the SageMaker
Distribution image's (what notebook jobs run in) as a conda explicit list in
aws/sagemaker-distribution; this reads those files from local clones at a commit and records the
name and version of every package, with the file and commit it came from, so a reviewer can check
any line against the source.

    git clone --bare https://github.com/aws/deep-learning-containers dlc.git
    git clone --bare https://github.com/aws/sagemaker-distribution distribution.git
    uv run python scripts/image_packages.py dlc.git distribution.git \
        [--commit <sha>] [--distribution-commit <sha>]
"""

import argparse
import json
import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "sagemaker-gitops" / "src" / "sagemaker_gitops" / "image_packages.json"
REPOSITORY = "aws/deep-learning-containers"

# image (ECR repository:tag, as image_uris.retrieve names it) -> where its environment is
# published, and what its Dockerfile installs beside the lock (pip installs of wheels that
# are not on PyPI, seen in the same commit's Dockerfile).
IMAGES = {
    "sagemaker-scikit-learn:1.9-0-cpu-py3": {
        "lock": "docker/sklearn/1.9-0/uv.lock",
        "dockerfile": "docker/sklearn/1.9-0/Dockerfile",
        "also_installed": {"sagemaker-sklearn-container": "2.0"},
    },
    "sagemaker-xgboost:3.2-0": {
        "lock": "docker/xgboost/uv.lock",
        "dockerfile": "docker/xgboost/Dockerfile",
        "also_installed": {"sagemaker-xgboost-container": "2.0", "smdebug": "1.0.32"},
    },
}


DISTRIBUTION = "aws/sagemaker-distribution"
# The SageMaker Distribution releases notebook jobs run in: image -> its conda explicit list.
DISTRIBUTION_IMAGES = {
    "sagemaker-distribution-prod:3.2-cpu": "build_artifacts/v3/v3.2/v3.2.0/cpu.env.out",
}
# conda-forge names of Python packages that PyPI names otherwise (the distribution names
# `mlops pipeline validate` compares imports against are PyPI's).
CONDA_TO_PYPI = {
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "matplotlib-base": "matplotlib",
    "pytorch": "torch",
    "tensorflow-base": "tensorflow",
    "pytorch-cpu": "torch",
    "sagemaker-python-sdk": "sagemaker",
    "msgpack-python": "msgpack",
    "pytables": "tables",
    "nbconvert-core": "nbconvert",
}
# A conda file name: <name>-<version>-<build>.conda (or .tar.bz2).
CONDA_FILE = re.compile(r"/([^/]+)-([^-/]+)-([^-/]+)\.(?:conda|tar\.bz2)(?:#\w+)?$")


def show(git_dir: Path, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def locked_packages(lock_text: str) -> dict[str, str]:
    """name -> version of every package the lock installs (the lock's own project left out)."""
    lock = tomllib.loads(lock_text)
    return {
        package["name"]: package["version"]
        for package in lock["package"]
        if "registry" in package.get("source", {})
    }


def conda_packages(explicit: str) -> tuple[str, dict[str, str]]:
    """(Python version "3.12", PyPI name -> version) of a conda explicit list: the Python packages
    only (their build strings name Python: py312..., pyhd8ed1ab_0, cpu_pyh...), not C libraries."""
    python, packages = "", {}
    for line in explicit.splitlines():
        found = CONDA_FILE.search(line.strip())
        if not found:
            continue
        name, version, build = found.groups()
        if name == "python":
            python = ".".join(version.split(".")[:2])
        elif "py" in build:
            packages[CONDA_TO_PYPI.get(name, name)] = version
    return python, packages


def commit_of(git_dir: Path, ref: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), "rev-parse", ref], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dir", type=Path, help=f"a clone (bare or not) of {REPOSITORY}")
    parser.add_argument("distribution_git_dir", type=Path, help=f"a clone (bare or not) of {DISTRIBUTION}")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--distribution-commit", default="HEAD")
    args = parser.parse_args()
    commit = commit_of(args.git_dir, args.commit)
    images = {}
    for image, where in IMAGES.items():
        lock = show(args.git_dir, commit, where["lock"])
        images[image] = {
            "source": f"https://github.com/{REPOSITORY}/blob/{commit}/{where['lock']}",
            "python": tomllib.loads(lock)["requires-python"].strip("=.*"),
            "packages": locked_packages(lock),
            "also_installed": where["also_installed"],
            "also_installed_source": f"https://github.com/{REPOSITORY}/blob/{commit}/{where['dockerfile']}",
        }
    distribution_commit = commit_of(args.distribution_git_dir, args.distribution_commit)
    for image, path in DISTRIBUTION_IMAGES.items():
        python, packages = conda_packages(show(args.distribution_git_dir, distribution_commit, path))
        images[image] = {
            "source": f"https://github.com/{DISTRIBUTION}/blob/{distribution_commit}/{path}",
            "python": python,
            "packages": packages,
            # A conda environment: installed packages carry conda-forge's builds; only the Python
            # packages are listed, under their PyPI names.
            "conda": True,
        }
    document = {
        "about": "What each SageMaker image ships, by distribution name; written by the template's "
        "scripts/image_packages.py from the images' published lock files (the SageMaker Distribution's: "
        "its conda list). Read by `mlops pipeline validate`: each step's script may import only what "
        "its image has.",
        "images": images,
    }
    OUTPUT.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    counts = ", ".join(f"{image} ({len(found['packages'])} packages)" for image, found in images.items())
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {counts}")


if __name__ == "__main__":
    main()
