"""The emulator's server process: moto on 127.0.0.1, on a free port the OS picks.

    python -m sagemaker_gitops.local.moto_server STATE_DIR

Beside moto it serves the SageMaker Runtime (endpoints.py), whose containers read the endpoints and
their models from this moto. Once both listen, it writes their ports to STATE_DIR/port as JSON
({"aws": ..., "runtime": ...}), then serves until SIGTERM, and stops the serving containers with it.
Binding port 0 leaves no window in which another program could take a port between choosing it and
listening on it.

State: moto keeps it in memory, in one BackendDict per service. The server loads STATE_DIR/state.pickle
(if any) before it listens, and writes the services in use back to it after every burst of
requests (SAVE_DELAY after the last one, with no request in flight) and when it stops: to a
temporary file, synced to disk, then renamed, so the file is never half-written and a killed
server loses at most the last burst. A save that fails (a full disk) keeps the previous file and is
reported: in the server's log, and to `mlops local down` (endpoints.SAVE_PATH), which then stops
nothing. The file is signed with a key of this user (user cache folder, readable by its owner only):
a file this machine did not write, such as one committed to a repository, is refused before it is
read, since unpickling runs code. While the server runs, STATE_DIR/running says so; a start that
finds it left behind knows the previous server was killed. A file that cannot be loaded stops the
start with one line naming the fix.
"""

import hashlib
import hmac
import json
import os
import pickle
import secrets
import signal
import sys
import threading
import time
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from platformdirs import user_cache_path

SNAPSHOT = "state.pickle"
RUNNING = "running"  # present while a server runs: left behind, the server did not stop cleanly
SAVE_DELAY = 0.5  # seconds of quiet after a change before the state is written
SIGNATURE = 32  # bytes of HMAC-SHA256 before the pickle


@cache
def key() -> bytes:
    """This user's key for the emulator's state files, made on first use."""
    path = user_cache_path("sagemaker-gitops") / "emulator-state.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(secrets.token_bytes(32))
        path.with_suffix(".tmp").replace(path)
    return path.read_bytes()


def snapshot(path: Path) -> None:
    """Write every service backend that holds state, keyed by where it lives in moto, signed, and
    synced to disk before it replaces the previous file. OSError (a full disk) leaves the previous
    file as it was."""
    import moto
    from moto.core.base_backend import BackendDict

    used = {id(backend) for backend in BackendDict._instances}
    backends = {
        f"{name}:{attribute}": dict(value)
        for name, module in list(sys.modules.items())
        if name.startswith("moto.") and name.endswith(".models") and module is not None
        for attribute, value in list(vars(module).items())
        if isinstance(value, BackendDict) and id(value) in used
    }
    data = pickle.dumps({"moto": moto.__version__, "backends": backends})
    signed = hmac.new(key(), data, hashlib.sha256).digest() + data
    partial = path.with_suffix(".tmp")
    try:
        with open(partial, "wb") as file:
            file.write(signed)
            file.flush()
            os.fsync(file.fileno())  # a full disk fails here, not after the rename
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


def restore(path: Path) -> None:
    """Put a snapshot's backends back where they lived; an unsigned, damaged or foreign file exits
    in one line, never unpickled unless this user's key signed it."""
    import importlib

    import moto
    from moto.core.base_backend import BackendDict

    fix = "`mlops local down --reset` starts the emulator empty"
    signed = path.read_bytes()
    signature, data = signed[:SIGNATURE], signed[SIGNATURE:]
    if not hmac.compare_digest(signature, hmac.new(key(), data, hashlib.sha256).digest()):
        why = "its signature does not match: damaged, or not written by this machine's emulator"
        sys.exit(f"{path}: the emulator's state cannot be read ({why}): {fix}")
    try:
        state = pickle.loads(data)
        made_by = state["moto"]
    except Exception as error:
        sys.exit(f"{path}: the emulator's state cannot be read ({type(error).__name__}): {fix}")
    if made_by != moto.__version__:
        sys.exit(f"{path}: saved by moto {made_by}, this is moto {moto.__version__}: {fix}")
    for key_, accounts in state["backends"].items():
        name, attribute = key_.split(":")
        live = getattr(importlib.import_module(name), attribute)
        live.clear()
        live.update(accounts)
        if live not in BackendDict._instances:
            BackendDict._instances.append(live)


