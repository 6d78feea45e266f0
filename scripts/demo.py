"""`make demo`: generate a project with the default answers and run its whole loop locally.

    python scripts/demo.py DESTINATION

Renders the template into DESTINATION (replacing an earlier demo there), then runs the
new project's own verbs in the order a new user would: install, start the embedded AWS
emulator, run the pipeline from its real definition on the sample data, approve the
model version it registered, promote it (staging deployed and smoke-tested by the endpoint's
serving container, a prod pull request prepared as a branch), ask the staging endpoint for
predictions as a client would, merge that branch as a reviewer would, deploy prod from
deploy/prod.yml, check that the cloud matches git, and stop the emulator. No AWS account
and no network beyond the package registries; nothing is left running, even on failure.
"""

import csv
import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from copier import run_copy

ROOT = Path(__file__).resolve().parents[1]


def step(title: str, *command: str, cwd: Path, show: bool = False) -> str:
    print(f"\n==> {title}: {' '.join(command)}", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if show or result.returncode != 0:
        print(result.stdout.rstrip())
    if result.returncode != 0:
        print(result.stderr[-4000:], file=sys.stderr)
        sys.exit(f"demo: `{' '.join(command)}` failed (exit {result.returncode})")
    print(f"    ok in {time.monotonic() - started:.1f} s", flush=True)
    return result.stdout


def run_loop(project: Path) -> None:
    mlops = ("uv", "run", "--quiet", "mlops")
    step("install", "make", "setup", cwd=project)
    step("start the AWS emulator", *mlops, "local", "up", cwd=project, show=True)
    ran = step("run the pipeline locally", *mlops, "local", "run", cwd=project, show=True)
    version = re.search(r"registered model package: \S+/(\d+)", ran).group(1)
    reason = "demo: passed the quality gate on the sample data"
    step("approve it", *mlops, "models", "approve", version, "--reason", reason, cwd=project, show=True)
    step("the registry", *mlops, "models", "list", cwd=project, show=True)
    # Verbs that change what runs where are told which AWS: here, the emulator. What they record
    # goes to the emulator's own git record (a local-only branch), never onto the checkout's branch.
    emulated = ("--aws", "emulator")
    step("promote: staging, then a prod pull request", *mlops, "promote", *emulated, cwd=project, show=True)
    step("what serves the staging endpoint", *mlops, "local", "status", cwd=project, show=True)
    rows = project / ".mlops" / "rows.csv"  # .mlops/ is the project's untracked local state
    rows.write_text("\n".join(features_of_sample_rows(project, 3)) + "\n")
    asking = (*mlops, "invoke", "staging", "--file", ".mlops/rows.csv")
    step("ask the staging endpoint (3 rows of data/sample.csv)", *asking, cwd=project, show=True)
    # What a reviewer's merge of the promotion pull request does on GitHub, in the emulator's record.
    step("merge the pull request", *mlops, "local", "merge", cwd=project, show=True)
    step("deploy prod from deploy/prod.yml", *mlops, "deploy", "prod", *emulated, cwd=project, show=True)
    step("desired (git) against deployed", *mlops, "status", cwd=project, show=True)


def features_of_sample_rows(project: Path, count: int) -> list[str]:
    """The first rows of data/sample.csv without the target column: what a client sends."""
    target = yaml.safe_load((project / "build" / "config.yml").read_text())["target_column"]
    with open(project / "data" / "sample.csv", newline="") as sample:
        rows = list(itertools.islice(csv.DictReader(sample), count))
    return [",".join(value for name, value in row.items() if name != target) for row in rows]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/demo.py DESTINATION")
    project = Path(sys.argv[1]).resolve()
    if project.exists():
        shutil.rmtree(project)
    print(f"==> copier copy --trust --defaults {ROOT} {project}", flush=True)
    # The copy's last task commits the generated files, under this identity where git has none.
    for role in ("AUTHOR", "COMMITTER"):
        os.environ.setdefault(f"GIT_{role}_NAME", "mlops demo")
        os.environ.setdefault(f"GIT_{role}_EMAIL", "demo@example.invalid")
    started = time.monotonic()
    run_copy(str(ROOT), project, defaults=True, unsafe=True, vcs_ref="HEAD", quiet=True)
    print(f"    ok in {time.monotonic() - started:.1f} s", flush=True)
    try:
        run_loop(project)
    finally:
        subprocess.run(["uv", "run", "--quiet", "mlops", "local", "down"], cwd=project, check=False)
    print(
        f"\nDone. Your project is in {project}. Next:\n"
        f"  cd {project}\n"
        "  make local-up && make local-run     # run it again, after a change\n"
        "  make test                           # its own tests\n"
        "  make help                           # everything else"
    )


if __name__ == "__main__":
    main()
