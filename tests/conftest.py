"""Render the template in-process and share one virtualenv across rendered projects.

`make test` runs this suite on two pytest-xdist workers (`-n 2 --dist loadgroup`): each preset's
tests are one group, so a preset is rendered once, on one worker, into that worker's virtualenv.
"""

import itertools
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COPIER_YML = yaml.safe_load((ROOT / "copier.yml").read_text())
# What a user is asked (computed values, `when: false`, are worked out, never asked).
QUESTIONS = {
    name: spec
    for name, spec in COPIER_YML.items()
    if not name.startswith("_") and spec.get("when") is not False
}
# One environment for every rendered project (per xdist worker): `uv run` re-syncs it to each
# project's lock, which from uv's cache takes seconds instead of a fresh 1 GB install per render.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
SHARED_VENV = ROOT / ".cache" / ("generated-venv" + (f"-{WORKER}" if WORKER else ""))
# Set before copier is imported: its process layer (plumbum) snapshots os.environ at
# import, and the post-copy task must see these. The template's own venv must not leak.
os.environ["UV_PROJECT_ENVIRONMENT"] = str(SHARED_VENV)
os.environ.pop("VIRTUAL_ENV", None)

from copier import run_copy  # noqa: E402
from own_data import use_own_data  # noqa: E402
from plumbum import local  # noqa: E402
from releases import copy_release, edit_like_a_user, releases, tagged_clone, update  # noqa: E402


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


def pytest_configure(config):
    """`uv lock` asks the index about every package again each time (~17 s, waiting), and a run
    locks a dozen projects. Once a project of each framework has been locked and installed online,
    uv's cache holds all any render resolves and installs (a lock alone fetches no wheel: a
    release published since the cache was filled would be missing): the rest of the run locks and
    installs offline, to the same versions. Done once, before xdist starts its workers, which
    inherit UV_OFFLINE. (test_post_copy.py and the git-URL lock in test_platform_source.py set
    their own.)

    Every lock resolves as of the run's start (UV_EXCLUDE_NEWER): a release published mid-run
    reaches the cached index through those online locks, but not its wheel, and an offline lock
    that picked it would fail to install."""
    if WORKER or config.option.collectonly:
        return
    start = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.environ["UV_EXCLUDE_NEWER"] = local.env["UV_EXCLUDE_NEWER"] = start
    with tempfile.TemporaryDirectory(prefix="uv-cache-") as scratch:
        locks = [  # side by side: each is mostly waiting on the index
            subprocess.Popen(
                ["sh", "-c", "uv lock --quiet && uv sync --quiet --no-install-project"],
                cwd=render(Path(scratch) / framework, {"framework": framework}, skip_tasks=True),
                env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(Path(scratch) / framework / ".venv")},
                stderr=subprocess.PIPE,
                text=True,
            )
            for framework in choices("framework")
        ]
        for lock in locks:
            _, errors = lock.communicate()
            if lock.returncode != 0:
                raise pytest.UsageError(f"uv lock and sync, online, to warm uv's cache: {errors}")
    # local.env: what copier's tasks see (its process layer copied os.environ)
    os.environ["UV_OFFLINE"] = local.env["UV_OFFLINE"] = "1"


# tryfirst: xdist reads the marks in its own hook, which runs before a conftest's otherwise.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """One xdist group per preset: its render, its battery and its update checks share a worker."""
    for item in items:
        params = getattr(item, "callspec", None) and item.callspec.params
        preset = params and (params.get("project") or params.get("updated"))
        if isinstance(preset, str) and preset in PRESETS:
            item.add_marker(pytest.mark.xdist_group(preset))


def pytest_xdist_node_collection_finished(node, ids):
    """Grouping is what makes a preset render once: if xdist stops applying it (as with pytest 9.2,
    pytest-dev/pytest-xdist#1386), say so rather than render every preset on both workers."""
    ungrouped = [nodeid for nodeid in ids if nodeid.endswith(tuple(f"[{preset}]" for preset in PRESETS))]
    if node.config.getvalue("dist") == "loadgroup" and ungrouped:
        pytest.exit(f"--dist loadgroup grouped nothing (pytest-xdist with this pytest): {ungrouped[0]}", 3)