class Saver:
    """Saves the state once requests have been quiet for SAVE_DELAY, never while one is in flight
    (moto's dicts change under a request: pickling them then would fail or tear)."""

    def __init__(self, path: Path):
        self.path = path
        self.condition = threading.Condition()
        self.in_flight = 0
        self.saving = False
        self.changed_at: float | None = None  # the last change not saved yet
        self.error = ""  # the last save's failure, "" once one succeeds
        self.one_at_a_time = threading.Lock()  # the background save, and one asked for (`down`)

    @contextmanager
    def request(self, changes: bool):
        with self.condition:
            while self.saving:
                self.condition.wait()
            self.in_flight += 1
        try:
            yield
        finally:
            with self.condition:
                self.in_flight -= 1
                if changes:
                    self.changed_at = time.monotonic()
                self.condition.notify_all()

    def save(self) -> str:
        """Save now, alone; "" or what went wrong."""
        with self.one_at_a_time:
            return self._save()

    def _save(self) -> str:
        with self.condition:
            self.saving = True
            while self.in_flight:
                self.condition.wait()
            self.changed_at = None
        try:
            snapshot(self.path)
            self.error = ""
        except OSError as error:
            self.error = f"the emulator's state could not be saved to {self.path}: {error.strerror or error}"
            with self.condition:  # still unsaved
                self.changed_at = self.changed_at or time.monotonic()
            print(self.error, file=sys.stderr, flush=True)
        finally:
            with self.condition:
                self.saving = False
                self.condition.notify_all()
        return self.error

    def run(self) -> None:
        """Save each burst of changes once it has been quiet for SAVE_DELAY (a background thread)."""
        while True:
            with self.condition:
                while self.changed_at is None or time.monotonic() - self.changed_at < SAVE_DELAY:
                    waited = SAVE_DELAY if self.changed_at is not None else None
                    self.condition.wait(waited)
            self.save()
            if self.error:
                time.sleep(5)  # a full disk: try again later, not in a loop


def saving(app, saver: Saver):
    """moto's WSGI application, each request counted by the saver; any but a read changes state."""

    def application(environ, start_response):
        changes = environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
        with saver.request(changes):
            return app(environ, start_response)

    return application


def serve_moto(saver: Saver):
    """moto's server (as moto.server.ThreadedMotoServer makes it), its application wrapped."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from sagemaker_gitops.local.endpoints import serve_in_background

    app = saving(DomainDispatcherApplication(create_backend_app), saver)
    return serve_in_background(make_server("127.0.0.1", 0, app, True, request_handler=MotoRequestHandler))


def main() -> None:
    state_dir = Path(sys.argv[1])
    from sagemaker_gitops.local import endpoints

    if (state_dir / SNAPSHOT).exists():
        restore(state_dir / SNAPSHOT)
    saver = Saver(state_dir / SNAPSHOT)
    server = serve_moto(saver)
    aws_port = server.server_address[1]
    # The runtime reads endpoints, models and model data from this server.
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{aws_port}", AWS_ACCESS_KEY_ID="testing")
    os.environ.update(AWS_SECRET_ACCESS_KEY="testing")
    runtime, containers = endpoints.serve(state_dir / "endpoints", on_save=saver.save)
    threading.Thread(target=saver.run, daemon=True).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    (state_dir / RUNNING).write_text(json.dumps({"pid": os.getpid()}))
    port_file = state_dir / "port"
    ports = {"aws": aws_port, "runtime": runtime.server_address[1]}
    port_file.with_suffix(".tmp").write_text(json.dumps(ports))
    port_file.with_suffix(".tmp").replace(port_file)  # readers never see a half-written port
    stop.wait()
    runtime.shutdown()
    runtime.server_close()
    server.shutdown()
    failed = saver.save()  # before the containers stop: `down` waits only so long
    if not failed:
        (state_dir / RUNNING).unlink(missing_ok=True)  # stopped cleanly, nothing unsaved
    containers.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
