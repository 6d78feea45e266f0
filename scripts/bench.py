"""Benchmarks recorded in docs/performance.md.

    python scripts/bench.py [--runs 5]

1. `copier copy --defaults` wall time, median of N: render only (--skip-tasks), and
   with the post-copy task (uv lock + first snapshot, warm uv cache).
2. Fresh render to green `make test`, warm uv cache: copy with the task, then `make test`
   in the new project (its own .venv, installed from the cache).
3. The generated test suite alone: a second `make test` in that project.
Run it on an otherwise idle machine; it prints a Markdown table.
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIER = [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD"]


def timed(command: list[str], cwd: Path | None = None) -> float:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


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


if __name__ == "__main__":
    main()
