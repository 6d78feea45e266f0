"""`make demo`: generate a project with the default answers and run its workflow.

    python scripts/demo.py DESTINATION

Renders the template into DESTINATION (replacing an earlier demo there), then runs the
new project's own entry points in the order a new user would: `make setup`, `make lint`,
`make test`, and `mlops pipeline definition`, whose steps it prints. No AWS account and
no network beyond PyPI; nothing is left running.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from copier import run_copy

ROOT = Path(__file__).resolve().parents[1]


def step(title: str, *command: str, cwd: Path) -> str:
    print(f"\n==> {title}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-4000:] + result.stderr[-4000:], file=sys.stderr)
        sys.exit(f"demo: `{' '.join(command)}` failed (exit {result.returncode})")
    print(f"    ok in {time.monotonic() - started:.1f} s")
    return result.stdout


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/demo.py DESTINATION")
    project = Path(sys.argv[1]).resolve()
    if project.exists():
        shutil.rmtree(project)
    print(f"==> copier copy --trust --defaults {ROOT} {project}", flush=True)
    run_copy(str(ROOT), project, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True)
    step("install", "make", "setup", cwd=project)
    step("lint", "make", "lint", cwd=project)
    step("test", "make", "test", cwd=project)
    definition = json.loads(step("pipeline", "uv", "run", "mlops", "pipeline", "definition", cwd=project))
    print("\nThe pipeline SageMaker would run (built offline from build/pipeline.py):")
    for node in definition["Steps"]:
        print(f"  {node['Name']:<12} {node['Type']}")
        for branch in ("IfSteps", "ElseSteps"):
            for inner in node["Arguments"].get(branch, []):
                label = "if the gate passes" if branch == "IfSteps" else "else"
                print(f"    {label:<18} {inner['Name']} ({inner['Type']})")
    print(f"\nDone. Your project is in {project}:\n  cd {project} && make help")


if __name__ == "__main__":
    main()
