"""The emulator's server process: moto on 127.0.0.1, on a free port the OS picks.

    python -m sagemaker_gitops.local.moto_server STATE_DIR

`mlops local up` starts it with moto's recorder switched on (MOTO_ENABLE_RECORDING and
MOTO_RECORDER_FILEPATH, read when moto is imported). Once listening, it writes its port to
STATE_DIR/port, then serves until SIGTERM. Binding port 0 leaves no window in which
another program could take the port between choosing it and listening on it.
"""

import signal
import sys
import threading
from pathlib import Path


def main() -> None:
    state_dir = Path(sys.argv[1])
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    port_file = state_dir / "port"
    port_file.with_suffix(".tmp").write_text(str(server.get_host_and_port()[1]))
    port_file.with_suffix(".tmp").replace(port_file)  # readers never see a half-written port
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
