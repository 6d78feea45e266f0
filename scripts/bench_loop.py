"""The inner loop's speed, recorded in docs/performance.md ("The inner loop").

    python scripts/bench_loop.py [--runs 5] [--platform PATH] [--presets default,batch,...]

On a project copied from this checkout with its post-copy task (its own .venv, bytecode caching on,
as on a developer's machine: PYTHONDONTWRITEBYTECODE is unset here), each the median of N, wall
clock of `uv run --quiet mlops ...` as a person types it:
1. start-up of verbs that build no definition, with no emulator running (help) and with it running
   (the reading verbs, which then call it);
2. `mlops local run` re-run with nothing changed (its definition reused, Preprocess run, the other
   steps cache hits), and the first run after a change to build/config.yml (built anew);
3. with --presets: each preset's generated `make test`, once, after a first `make test` that installs.
--platform PATH measures another checkout's platform package (its `sagemaker-gitops/src`, put first
on PYTHONPATH) in the same project: how "before" figures are taken. Run it on an idle machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP = [["--help"], ["models", "--help"], ["invoke", "--help"], ["report", "tuning", "--help"]]
READING = [["models", "list"], ["status"], ["local", "status"], ["pipeline", "status"]]
# The render matrix's answers (tests/conftest.py's PRESETS), by name.
PRESETS = {
    "default": {},
    "batch": {"enable_batch": True},
    "tuning": {"enable_tuning": True, "problem_type": "binary_classification"},
    "notebooks": {"enable_notebooks": True},
}


def environment(platform: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a developer's machine caches bytecode
    if platform is not None:
        env["PYTHONPATH"] = str(platform / "sagemaker-gitops" / "src")
    return env


def wall(command: list[str], cwd: Path, env: dict[str, str], check: bool = False) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=check, capture_output=True)
    return time.perf_counter() - started


def median(command: list[str], cwd: Path, env: dict[str, str], runs: int) -> float:
    wall(command, cwd, env)  # the first call compiles bytecode: not what a person meets twice
    return statistics.median(wall(command, cwd, env) for _ in range(runs))


def copy(answers: dict, destination: Path) -> Path:
    code = (
        "import sys, json, copier; copier.run_copy(sys.argv[1], sys.argv[2], data=json.loads(sys.argv[3]),"
        " defaults=True, unsafe=True, vcs_ref='HEAD', quiet=True)"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(ROOT), str(destination), json.dumps(answers)],
        check=True,
        capture_output=True,
        env=environment(None),
    )
    return destination


def loop_figures(project: Path, runs: int, platform: Path | None) -> list[tuple[str, float]]:
    env = environment(platform)
    mlops = ["uv", "run", "--quiet", "mlops"]
    figures = [
        (f"`mlops {' '.join(args)}`, no emulator running", median([*mlops, *args], project, env, runs))
        for args in HELP
    ]
    wall([*mlops, "local", "up"], project, env, check=True)
    try:
        figures += [
            (f"`mlops {' '.join(args)}`, emulator running", median([*mlops, *args], project, env, runs))
            for args in [*HELP[:1], *READING]
        ]
        run = [*mlops, "local", "run"]
        figures.append(
            ("`mlops local run`, nothing changed since the last run", median(run, project, env, runs))
        )
        config = project / "build" / "config.yml"
        original, changed = config.read_text(), []
        for index in range(runs):
            config.write_text(original + f"# change {index}\n")
            changed.append(wall(run, project, env, check=True))
        config.write_text(original)
        figures.append(("`mlops local run` after a change to build/config.yml", statistics.median(changed)))
    finally:
        wall([*mlops, "local", "down"], project, env)
    return figures


def make_test(project: Path) -> float:
    env = environment(None)
    wall(["make", "test"], project, env, check=True)  # installs .venv and caches bytecode
    return wall(["make", "test"], project, env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--platform", type=Path, help="another checkout whose platform package to measure")
    parser.add_argument("--presets", default="", help="comma-separated: " + ", ".join(PRESETS))
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        project = copy({}, Path(scratch) / "default")
        print("| measure | seconds |\n|---|---|")
        for label, seconds in loop_figures(project, options.runs, options.platform):
            print(f"| {label} | {seconds:.2f} |", flush=True)
        for name in filter(None, options.presets.split(",")):
            preset = project if name == "default" else copy(PRESETS[name], Path(scratch) / name)
            print(f"| `make test` of the {name} preset's project | {make_test(preset):.1f} |", flush=True)


if __name__ == "__main__":
    main()
