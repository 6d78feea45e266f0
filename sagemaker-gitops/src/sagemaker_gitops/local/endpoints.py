"""The emulator's SageMaker Runtime: its endpoints really serve, as SageMaker serves them.

moto creates endpoints but runs no model (its invoke_endpoint answers what it is told). This
server takes the runtime's InvokeEndpoint (POST /endpoints/NAME/invocations; boto3 reaches it
through AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, so a caller's code is the one it runs against AWS)
and does what SageMaker does for the endpoint's model:
  endpoint -> endpoint config -> model -> container (or the model package's container)
  unpack ModelDataUrl into model/ and SAGEMAKER_SUBMIT_DIRECTORY into code/ (the stand-in for /opt/ml)
  start the image's serving stack (serving_host.py) in the image's environment (image_envs)
  with the container's Environment exactly; /ping it; then forward the request, and capture it
  and its answer as the endpoint config's DataCaptureConfig says (data_capture.py).
A container is started on the first request and kept for the next ones, one per distinct
(image, model data, environment); one that fails its health check, or a request the model
answers with an error, is a runtime error shaped as AWS's (ValidationError, ModelError).
"""

import contextlib
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from botocore.exceptions import ClientError

from .. import aws
from ..images import image_name
from . import data_capture, image_envs

HOST_SCRIPT = Path(__file__).with_name("serving_host.py")
START_TIMEOUT_SECONDS = 120  # a first start may build the image's environment
PING_TIMEOUT_SECONDS = 60
# How often a serving thread looks for a stop: socketserver's default (0.5 s) is what every stop
# of the emulator, which stops two servers, would wait.
STOP_POLL_SECONDS = 0.05
CONTAINERS_PATH = "/containers"  # the emulator's own, not SageMaker's
SAVE_PATH = "/mlops/save"  # the emulator's own: its state saved now (`mlops local down` asks first)
INVOCATIONS = re.compile(r"^/endpoints/([^/]+)/invocations$")
# The serving stacks serving_host.py follows, by the image's ECR repository.
SERVING_STACKS = {"sagemaker-scikit-learn": "scikit-learn", "sagemaker-xgboost": "xgboost"}
OPT_ML = "/opt/ml/"  # the container's; the stand-in folder for it holds model/ and code/


class RuntimeFault(Exception):
    """An InvokeEndpoint error, as AWS answers it: HTTP status, error type, and its fields."""

    def __init__(self, status: int, kind: str, message: str, **fields):
        super().__init__(message)
        self.status, self.kind, self.fields = status, kind, {"Message": message, **fields}


@dataclass(frozen=True)
class Container:
    """What SageMaker runs for an endpoint's variant."""

    variant: str
    image: str
    model_data_url: str
    environment: dict[str, str]
    capture: dict | None = None  # the endpoint config's DataCaptureConfig, when it captures


@dataclass
class Running:
    process: subprocess.Popen
    url: str
    log: Path
    image: str


