"""Benchmarks recorded in docs/performance.md.

    python scripts/bench.py [--runs 5]

1. `copier copy --defaults` wall time, median of N: render only (--skip-tasks), and
   with the post-copy task (uv lock + first snapshot, warm uv cache).
2. Fresh render to green `make test`, warm uv cache: copy with the task, then `make test`
   in the new project (its own .venv, installed from the cache).
3. The generated test suite alone: a second `make test` in that project.
4. `mlops local run` on that project against its emulator, median of N: as shipped (jobs
   forked from a warm interpreter) and with MLOPS_LOCAL_FRESH_PROCESSES=1; split into
   importing the SageMaker SDK, the steps themselves (the sum of the run's per-step
   times), and the rest (interpreter start, definition build, upload, registry calls).
5. `make demo`, once.
6. On the demo's project: `mlops deploy staging --aws emulator` after an emulator restart (the
   stack unchanged; the endpoint's serving container started cold for the smoke test), median
   of N; and the size of the emulator's saved state.
Run it on an otherwise idle machine; it prints a Markdown table.
"""

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIER = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD"]


SDK_IMPORT = (
    "import time; t = time.perf_counter(); import sagemaker.mlops.workflow.pipeline,"
    " sagemaker.train.model_trainer, sagemaker.serve.model_builder, sagemaker.core.processing;"
    " print(time.perf_counter() - t)"
)


def run(command: list[str], cwd: Path | None = None, **env: str) -> tuple[float, str]:
    """Wall seconds and stdout of a command that must succeed."""
    clean = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env={**clean, **env}, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout


def timed(command: list[str], cwd: Path | None = None) -> float:
    return run(command, cwd)[0]


def local_runs(project: Path, runs: int, **env: str) -> tuple[float, float]:
    """Median wall time of `mlops local run`, and the median sum of its steps' own times."""
    walls, steps = [], []
    for _ in range(runs):
        wall, out = run(["uv", "run", "--quiet", "mlops", "local", "run"], project, **env)
        walls.append(wall)
        # Summary rows: "  Train   Training   Succeeded   0.2   ..."
        steps.append(sum(float(m) for m in re.findall(r"Succeeded\s+([0-9.]+)", out)))
    return statistics.median(walls), statistics.median(steps)


def staging_deploys(project: Path, runs: int) -> tuple[float, int]:
    """Median wall time of a staging deploy whose container starts cold; the state file's KiB."""
    mlops = ["uv", "run", "--quiet", "mlops"]
    times = []
    for _ in range(runs):
        timed([*mlops, "local", "up"], cwd=project)  # a new server: no container running yet
        try:
            times.append(timed([*mlops, "deploy", "staging", "--aws", "emulator"], cwd=project))
        finally:
            timed([*mlops, "local", "down"], cwd=project)
    state = project / ".mlops" / "emulator" / "state.pickle"
    return statistics.median(times), state.stat().st_size // 1024


def median_copy(runs: int, *extra: str) -> float:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as scratch:
            times.append(timed([*COPIER, *extra, str(ROOT), f"{scratch}/p"]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    render_only = median_copy(runs, "--skip-tasks")
    with_task = median_copy(runs)
    scratch = Path(tempfile.mkdtemp())
    try:
        project = scratch / "p"
        copy_time = timed([*COPIER, str(ROOT), str(project)])
        first_test = timed(["make", "test"], cwd=project)
        suite = timed(["make", "test"], cwd=project)
        sdk_import = float(
            run(
                ["uv", "run", "--quiet", "python", "-c", SDK_IMPORT], project, AWS_DEFAULT_REGION="us-east-1"
            )[1]
        )
        timed(["uv", "run", "--quiet", "mlops", "local", "up"], cwd=project)
        try:
            warm, warm_steps = local_runs(project, runs)
            fresh, fresh_steps = local_runs(project, runs, MLOPS_LOCAL_FRESH_PROCESSES="1")
        finally:
            timed(["uv", "run", "--quiet", "mlops", "local", "down"], cwd=project)
        demo = timed(["make", "demo", f"DEMO_DIR={scratch / 'demo'}"], cwd=ROOT)
        deploy, state_kib = staging_deploys(scratch / "demo", runs)
    finally:
        shutil.rmtree(scratch)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| measure | seconds |\n|---|---|")
    print(f"| `copier copy --defaults --skip-tasks` (render only), median of {runs} | {render_only:.1f} |")
    print(f"| `copier copy --defaults` with the post-copy task, median of {runs} | {with_task:.1f} |")
    print(
        f"| fresh render to green `make test` (copy {copy_time:.1f} + test {first_test:.1f}) | "
        f"{copy_time + first_test:.1f} |"
    )
    print(f"| the generated test suite (`make test` again) | {suite:.1f} |")
    for label, wall, steps in (("as shipped", warm, warm_steps), ("fresh processes", fresh, fresh_steps)):
        print(
            f"| `mlops local run`, {label}, median of {runs} (SDK import {sdk_import:.1f} + steps {steps:.1f}"
            f" + the rest {wall - sdk_import - steps:.1f}) | {wall:.1f} |"
        )
    print(f"| `make demo` | {demo:.1f} |")
    label = f"`mlops deploy staging --aws emulator`, cold serving container, median of {runs}"
    print(f"| {label} | {deploy:.1f} |")
    print(f"(the emulator's saved state after the demo: {state_kib} KiB)")


if __name__ == "__main__":
    main()
