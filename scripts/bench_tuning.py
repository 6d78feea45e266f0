"""Local tuning benchmark recorded in docs/performance.md.

    python scripts/bench_tuning.py [--trials 30] [--seeds 3]

Renders a multiclass XGBoost project with tuning (the bundled multiclass sample, objective
validation:mlogloss, minimised), then runs `mlops local run` against its emulator once per
strategy (Random, Bayesian) and seed, with the same budget. Prints, as Markdown: the best
objective after 5, 10, 20 ... trials (mean over seeds) per strategy, and the wall time of the
Tune step and of the whole run. The best-so-far numbers come from the project's own
`mlops report` code, so they are what the report draws.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = {
    "problem_type": "multiclass_classification",
    "framework": "xgboost",
    "enable_tuning": "true",
    "tuning_strategy": "Random",
    "tuning_max_parallel_jobs": "2",
}
BEST_SO_FAR = (
    "import json, sys; from bench_tuning_project.report import load;"
    " print(json.dumps(load(sys.argv[1]).best_so_far()))"
)


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr}")
    return done.stdout


def render(target: Path, trials: int) -> None:
    data = [f"--data={key}={value}" for key, value in {**ANSWERS, "tuning_max_jobs": trials}.items()]
    data += ["--data=project_name=Bench Tuning Project"]
    run([sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD",
         *data, str(ROOT), str(target)], ROOT)  # fmt: skip
    run(["uv", "sync", "--quiet"], target)


def set_tuning(project: Path, strategy: str, seed: int) -> None:
    config = project / "build" / "config.yml"
    head, _, tuning = config.read_text().partition("\ntuning:\n")  # split: has a strategy and seed too
    tuning = re.sub(r"(?m)^  strategy: \w+", f"  strategy: {strategy}", tuning)
    config.write_text(head + "\ntuning:\n" + re.sub(r"(?m)^  seed: \d+", f"  seed: {seed}", tuning))


def local_run(project: Path) -> tuple[str, float, float]:
    """(execution id, Tune step seconds, whole run seconds)."""
    started = time.perf_counter()
    output = run(["uv", "run", "mlops", "local", "run"], project)
    wall = time.perf_counter() - started
    execution = re.search(r"local execution (\w+)", output).group(1)
    tune = float(re.search(r"Tune\s+Tuning\s+Succeeded\s+([0-9.]+)", output).group(1))
    return execution, tune, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "bench-tuning-project"
        render(project, args.trials)
        run(["uv", "run", "mlops", "local", "up"], project)
        try:
            results = {}
            for strategy in ("Random", "Bayesian"):
                for seed in range(1, args.seeds + 1):
                    set_tuning(project, strategy, seed)
                    execution, tune, wall = local_run(project)
                    line = json.loads(run(["uv", "run", "python", "-c", BEST_SO_FAR, execution], project))
                    results.setdefault(strategy, []).append((line, tune, wall))
        finally:
            run(["uv", "run", "mlops", "local", "down"], project)
    marks = [n for n in (1, 5, 10, 20, 30, 50, 100) if n <= args.trials]
    print(f"| strategy | {' | '.join(f'best after {n}' for n in marks)} | Tune step (s) | whole run (s) |")
    print("|---" * (len(marks) + 3) + "|")
    for strategy, runs in results.items():
        best = [statistics.mean(line[min(n, len(line)) - 1] for line, _, _ in runs) for n in marks]
        tune = statistics.median(t for _, t, _ in runs)
        wall = statistics.median(w for _, _, w in runs)
        print(f"| {strategy} | {' | '.join(f'{b:.4f}' for b in best)} | {tune:.1f} | {wall:.1f} |")
    print(f"\n{args.trials} trials per run, mean of {args.seeds} seeds; validation:mlogloss (lower: better).")


if __name__ == "__main__":
    main()
