"""Write the package list of each SageMaker image the template runs steps in.

The generated projects' `mlops pipeline validate` checks every job step's script against
what its image really ships (sagemaker_gitops/image_packages.json). AWS publishes each image's
environment as a uv lock file in aws/deep-learning-containers; this reads those files from a
local clone at a commit and records the name and version of every locked package, with the
file and commit it came from, so a reviewer can check any line against the source.

    git clone --bare https://github.com/aws/deep-learning-containers dlc.git
    uv run python scripts/image_packages.py dlc.git [--commit <sha>]
"""

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dir", type=Path, help=f"a clone (bare or not) of {REPOSITORY}")
    parser.add_argument("--commit", default="HEAD")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "--git-dir", str(args.git_dir), "rev-parse", args.commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
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
    document = {
        "about": "What each SageMaker image ships, by distribution name; written by the template's "
        "scripts/image_packages.py from the images' published lock files. Read by `mlops pipeline "
        "validate`: each step's script may import only what its image has.",
        "images": images,
    }
    OUTPUT.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    counts = ", ".join(f"{image} ({len(found['packages'])} packages)" for image, found in images.items())
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {counts}")


if __name__ == "__main__":
    main()
