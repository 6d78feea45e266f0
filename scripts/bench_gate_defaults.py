"""The gate's default thresholds against the bundled sample, recorded in docs/performance.md.

    python scripts/bench_gate_defaults.py

For each problem type, framework and split strategy copier offers, renders a project from this
checkout (the key split renders the sample's made-up key column), and scores on its test rows,
with the project's own step scripts (the pytest plugin's `evaluate` and `processing_dir`): the
model the project trains, and the naive answer (the training rows' mean, or their majority class).
Prints one Markdown row per combination. copier.yml's `gate_threshold` defaults must sit between
the two for every row: the sample's model passes, the naive answer does not.
"""

import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from copier import run_copy

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_PYTHON = ROOT / ".cache" / "package-venv" / "bin" / "python"  # `make test` builds it
SPLITS = {
    "regression": ("random", "ordered", "key"),
    "binary_classification": ("stratified", "random", "ordered", "key"),
    "multiclass_classification": ("stratified", "random", "ordered", "key"),
}
PROBE = """
import json, os
import numpy as np

def test_scores(evaluate, processing_dir, config):
    report = evaluate(config.gate.threshold)
    scores = {k: v["value"] for k, v in report[f"{config.problem_type}_metrics"].items()}
    load = lambda name: np.loadtxt(processing_dir / name / f"{name}.csv", delimiter=",", ndmin=2)[:, 0]
    train, test = load("train"), load("test")
    if config.problem_type == "regression":
        error = test - train.mean()
        r2 = 1 - np.sum(error**2) / np.sum((test - test.mean()) ** 2)
        naive = {"rmse": np.sqrt(np.mean(error**2)), "mae": np.mean(np.abs(error)), "r2": r2}
    else:
        naive = {"accuracy": np.mean(test == np.bincount(train.astype(int)).argmax())}
    with open(os.environ["SCORES"], "w") as out:
        json.dump({"model": scores, "naive": {k: float(v) for k, v in naive.items()}}, out)
"""


def scores(problem: str, framework: str, split: str, scratch: Path) -> dict:
    project = scratch / f"{problem}-{framework}-{split}"
    answers = {"problem_type": problem, "framework": framework, "split_strategy": split}
    run_copy(str(ROOT), project, data=answers, defaults=True, vcs_ref="HEAD", quiet=True, skip_tasks=True)
    (scratch / "test_scores.py").write_text(PROBE)
    found = scratch / "scores.json"
    probe = [str(scratch / "test_scores.py"), "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [str(PACKAGE_PYTHON), "-m", "pytest", *probe],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "SCORES": str(found)},
    )
    if done.returncode != 0:
        sys.exit(f"{project.name}: {done.stdout[-2000:]}")
    return json.loads(found.read_text())


def main() -> None:
    if not PACKAGE_PYTHON.exists():
        sys.exit(f"{PACKAGE_PYTHON}: run `make test` once first (it builds the package's environment)")
    print("| problem | framework | split | the model | the naive answer |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for problem, framework in itertools.product(SPLITS, ("xgboost", "sklearn")):
            for split in SPLITS[problem]:
                found = scores(problem, framework, split, Path(scratch))
                model = ", ".join(f"{k} {v:.3g}" for k, v in found["model"].items())
                naive = ", ".join(f"{k} {v:.3g}" for k, v in found["naive"].items())
                print(f"| {problem} | {framework} | {split} | {model} | {naive} |", flush=True)


if __name__ == "__main__":
    main()
