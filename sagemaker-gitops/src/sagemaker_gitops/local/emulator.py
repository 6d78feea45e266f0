"""`mlops local up|down|status`: an emulated AWS (a moto server) for this project.

State lives in .mlops/ (MLOPS_LOCAL_DIR overrides it), never in the user's shell:
  emulator.json             the running server: pid and URLs; every `mlops` call reads it
  emulator/state.pickle     what the server holds, signed, written after every burst of requests
                            and when it stops, loaded when it starts (moto_server.py)
  emulator/running          there while a server runs: left behind, the last one was killed
  emulator/server.log       the server's own log
  emulator/endpoints/       the endpoints' serving containers: model/, code/, container.log
  emulator/record/          the emulator's git record: a worktree of the local-only branch
                            mlops-emulator/record, where promote commits while targeting it
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import aws
from ..errors import MlopsError
from ..project import project
from ..repository import git
from .moto_server import RUNNING, SNAPSHOT

SERVER_MODULE = f"{__package__}.moto_server"
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10
# moto accepts any credentials; fixed ones keep a real profile from ever being used here.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
SAGEMAKER_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def state_dir() -> Path:
    return Path(os.environ.get("MLOPS_LOCAL_DIR") or project().root / ".mlops")


def _server_dir() -> Path:
    return state_dir() / "emulator"


def _state_file() -> Path:
    return state_dir() / "emulator.json"


def snapshot_file() -> Path:
    return _server_dir() / SNAPSHOT


def _legacy_recording() -> Path:
    """Where releases before 0.4 kept every request, replayed on each start."""
    return _server_dir() / "recording.jsonl"


def log_file() -> Path:
    return _server_dir() / "server.log"


@dataclass(frozen=True)
class Emulator:
    pid: int
    url: str  # AWS's APIs (moto)
    runtime_url: str  # the SageMaker Runtime, whose endpoints run their models (endpoints.py)


def running() -> Emulator | None:
    """The server `mlops local up` started for this project, if it is still running."""
    try:
        state = json.loads(_state_file().read_text())
        emulator = Emulator(int(state["pid"]), str(state["url"]), str(state["runtime_url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return emulator if _is_our_server(emulator.pid) else None


def _alive(pid: int) -> bool:
    if pid in _started:  # our own child: poll() also reaps it once it has exited
        return _started[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # An exited process that its parent has not reaped yet (a zombie) is not running.
    return not _ps(pid, "stat").startswith("Z")


def _ps(pid: int, field: str) -> str:
    """One field of `ps` for a process ("" when ps is missing or the process is gone)."""
    try:
        return subprocess.run(
            ["ps", "-ww", "-o", f"{field}=", "-p", str(pid)], capture_output=True, text=True, check=False
        ).stdout.strip()
    except FileNotFoundError:
        return ""


def _is_our_server(pid: int) -> bool:
    """The pid is alive *and* runs our server for this state folder (pids get reused)."""
    if not _alive(pid):
        return False
    command = _ps(pid, "command")
    return not command or (SERVER_MODULE in command and str(state_dir()) in command)


def up() -> tuple[Emulator, str]:
    """Start the server (or find it running); returns it and what happened."""
    existing = running()
    if existing:
        return existing, "already running"
    _server_dir().mkdir(parents=True, exist_ok=True)
    dropped = _drop_legacy_recording()
    restoring = snapshot_file().exists()
    unclean = _unclean_stop()
    emulator = _start_server()
    _state_file().write_text(json.dumps(asdict(emulator)) + "\n")
    if restoring:
        return emulator, f"restored its state ({snapshot_file().stat().st_size // 1024} KiB){unclean}"
    try:
        # Seeded, so that the names moto generates are the same from one empty start to the next.
        _post(emulator.url, "/moto-api/seed?a=42")
        with routed(emulator):
            provision()
    except BaseException:
        stop(emulator)
        raise
    return (
        emulator,
        f"started empty{dropped}, then created the project's bucket, role and model package group",
    )


def _unclean_stop() -> str:
    """What to say when the previous server did not stop cleanly (killed, out of memory): it saves
    after every burst of requests, so what it lost is what came after its last save."""
    if not (_server_dir() / RUNNING).exists():
        return ""
    if not snapshot_file().exists():
        return " (the previous emulator did not stop cleanly, and had saved nothing)"
    saved = time.strftime("%H:%M:%S", time.localtime(snapshot_file().stat().st_mtime))
    return (
        f"; the previous emulator did not stop cleanly (killed?): this is its state as saved at {saved},"
        " and requests it answered after that are lost"
    )


def _drop_legacy_recording() -> str:
    """A request log from before 0.4 is not replayed (the state is a snapshot now): the emulator
    starts empty, and what named its models (runs, the emulator's git record) goes with it."""
    if not _legacy_recording().exists():
        return ""
    _legacy_recording().unlink()
    forget_git_record()
    _forget_runs_against_the_emulator()
    return " (the request log of an earlier release is not replayed)"


# Servers started by this process: kept so that Popen does not warn, when collected, that
# its child still runs (it is meant to), and so that stop() can reap them.
_started: dict[int, subprocess.Popen] = {}


def _start_server() -> Emulator:
    port_file = _server_dir() / "port"
    port_file.unlink(missing_ok=True)
    with open(log_file(), "a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, str(_server_dir())],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command and ignores the terminal's Ctrl-C
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tail = log_file().read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise MlopsError(f"the emulator did not start (see {log_file()}): {tail[0]}")
        time.sleep(0.1)
    _started[process.pid] = process
    ports = json.loads(port_file.read_text())
    return Emulator(process.pid, f"http://127.0.0.1:{ports['aws']}", f"http://127.0.0.1:{ports['runtime']}")


def _post(url: str, path: str, payload: dict | None = None) -> None:
    """POST to one of moto's own endpoints (/moto-api/...), with a JSON body if given."""
    request = urllib.request.Request(
        url + path,
        method="POST",
        data=json.dumps(payload).encode() if payload is not None else b"",
        headers={"Content-Type": "application/json"} if payload is not None else {},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def serving_containers(emulator: Emulator) -> list[dict[str, str]]:
    """The endpoints whose containers run in the emulator (endpoint, image, pid, log)."""
    from .endpoints import CONTAINERS_PATH

    with urllib.request.urlopen(emulator.runtime_url + CONTAINERS_PATH, timeout=10) as response:
        return json.loads(response.read())


def provision() -> None:
    """Create what the project expects to exist in its account: bucket, execution role, model group."""
    target = aws.resolve_target()
    aws.create_bucket(target.bucket)
    aws.client("iam").create_role(
        RoleName=target.role_arn.rsplit("/", 1)[-1],
        AssumeRolePolicyDocument=json.dumps(SAGEMAKER_TRUST_POLICY),
        Description=f"{project().slug}: SageMaker execution role (local emulator)",
    )
    aws.client("sagemaker").create_model_package_group(
        ModelPackageGroupName=project().model_package_group,
        ModelPackageGroupDescription=f"{project().slug} models",
    )


# The emulator's desired state lives on local branches of these names, never pushed: the models
# they name exist only in the emulator.
def branch_prefix() -> str:
    """The emulator's branches: mlops-emulator/ for the project's own state (.mlops/); for another
    state folder (MLOPS_LOCAL_DIR, as a test session sets), a prefix of its own, since git checks a
    branch out in one worktree only and the two records must never share one."""
    if state_dir().resolve() == (project().root / ".mlops").resolve():
        return "mlops-emulator/"
    return f"mlops-emulator-{hashlib.sha256(str(state_dir().resolve()).encode()).hexdigest()[:8]}/"


def git_record() -> Path:
    """Where desired state is read and written while verbs target the emulator: a worktree of the
    local-only branch mlops-emulator/record, branched from HEAD on first use. `mlops promote`
    commits there and makes its prod branch there (mlops-emulator/promote/vN); `mlops deploy` and
    `mlops status` read there. The checkout in use, and every branch that is pushed, stay untouched."""
    folder = _server_dir() / "record"
    if (folder / ".git").exists() and _same_repository(folder):
        return folder
    shutil.rmtree(folder, ignore_errors=True)  # another repository's (a copied project folder)
    try:
        git("worktree", "prune")  # a record folder deleted by hand leaves its registration
        record = f"{branch_prefix()}record"
        exists = bool(git("branch", "--list", record))
        start = [record] if exists else ["-b", record, "HEAD"]
        git("worktree", "add", "--quiet", str(folder), *start)
    except (OSError, subprocess.CalledProcessError):
        raise MlopsError(
            "the emulator's git record is a branch of the project's repository: run this in the"
            " project's git checkout, with at least one commit"
        ) from None
    return folder


def _same_repository(worktree: Path) -> bool:
    """Whether a worktree belongs to the project's repository."""
    try:
        found = git("rev-parse", "--path-format=absolute", "--git-common-dir", repo=worktree)
        ours = git("rev-parse", "--path-format=absolute", "--git-common-dir")
    except (OSError, subprocess.CalledProcessError):
        return False
    return Path(found).resolve() == Path(ours).resolve()


def forget_git_record() -> None:
    """The record and its branches go with the state whose models they name."""
    try:
        if (_server_dir() / "record").exists():
            git("worktree", "remove", "--force", str(_server_dir() / "record"))
        branches = git("branch", "--list", "--format=%(refname:short)", f"{branch_prefix()}*").split()
        if branches:
            git("branch", "--quiet", "-D", *branches)
    except (OSError, subprocess.CalledProcessError):
        pass  # not a git checkout: there is no record


def down(reset: bool = False) -> Emulator | None:
    """Stop the server this project started (and no other); reset also forgets its state."""
    emulator = running()
    if emulator:
        if not reset:
            save(emulator)
        stop(emulator)
    _state_file().unlink(missing_ok=True)
    if reset:
        forget_git_record()
        shutil.rmtree(_server_dir(), ignore_errors=True)
        _forget_runs_against_the_emulator()
    return emulator


def _forget_runs_against_the_emulator() -> None:
    """The local runs recorded against the forgotten state: their outputs were in it, so a later
    run must not take their steps from the cache (runs against AWS stay)."""
    for record in (state_dir() / "runs").glob("*/execution.json"):
        try:
            # A record that does not say (made before runs recorded it) is forgotten: it could
            # otherwise hand a later run outputs that are gone.
            emulated = json.loads(record.read_text()).get("Emulator", True)
        except (OSError, ValueError, AttributeError):
            emulated = True  # unreadable: nothing can be reused from it anyway
        if emulated:
            shutil.rmtree(record.parent, ignore_errors=True)


def save(emulator: Emulator) -> None:
    """Have the server save its state now; MlopsError (and the server left running, its state in
    memory) when it cannot, such as on a full disk."""
    from .endpoints import SAVE_PATH

    request = urllib.request.Request(emulator.runtime_url + SAVE_PATH, method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
    except urllib.error.HTTPError as error:
        said = json.loads(error.read() or b"{}").get("error") or f"HTTP {error.code}"
        raise MlopsError(
            f"{said}: the emulator is still running, with its state in memory; free space and run"
            " `mlops local down` again (`--reset` stops it and forgets the state)"
        ) from None
    except OSError as error:
        raise MlopsError(f"the emulator did not answer when asked to save its state ({error})") from None


def stop(emulator: Emulator) -> None:
    os.kill(emulator.pid, signal.SIGTERM)
    if not _wait_until_gone(emulator.pid, STOP_TIMEOUT_SECONDS):
        os.kill(emulator.pid, signal.SIGKILL)
        if not _wait_until_gone(emulator.pid, STOP_TIMEOUT_SECONDS):
            raise MlopsError(f"the emulator (pid {emulator.pid}) did not stop, even after SIGKILL")


def _wait_until_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class routed:
    """Point boto3 (and so the SageMaker SDK) at the emulator, for this process only: AWS's APIs at
    moto, the SageMaker Runtime at the emulator's serving endpoints (boto3's per-service endpoint)."""

    def __init__(self, emulator: Emulator):
        self.settings = {
            "AWS_ENDPOINT_URL": emulator.url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": emulator.runtime_url,
            **EMULATOR_CREDENTIALS,
        }
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> "routed":
        for name in [*self.settings, "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
            self.saved[name] = os.environ.pop(name, None)
        os.environ.update(self.settings)
        return self

    def __exit__(self, *_) -> None:
        for name, value in self.saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


_routing: routed | None = None


def route() -> Emulator | None:
    """Send this process's AWS calls to the project's emulator, if it is running."""
    global _routing
    emulator = running()
    if emulator and _routing is None:
        _routing = routed(emulator).__enter__()
    return emulator


def unroute() -> None:
    """Undo route(): the calls go to the AWS the environment names (`--aws real`)."""
    global _routing
    if _routing is not None:
        _routing.__exit__()
        _routing = None


def command(verb: str) -> str:
    """`mlops VERB` as it must be typed now, for a refusal to name the next step: with `--aws
    emulator` while this process targets the emulator, `--aws real` while one runs but is not used."""
    if in_use():
        return f"mlops {verb} --aws emulator"
    return f"mlops {verb} --aws real" if running() else f"mlops {verb}"


def in_use() -> bool:
    """Whether this process's AWS calls go to the emulator `mlops local up` started for this project
    (route() or routed()): the server, known by its address, not any endpoint on a loopback host
    name (a tunnel to an account, or another emulator, is not this one, and has no git record)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/")
    found = running() if endpoint else None
    return found is not None and endpoint == found.url
