"""A warm interpreter that runs step scripts in forked children (Linux only).

    <an image's python> .../sagemaker_gitops/local/step_host.py MODULE...

Importing the step libraries (pandas, scikit-learn, XGBoost) costs seconds per process,
more than the steps themselves on the sample data. `mlops local run` starts this host
while it builds the definition: the host imports them once, then forks one child per
job. Each child is still a fresh process for the script: its own argv, environment,
working directory, stdout/stderr and exit code, and its module-level code runs anew.
Protocol, one JSON object per line: request {"argv", "env", "cwd", "log"} on stdin;
replies {"pid": n} when the child starts and {"exit": code} when it ends.
"""

import contextlib
import importlib
import json
import os
import runpy
import sys
import traceback
import warnings

# Python 3.12 warns on every fork of a process with more than one thread. The host's extra threads
# are the idle worker pools numpy's OpenBLAS, pandas and scikit-learn's OpenMP start on import; no
# parallel region has run before a fork, and OpenBLAS re-initialises its pool in the child
# (pthread_atfork). The warning would print in every `mlops local run`, saying nothing to act on.
warnings.filterwarnings("ignore", message=r"This process .* is multi-threaded", category=DeprecationWarning)


def preload(modules: list[str]) -> None:
    for name in modules:
        # A name that is not a module ("from x import function") or is local to the
        # scripts' folder fails here and is simply imported by the child instead.
        with contextlib.suppress(Exception):
            importlib.import_module(name)


def run_child(request: dict) -> None:
    """In the forked child: become `python script args...` and never return."""
    code = 0
    try:
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the host's requests are not the script's input
        os.dup2(log, 1)
        os.dup2(log, 2)
        script = request["argv"][0]
        sys.argv = list(request["argv"])
        sys.path.insert(0, os.path.dirname(script))  # as `python script.py` sets it
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, int) and exit_.code is not None:
            print(exit_.code, file=sys.stderr)
    except BaseException:  # report it as the interpreter would, then exit 1
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    del sys.path[0]  # this file's folder: the platform's modules, not the job's
    preload(sys.argv[1:])
    serve()
