"""How a job's process is started: a fresh interpreter, or a fork of a warm one.

Both give the job the same argv, environment, working directory, log file, exit code
and time limit; the warm one only skips re-importing the step libraries (see
step_host.py). It is used where fork is safe with those libraries: Linux.

A warm host outlives the run that started it, for the life of the process: a process that runs
the pipeline more than once (a project's `make test`, which runs it in-process) imports the step
libraries once per image, not once per run. A host is only ever reused for the same interpreter,
the same preloaded modules and its environment as built (a rebuilt or changed environment gets a
new host), and it holds nothing of a job's: each job is a fresh fork of it.
"""

import ast
import atexit
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..project import project


class Timeout(Exception):
    pass


class FreshProcesses:
    """One new interpreter per job, exactly like `python script.py args`."""

    def run(self, command: list[str], env: dict, cwd: Path, log: Path, timeout: float | None) -> int:
        with open(log, "w") as output:
            process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise Timeout from None

    def close(self) -> None:
        pass


class WarmHost:
    """Jobs forked from a host that has already imported what the step scripts import, in one
    interpreter (an image's environment). step_host.py is run as a file: it needs only the
    standard library, and that environment does not have this package."""

    def __init__(self, python: Path, modules: list[str]):
        self.process = subprocess.Popen(
            [str(python), str(Path(__file__).with_name("step_host.py")), *modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, command: list[str], env: dict, cwd: Path, log: Path, timeout: float | None) -> int:
        # command is [python, script, args...]: the host is that python, already warm.
        request = {"argv": command[1:], "env": env, "cwd": str(cwd), "log": str(log)}
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            pid = self._reply()["pid"]
            if not select.select([self.process.stdout], [], [], timeout)[0]:
                os.kill(pid, signal.SIGKILL)
                self._reply()
                raise Timeout
            return self._reply()["exit"]
        except BaseException as stopped:
            if not isinstance(stopped, Timeout):  # mid-job (an interrupt, a broken pipe): never reused
                self.close()
            raise

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _reply(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the step host exited unexpectedly")
        return json.loads(line)

    def close(self) -> None:
        # Called between jobs, or on a job that will not finish: nothing is lost, and a host still
        # importing need not finish.
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()


# The warm hosts of this process, most recently used last; a few at most (each holds an image's
# libraries in memory), all stopped when it exits.
_HOSTS: dict[tuple, WarmHost] = {}
_MOST_HOSTS = 4


def warm_host(python: Path, modules: list[str]) -> WarmHost:
    """A warm host of this interpreter, with these modules, in its environment as it is now."""
    key = (str(python), tuple(modules), _as_built(python))
    host = _HOSTS.pop(key, None)
    if host is None or not host.alive:
        host = WarmHost(python, modules)
    _HOSTS[key] = host
    while len(_HOSTS) > _MOST_HOSTS:
        _HOSTS.pop(next(iter(_HOSTS))).close()
    return host


def _as_built(python: Path) -> tuple:
    """The environment's identity: its site-packages folders, which installing, removing or
    rebuilding changes."""
    found = map(os.stat, sorted(python.parent.parent.glob("lib/python*/site-packages")))
    return tuple((stat.st_ino, stat.st_mtime_ns) for stat in found)


@atexit.register
def _stop_hosts() -> None:
    while _HOSTS:
        _HOSTS.popitem()[1].close()


def step_imports(steps_dir: Path | None = None) -> list[str]:
    """The modules the step scripts import at top level (and `from x import y` submodules)."""
    names: list[str] = []
    for path in sorted((steps_dir or project().steps_dir).glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return list(dict.fromkeys(names))


class Launcher:
    """Starts each job with the interpreter its command names: a warm host per interpreter on
    Linux (fork is safe there), fresh processes elsewhere or when asked."""

    def __init__(self, warm: bool):
        self.fresh = None if warm else FreshProcesses()
        self.hosts: dict[str, WarmHost] = {}

    def prepare(self, python: Path) -> None:
        """Start the interpreter's host now (or find it warm), so it imports the step libraries
        while other work runs."""
        if self.fresh is None and str(python) not in self.hosts:
            self.hosts[str(python)] = warm_host(python, step_imports())

    def run(self, command: list[str], env: dict, cwd: Path, log: Path, timeout: float | None) -> int:
        if self.fresh is not None:
            return self.fresh.run(command, env, cwd, log, timeout)
        self.prepare(Path(command[0]))
        return self.hosts[command[0]].run(command, env, cwd, log, timeout)

    def close(self) -> None:
        self.hosts.clear()  # they stay warm for the next run in this process


@contextmanager
def started() -> Iterator[Launcher]:
    launcher = Launcher(warm=sys.platform == "linux" and not os.environ.get("MLOPS_LOCAL_FRESH_PROCESSES"))
    try:
        yield launcher
    finally:
        launcher.close()
