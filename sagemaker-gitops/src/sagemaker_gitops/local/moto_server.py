"""The emulator's server process: moto on 127.0.0.1, on a free port the OS picks.

    python -m sagemaker_gitops.local.moto_server STATE_DIR

Beside moto it serves the SageMaker Runtime (endpoints.py), whose containers read the endpoints and
their models from this moto. Once both listen, it writes their ports to STATE_DIR/port as JSON
({"aws": ..., "runtime": ...}), then serves until SIGTERM, and stops the serving containers with it.
Binding port 0 leaves no window in which another program could take a port between choosing it and
listening on it.

State: moto keeps it in memory, in one BackendDict per service. The server loads
STATE_DIR/state.pickle (if any) before it listens, and on SIGTERM writes the services in use back to
it (to a temporary file first, then renamed: never half-written). So the file holds what the
emulator holds, however many requests made it, with every creation time as it was. A file that
cannot be loaded stops the start with one line naming the fix.
"""

import json
import os
import pickle
import signal
import sys
import threading
from pathlib import Path

SNAPSHOT = "state.pickle"


def snapshot(path: Path) -> None:
    """Write every service backend that holds state, keyed by where it lives in moto."""
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
    partial = path.with_suffix(".tmp")
    partial.write_bytes(pickle.dumps({"moto": moto.__version__, "backends": backends}))
    partial.replace(path)


def restore(path: Path) -> None:
    """Put a snapshot's backends back where they lived; a damaged or foreign file exits in one line."""
    import importlib

    import moto
    from moto.core.base_backend import BackendDict

    fix = "`mlops local down --reset` starts the emulator empty"
    try:
        state = pickle.loads(path.read_bytes())
        made_by = state["moto"]
    except Exception as error:
        sys.exit(f"{path}: the emulator's state cannot be read ({type(error).__name__}): {fix}")
    if made_by != moto.__version__:
        sys.exit(f"{path}: saved by moto {made_by}, this is moto {moto.__version__}: {fix}")
    for key, accounts in state["backends"].items():
        name, attribute = key.split(":")
        live = getattr(importlib.import_module(name), attribute)
        live.clear()
        live.update(accounts)
        if live not in BackendDict._instances:
            BackendDict._instances.append(live)


def main() -> None:
    state_dir = Path(sys.argv[1])
    from moto.server import ThreadedMotoServer

    from sagemaker_gitops.local import endpoints

    if (state_dir / SNAPSHOT).exists():
        restore(state_dir / SNAPSHOT)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    aws_port = server.get_host_and_port()[1]
    # The runtime reads endpoints, models and model data from this server.
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{aws_port}", AWS_ACCESS_KEY_ID="testing")
    os.environ.update(AWS_SECRET_ACCESS_KEY="testing")
    runtime, containers = endpoints.serve(state_dir / "endpoints")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    port_file = state_dir / "port"
    ports = {"aws": aws_port, "runtime": runtime.server_address[1]}
    port_file.with_suffix(".tmp").write_text(json.dumps(ports))
    port_file.with_suffix(".tmp").replace(port_file)  # readers never see a half-written port
    stop.wait()
    runtime.shutdown()
    runtime.server_close()
    server.stop()
    snapshot(state_dir / SNAPSHOT)  # before the containers stop: `down` waits only so long
    containers.close()


if __name__ == "__main__":
    main()
