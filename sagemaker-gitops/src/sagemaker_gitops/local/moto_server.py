"""The emulator's server process: moto on 127.0.0.1, on a free port the OS picks.

    python -m sagemaker_gitops.local.moto_server STATE_DIR

`mlops local up` starts it with moto's recorder switched on (MOTO_ENABLE_RECORDING and
MOTO_RECORDER_FILEPATH, read when moto is imported). Beside moto it serves the SageMaker Runtime
(endpoints.py), whose containers read the endpoints and their models from this moto. Once both
listen, it writes their ports to STATE_DIR/port as JSON ({"aws": ..., "runtime": ...}), then serves
until SIGTERM, and stops the serving containers with it. Binding port 0 leaves no window in which
another program could take a port between choosing it and listening on it.
"""

import json
import os
import signal
import sys
import threading
from pathlib import Path


def main() -> None:
    state_dir = Path(sys.argv[1])
    from moto.server import ThreadedMotoServer

    from sagemaker_gitops.local import endpoints

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
    containers.close()
    server.stop()


if __name__ == "__main__":
    main()
