"""Render the template in-process and share one virtualenv across rendered projects."""

import os
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COPIER_YML = yaml.safe_load((ROOT / "copier.yml").read_text())
QUESTIONS = {name: spec for name, spec in COPIER_YML.items() if not name.startswith("_")}
# One environment for every rendered project: `uv run` re-syncs it to each project's
# lock, which from uv's cache takes seconds instead of a fresh 1 GB install per render.
SHARED_VENV = ROOT / ".cache" / "generated-venv"
# Set before copier is imported: its process layer (plumbum) snapshots os.environ at
# import, and the post-copy task must see these. The template's own venv must not leak.
os.environ["UV_PROJECT_ENVIRONMENT"] = str(SHARED_VENV)
os.environ.pop("VIRTUAL_ENV", None)

from copier import run_copy  # noqa: E402


def choices(question: str) -> list[str]:
    """The values a choice question offers, read from copier.yml so new ones get tested."""
    options = QUESTIONS[question]["choices"]
    return list(options.values()) if isinstance(options, dict) else list(options)


def render(destination: Path, answers: dict, skip_tasks: bool = False) -> Path:
    run_copy(
        str(ROOT),
        destination,
        data=answers,
        defaults=True,
        unsafe=True,  # the post-copy task
        vcs_ref="HEAD",  # the working tree, uncommitted changes included
        quiet=True,
        skip_tasks=skip_tasks,
    )
    return destination


def run_in(project: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=project, capture_output=True, text=True)