class LocalEndpoints:
    """The serving containers of the emulator's endpoints, started on demand."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.lock = threading.Lock()
        self.running: dict[str, Running] = {}  # identity -> container process
        self.serves: dict[str, str] = {}  # endpoint name -> the identity it serves

    def invoke(self, region: str, endpoint: str, body: bytes, headers: dict[str, str]):
        """(status, body, content type, variant) of the endpoint's container answering the request."""
        container = describe(region, endpoint)
        served = self.serving(region, endpoint, container)
        request = {name: value for name, value in headers.items() if value and name != INFERENCE_ID}
        connection = http.client.HTTPConnection(served.url, timeout=60)
        try:
            connection.request("POST", "/invocations", body=body, headers=request)
            response = connection.getresponse()
            answer = response.read()
        except OSError as error:
            raise model_error(500, f"the container stopped answering ({error})", served.log) from None
        finally:
            connection.close()
        if response.status >= 400:
            raise model_error(response.status, answer.decode(errors="replace"), served.log)
        content_type = response.getheader("Content-Type", "")
        with contextlib.suppress(ClientError):  # as in SageMaker: capture never fails an invocation
            data_capture.capture(
                container.capture,
                endpoint,
                container.variant,
                (body, request.get("Content-Type", "")),
                (answer, content_type),
                lambda: _client("s3", region),
                headers.get(INFERENCE_ID, ""),
            )
        return response.status, answer, content_type, container.variant

    def serving(self, region: str, endpoint: str, container: Container) -> Running:
        """The endpoint's container, started if it is not running; a container no endpoint
        serves any more (the endpoint was updated to another model) is stopped."""
        identity = fingerprint(region, container)
        with self.lock:
            previous = self.serves.get(endpoint)
            self.serves[endpoint] = identity
            if previous not in (None, identity, *self.serves.values()) and previous in self.running:
                stop(self.running.pop(previous))
            served = self.running.get(identity)
            if served is None or served.process.poll() is not None:
                served = self.running[identity] = self.start(region, container, identity)
            return served

    def start(self, region: str, container: Container, identity: str) -> Running:
        stack = SERVING_STACKS.get(image_name(container.image).split(":")[0])
        if stack is None:
            raise validation_error(
                f"local endpoints serve the scikit-learn and XGBoost images; {image_name(container.image)}"
                " is served only in AWS"
            )
        base = self.folder / identity
        shutil.rmtree(base, ignore_errors=True)
        stage_model(region, container, base)
        try:
            python = image_envs.interpreter(container.image)
        except image_envs.Unavailable as why:
            raise validation_error(f"{image_name(container.image)} cannot be served here: {why}") from None
        log, port_file = base / "container.log", base / "port"
        environment = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            **container.environment,
            "SAGEMAKER_BASE_DIR": str(base),
            "SM_MODEL_DIR": str(base / "model"),
        }
        with open(log, "ab") as output:
            process = subprocess.Popen(
                [str(python), str(HOST_SCRIPT), stack, str(port_file)],
                env=environment,
                cwd=base,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        served = Running(process, "", log, container.image)
        try:
            served.url = f"127.0.0.1:{wait_for_port(process, port_file, log)}"
            healthy(served, container.variant)
        except BaseException:
            stop(served)
            raise
        return served

    def listing(self) -> list[dict[str, str]]:
        """Each endpoint whose container runs: its image, the container's pid and log."""
        with self.lock:
            return [
                {
                    "endpoint": endpoint,
                    "image": image_name(served.image),
                    "pid": str(served.process.pid),
                    "log": str(served.log),
                }
                for endpoint, identity in sorted(self.serves.items())
                if (served := self.running.get(identity)) and served.process.poll() is None
            ]

    def close(self) -> None:
        with self.lock:
            for served in self.running.values():
                stop(served)
            self.running.clear()


def _client(service: str, region: str):
    import boto3  # here: the CLI imports this module (through the runner) for verbs that call no AWS

    return boto3.client(service, region_name=region)


def describe(region: str, endpoint: str) -> Container:
    """The container SageMaker runs for the endpoint (its first variant), and what its config captures,
    read from the emulator."""
    sagemaker = _client("sagemaker", region)
    try:
        config_name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        variant = config["ProductionVariants"][0]
        container = model_container(sagemaker, variant["ModelName"], variant["VariantName"])
        return replace(container, capture=data_capture.enabled(config))
    except ClientError as error:
        message = error.response["Error"].get("Message", str(error))
        raise validation_error(f"Endpoint {endpoint}: {message}") from None


def model_container(sagemaker, model_name: str, variant: str = "AllTraffic") -> Container:
    """The container a SageMaker model runs: its own, or its model package's (ClientError if the
    model or package does not exist)."""
    model = sagemaker.describe_model(ModelName=model_name)
    found = model.get("PrimaryContainer") or model["Containers"][0]
    environment = dict(found.get("Environment") or {})
    if found.get("ModelPackageName"):
        package = sagemaker.describe_model_package(ModelPackageName=found["ModelPackageName"])
        # The model's own Environment is applied over the package's (CreateModel's documented merge).
        found = package["InferenceSpecification"]["Containers"][0]
        environment = {**(found.get("Environment") or {}), **environment}
    return Container(variant, found["Image"], found.get("ModelDataUrl", ""), environment)


def fingerprint(region: str, container: Container) -> str:
    """One container per distinct image, model data (its bytes, by ETag) and environment."""
    etag = ""
    if container.model_data_url:
        try:
            bucket, key = aws.split_s3_uri(container.model_data_url)
            etag = _client("s3", region).head_object(Bucket=bucket, Key=key)["ETag"]
        except (ValueError, ClientError):
            etag = "missing"  # unpacking it says why
    recipe = [container.image, container.model_data_url, etag, sorted(container.environment.items())]
    return hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]


def stage_model(region: str, container: Container, base: Path) -> None:
    """What SageMaker does before the container starts: the model data unpacked into model/; and
    what the image's toolkit does at its start (sagemaker-containers' download_and_extract): the
    submit directory's code, an S3 archive or a folder of the container's (/opt/ml/model/code, in
    the model archive), put into code/. A folder that is not there leaves code/ empty: the module's
    import then fails the health check, as it does in the image."""
    (base / "model").mkdir(parents=True)
    if container.model_data_url:
        unpack(region, container.model_data_url, base / "model", what="model data")
    submit = container.environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submit.startswith(OPT_ML) and (base / submit.removeprefix(OPT_ML)).is_dir():
        shutil.copytree(base / submit.removeprefix(OPT_ML), base / "code")
    (base / "code").mkdir(exist_ok=True)
    if submit.startswith("s3://"):
        unpack(region, submit, base / "code", what="SAGEMAKER_SUBMIT_DIRECTORY")