# --- the render matrix, and projects updated from a release ----------------------------------------
# Every preset is made once per session. Three of them are not copied from the working tree but
# copied from a release, edited as a team would, and updated to the working tree: the whole
# render battery (lint, tests, ...) then runs on what `copier update` made, and test_update.py
# checks the edits survived. One starts from the previous release, one from the oldest.
PREVIOUS, *_, OLDEST = releases()
PRESETS = {
    f"{problem}-{framework}": {"problem_type": problem, "framework": framework}
    for problem, framework in itertools.product(choices("problem_type"), choices("framework"))
}
PRESETS["custom-names-key-split"] = {
    "project_name": "Churn Forecast",
    "project_slug": "churn-fc",
    "description": 'Predicts churn "soon" for the retention team',
    "aws_region": "eu-west-1",
    "github_repository": "acme-data/churn.forecast",
    "model_package_group_name": "churn-forecast-models",
    "problem_type": "multiclass_classification",
    "framework": "sklearn",
    "split_strategy": "key",
    "split_key": "customer_id",
    "gate_metric": "accuracy",
    "gate_threshold": 0.8,
    "processing_instance_type": "ml.c5.xlarge",
    "training_instance_type": "ml.m5.2xlarge",
    "staging_endpoint": "instance",
    "prod_instance_type": "ml.c5.large",
    "prod_deployment_strategy": "all_at_once",
    "enable_tuning": True,
    "tuning_strategy": "Grid",
    "tuning_max_parallel_jobs": 3,
}
# Two cells of the matrix also tune, with small budgets (each project's tests run its tuning
# locally, trial by trial; the package's tests run every strategy on a budget of two).
PRESETS["binary_classification-sklearn"] |= {
    "enable_tuning": True,
    "tuning_strategy": "Bayesian",
    "tuning_max_jobs": 3,
}
PRESETS["multiclass_classification-xgboost"] |= {
    "enable_tuning": True,
    "tuning_strategy": "Hyperband",
    "tuning_max_jobs": 6,
}
# One cell scores in batch and monitors too: its tests run the batch pipeline and a stage's
# schedule on the emulator, both stages monitored (staging on an instance: serverless captures
# nothing), their monitoring stacks deployed with the endpoints.
PRESETS["binary_classification-xgboost"] |= {
    "enable_batch": True,
    "enable_monitoring": True,
    "staging_endpoint": "instance",
}
# One runs notebooks too: its tests build the notebook pipeline and run every notebook locally.
PRESETS["custom-names-key-split"] |= {"enable_notebooks": True}
# Every other choice of a question, each in a cell that runs its `make test` (test_render.py's
# docstring lists the coverage): the template's defaults with a key split (issue 36's red project),
# a random and an ordered split of classes, the other gate metrics and deployment strategy.
PRESETS["regression-xgboost"] |= {"split_strategy": "key"}
PRESETS["regression-sklearn"] |= {"gate_metric": "mae"}
PRESETS["binary_classification-xgboost"] |= {
    "split_strategy": "random",
    "gate_metric": "f1",
    "prod_deployment_strategy": "linear",
}
PRESETS["multiclass_classification-xgboost"] |= {"split_strategy": "ordered"}
# Caching off where a second run costs least (its gate test runs every step again): no tuning.
PRESETS["multiclass_classification-sklearn"] |= {"enable_step_caching": False}
# xdist hands the presets' groups to its workers in this order: the longest first, so that no
# worker starts one when the other is nearly done (the suite's tail; docs/performance.md).
LONGEST_FIRST = (
    "custom-names-key-split",
    "binary_classification-sklearn",
    "multiclass_classification-sklearn",
)
PRESETS = {name: PRESETS[name] for name in (*LONGEST_FIRST, *(p for p in PRESETS if p not in LONGEST_FIRST))}
UPDATED_FROM = {
    "regression-sklearn": PREVIOUS,
    "binary_classification-sklearn": PREVIOUS,  # tunes, as it could in the previous release
    "multiclass_classification-sklearn": OLDEST,
}


@pytest.fixture(scope="session")
def template_with_releases(tmp_path_factory) -> Path:
    return tagged_clone(tmp_path_factory.mktemp("releases") / "template")


@pytest.fixture(scope="session")
def made(request, tmp_path_factory):
    """made(preset, answers, from_release) -> (project, the user's edits or None), once per session."""
    projects = {}

    def make(preset: str, answers: dict, from_release: str | None):
        if preset not in projects:
            destination = tmp_path_factory.mktemp(preset) / "project"
            if from_release is None:
                projects[preset] = (render(destination, answers), None)
            else:
                template = request.getfixturevalue("template_with_releases")
                project = copy_release(template, from_release, destination, answers, skip_tasks=False)
                edits = edit_like_a_user(project)
                update(project)
                projects[preset] = (project, edits)
            use_own_data(projects[preset][0], preset)
        return projects[preset]

    return make
