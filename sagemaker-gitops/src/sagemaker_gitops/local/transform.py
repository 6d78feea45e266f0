"""Batch transform jobs on this machine, as SageMaker runs them.

For each object under TransformInput's S3 prefix: split into records (SplitType Line), apply
DataProcessing.InputFilter to each, and POST the records to the model's serving container in
mini-batches (BatchStrategy MultiRecord: as many as fit MaxPayloadInMB; SingleRecord: one). The
container must answer one record per record sent (otherwise SageMaker fails the job); each answer
is joined to its input record (JoinSource Input), OutputFilter applied, and the records written
to <S3OutputPath>/<object name>.out, one per line (AssembleWith Line).

The container is the model's, started the way the emulator's endpoints start theirs
(endpoints.py): the model package's image, model data and environment, in the image's libraries.
CSV only: the batch pipeline writes text/csv requests, and other formats are refused in one line.
"""

import csv
import http.client
import io
from dataclasses import dataclass, replace

from ..definition.csv_filters import column_filter
from ..definition.expressions import StepError
from . import endpoints
from .jobs import Job, JobFailed, download_prefix, put_bytes

MEGABYTE = 1024 * 1024


@dataclass
class Records:
    """One input object's records, as read and as sent."""

    key: str  # relative to the input prefix: the output object's name, with .out
    rows: list[list[str]]  # each record's columns
    sent: list[str]  # each record after InputFilter, as the CSV line the container gets


def run_transform(
    job: Job, request: dict, region: str, container: endpoints.Container, served: endpoints.LocalEndpoints
) -> tuple[dict, int]:
    """Run a resolved CreateTransformJob request; return its DescribeTransformJob-shaped properties
    and the number of records written."""
    source, output = request["TransformInput"], request["TransformOutput"]
    _check_format(job.step, source, output)
    processing = request.get("DataProcessing", {})
    keep_in = _filter(job.step, "InputFilter", processing.get("InputFilter", "$"))
    keep_out = _filter(job.step, "OutputFilter", processing.get("OutputFilter", "$"))
    join = processing.get("JoinSource", "None") == "Input"
    limit = request.get("MaxPayloadInMB", 6) * MEGABYTE
    single = request.get("BatchStrategy") == "SingleRecord"
    # Batch transform marks its containers' environment: the XGBoost image then answers one
    # prediction per line (a multiclass model's as "[p0, p1, p2]"), where an endpoint's are joined by
    # commas on one line.
    batch_container = replace(container, environment={**container.environment, "SAGEMAKER_BATCH": "true"})
    running = served.serving(region, f"transform/{job.name}", batch_container)
    count = 0
    for records in read_records(job, source["DataSource"]["S3DataSource"]["S3Uri"], keep_in):
        answers = [
            answer
            for batch in mini_batches(records.sent, 1 if single else None, limit)
            for answer in predict(running, batch, output.get("Accept") or "text/csv")
        ]
        lines = [
            _csv_line(keep_out((row if join else []) + answer))
            for row, answer in zip(records.rows, answers, strict=True)
        ]
        uri = f"{output['S3OutputPath'].rstrip('/')}/{records.key}.out"
        put_bytes(job, uri, "".join(lines).encode())
        count += len(lines)
    job.log.write_text(f"{count} records scored by {container.image}; container log: {running.log}\n")
    return {**request, "TransformJobName": job.name, "TransformJobStatus": "Completed"}, count


def read_records(job: Job, uri: str, keep) -> list[Records]:
    """Every object under the input prefix (downloaded as a channel is: jobs.download_prefix), split
    into CSV records and filtered."""
    folder = job.folder / "input"
    download_prefix(job, uri, folder)
    found = []
    for path in sorted(path for path in folder.rglob("*") if path.is_file()):
        key = path.relative_to(folder).as_posix()
        rows = [row for row in csv.reader(io.StringIO(path.read_text())) if row]
        try:
            sent = [_csv_line(keep(row)).rstrip("\n") for row in rows]
        except IndexError:
            raise JobFailed(
                f"ClientError: {key}: a record has fewer columns than InputFilter selects"
            ) from None
        found.append(Records(key, rows, sent))
    return found


def mini_batches(lines: list[str], size: int | None, limit: int) -> list[list[str]]:
    """Records grouped as SageMaker sends them: `size` at a time, or as many as fit `limit` bytes."""
    batches, current, used = [], [], 0
    for line in lines:
        length = len(line.encode()) + 1
        if length > limit:
            raise JobFailed(f"ClientError: a record of {length} bytes is larger than MaxPayloadInMB")
        if current and (len(current) == size or used + length > limit):
            batches.append(current)
            current, used = [], 0
        current.append(line)
        used += length
    return batches + ([current] if current else [])


def predict(running: endpoints.Running, batch: list[str], accept: str) -> list[list[str]]:
    """The container's answer to one mini-batch, one record (its columns) per record sent."""
    connection = http.client.HTTPConnection(running.url, timeout=600)
    try:
        connection.request(
            "POST",
            "/invocations",
            body="\n".join(batch).encode() + b"\n",
            headers={"Content-Type": "text/csv", "Accept": accept},
        )
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
    except OSError as error:
        raise JobFailed(f"the model container stopped answering ({error}); log: {running.log}") from None
    finally:
        connection.close()
    if response.status >= 400:
        said = " ".join(body.split())[:300]
        raise JobFailed(
            f"ClientError: the model container answered {response.status}: {said} (log: {running.log})"
        )
    answers = [row for row in csv.reader(io.StringIO(body)) if row]
    if len(answers) != len(batch):
        raise JobFailed(
            f"ClientError: the model answered {len(answers)} records for a mini-batch of {len(batch)}:"
            " batch transform needs one answer per record"
        )
    return answers


def _check_format(step: str, source: dict, output: dict) -> None:
    if source.get("ContentType") != "text/csv" or source.get("SplitType") != "Line":
        raise StepError(step, "local transforms read CSV split by line (text/csv, SplitType Line)")
    if source.get("CompressionType", "None") != "None" or output.get("AssembleWith") != "Line":
        raise StepError(step, "local transforms read uncompressed input and assemble output by line")
    if source["DataSource"].get("S3DataSource", {}).get("S3DataType", "S3Prefix") != "S3Prefix":
        raise StepError(step, "local transforms read an S3Prefix input (not a manifest)")


def _filter(step: str, field: str, expression: str):
    try:
        return column_filter(expression)
    except ValueError as error:
        raise StepError(step, f"DataProcessing.{field}: {error}") from None


def _csv_line(columns: list[str]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(columns)
    return text.getvalue()