def unpack(region: str, url: str, destination: Path, what: str) -> None:
    try:
        bucket, key = aws.split_s3_uri(url)
    except ValueError as error:
        raise validation_error(f"Could not access {what}: {error}") from None
    try:
        body = _client("s3", region).get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        raise validation_error(f"Could not access {what} at {url}: {code}") from None
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            archive.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError):
        raise validation_error(
            f"Failed to extract {what} archive from URL {url}. Please ensure that the object located at"
            " the URL is a valid tar.gz archive"
        ) from None


def wait_for_port(process: subprocess.Popen, port_file: Path, log: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not port_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise validation_error(f"the serving container did not start: {last_error(log)} (log: {log})")
        time.sleep(0.05)
    return int(port_file.read_text())


def healthy(served: Running, variant: str) -> None:
    """SageMaker's health check: GET /ping answers 200, or the endpoint never serves."""
    connection = http.client.HTTPConnection(served.url, timeout=PING_TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/ping")
        status = connection.getresponse().status
    except OSError:
        status = 0
    finally:
        connection.close()
    if status != 200:
        raise validation_error(
            f"The primary container for production variant {variant} did not pass the ping health check:"
            f" {last_error(served.log)} (log: {served.log})"
        )


def last_error(log: Path) -> str:
    """The exception that ended the last traceback in the container's log."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    starts = [number for number, line in enumerate(lines) if line.startswith("Traceback")]
    if not starts:
        return (lines or ["no output"])[-1].strip()
    errors = [line for line in lines[starts[-1] + 1 :] if line and not line[0].isspace()]
    return errors[-1].strip() if errors else lines[-1].strip()


def stop(served: Running) -> None:
    if served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(5)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait()


def validation_error(message: str) -> RuntimeFault:
    return RuntimeFault(400, "ValidationError", message)


def model_error(status: int, message: str, log: Path) -> RuntimeFault:
    """The container answered an error: AWS's ModelError, with the container's status and message
    (and, where AWS points to CloudWatch, the exception in the container's log)."""
    said = " ".join(message.split())[:500]
    text = (
        f"Received {'client' if status < 500 else 'server'} error ({status}) from primary with message"
        f' "{said}". The container\'s log ({log}) ends with: {last_error(log)}'
    )
    return RuntimeFault(424, "ModelError", text, OriginalStatusCode=status, OriginalMessage=message)


# The region is the one the caller signed for: Credential=KEY/DATE/REGION/SERVICE/aws4_request.
# InvokeEndpoint's InferenceId (botocore's model: this header), recorded in the capture.
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
SIGNED_REGION = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


class RuntimeHandler(BaseHTTPRequestHandler):
    endpoints: LocalEndpoints  # set on the class the server makes
    on_save: Callable[[], str] | None = None  # the server's save: "" or what went wrong

    def do_GET(self) -> None:  # http.server's naming
        """GET /containers: which endpoint each running container serves (for `mlops local status`)."""
        if self.path != CONTAINERS_PATH:
            self.answer(404, b"", "text/plain", {})
            return
        listing = json.dumps(self.endpoints.listing()).encode()
        self.answer(200, listing, "application/json", {})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == SAVE_PATH and self.on_save is not None:
            failed = self.on_save()
            said = json.dumps({"error": failed}).encode()
            self.answer(500 if failed else 200, said, "application/json", {})
            return
        matched = INVOCATIONS.match(self.path.split("?")[0])
        signed = SIGNED_REGION.search(self.headers.get("Authorization", ""))
        try:
            if not matched:
                raise validation_error(f"the local SageMaker Runtime serves InvokeEndpoint, not {self.path}")
            region = signed.group(1) if signed else os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
            headers = {name: self.headers.get(name, "") for name in ("Content-Type", "Accept", INFERENCE_ID)}
            status, answer, content_type, variant = self.endpoints.invoke(
                region, matched.group(1), body, headers
            )
        except RuntimeFault as error:
            fault = {"x-amzn-ErrorType": error.kind}
            self.answer(error.status, json.dumps(error.fields).encode(), "application/json", fault)
            return
        self.answer(status, answer, content_type, {"x-Amzn-Invoked-Production-Variant": variant})

    def answer(self, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # errors reach the caller; the log is the container's
        pass


def serve(
    folder: Path, on_save: Callable[[], str] | None = None
) -> tuple[ThreadingHTTPServer, LocalEndpoints]:
    """The runtime on 127.0.0.1 (a free port), serving in a background thread; with `on_save`, it
    also answers SAVE_PATH (the emulator's server)."""
    endpoints = LocalEndpoints(folder)
    handler = type("Handler", (RuntimeHandler,), {"endpoints": endpoints, "on_save": staticmethod(on_save)})
    return serve_in_background(ThreadingHTTPServer(("127.0.0.1", 0), handler)), endpoints


def serve_in_background(server):
    """The server, serving in a daemon thread; its shutdown() returns within STOP_POLL_SECONDS."""
    poll = {"poll_interval": STOP_POLL_SECONDS}
    threading.Thread(target=server.serve_forever, kwargs=poll, daemon=True).start()
    return server
