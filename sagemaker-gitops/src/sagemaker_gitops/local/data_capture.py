"""Data capture on the emulator's endpoints, as SageMaker writes it ("Capture data from real-time
endpoint" in the developer guide): each invocation that the endpoint config's DataCaptureConfig
samples (InitialSamplingPercentage) becomes a JSON line under

    <DestinationS3Uri>/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/<file>.jsonl

holding what CaptureOptions asks for (the request, the answer, or both), each with its content
type and encoding: CSV or JSON as text when CaptureContentTypeHeader lists its content type,
anything else base64 (the service base64-encodes everything when the config names no header); and
the event's id and time, and the InferenceId the caller gave (what a team's labels name the
request by: Model Monitor joins ground truth on it, else on the eventId). SageMaker buffers a few
minutes of invocations into one file; here each invocation is a file of its own, which a reader
of the prefix, line by line, cannot tell apart.
"""

import base64
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

SIDES = {"Input": ("endpointInput", "INPUT"), "Output": ("endpointOutput", "OUTPUT")}
CAPTURED = {"Input": ["Input"], "Output": ["Output"], "InputAndOutput": ["Input", "Output"]}


def enabled(endpoint_config: dict) -> dict | None:
    """A described endpoint config's DataCaptureConfig when capture is on; None otherwise."""
    config = endpoint_config.get("DataCaptureConfig")
    return config if config and config.get("EnableCapture") else None


def sampled(config: dict) -> bool:
    return random.uniform(0, 100) < config.get("InitialSamplingPercentage", 100)


def record(
    config: dict, request: tuple[bytes, str], answer: tuple[bytes, str], now: datetime, inference_id: str = ""
) -> dict:
    """The capture record of one invocation: request and answer as (body, content type)."""
    bodies = {"Input": request, "Output": answer}
    data = {}
    modes = [side for option in config["CaptureOptions"] for side in CAPTURED[option["CaptureMode"]]]
    for side in modes:
        field, mode = SIDES[side]
        body, content_type = bodies[side]
        encoding = _encoding(config, content_type)
        data[field] = {
            "observedContentType": content_type,
            "mode": mode,
            "data": base64.b64encode(body).decode() if encoding == "BASE64" else body.decode(),
            "encoding": encoding,
        }
    inference_time = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    metadata = {"eventId": str(uuid.uuid4())}
    if inference_id:  # only when the caller gave one, as in SageMaker's records
        metadata["inferenceId"] = inference_id
    metadata["inferenceTime"] = inference_time
    return {"captureData": data, "eventMetadata": metadata, "eventVersion": "0"}


def _encoding(config: dict, content_type: str) -> str:
    header = config.get("CaptureContentTypeHeader") or {}
    kind = content_type.split(";")[0].strip()
    if kind in header.get("CsvContentTypes", []):
        return "CSV"
    if kind in header.get("JsonContentTypes", []):
        return "JSON"
    return "BASE64"


def key_of(config: dict, endpoint: str, variant: str, now: datetime) -> tuple[str, str]:
    """(bucket, key) of the invocation's file under the destination."""
    destination = config["DestinationS3Uri"].removeprefix("s3://").rstrip("/")
    bucket, _, prefix = destination.partition("/")
    hour = now.astimezone(UTC).strftime("%Y/%m/%d/%H")
    name = f"{now.astimezone(UTC).strftime('%M-%S-%f')[:-3]}-{uuid.uuid4()}.jsonl"
    return bucket, "/".join(part for part in (prefix, endpoint, variant, hour, name) if part)


def capture(
    config: dict | None, endpoint: str, variant: str, request, answer, s3: Callable, inference_id: str = ""
) -> None:
    """Write the invocation's capture record when the endpoint captures (`config`, from enabled())
    and samples it; s3() makes the client, only then."""
    if config is None or not sampled(config):
        return
    now = datetime.now(UTC)
    bucket, key = key_of(config, endpoint, variant, now)
    line = json.dumps(record(config, request, answer, now, inference_id)) + "\n"
    s3().put_object(Bucket=bucket, Key=key, Body=line.encode(), ContentType="application/jsonl")
