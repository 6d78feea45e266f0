"""Processing and Training jobs as local subprocesses, in SageMaker's container layout.

Each job gets a folder that stands in for the container's filesystem: a path under
/opt/ml/ in the job's request (an input's LocalPath, a script in the entrypoint) maps to
<job folder>/opt/ml/... Inputs are downloaded from S3 and outputs uploaded to S3 exactly
where the request says, so the next step reads what this one wrote, as in SageMaker.
"""

import gzip
import io
import json
import os
import re
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..aws import split_s3_uri
from ..definition.expressions import StepError
from ..images import image_name
from ..project import project
from .launchers import Launcher, Timeout

CONTAINER_ROOT = "/opt/ml/"
PYTHON_ENTRYPOINTS = {"python", "python3"}
# Built-in algorithm images run no code of ours: a local script stands in for each
# (it must read and write the same files as the image; see its docstring).
BUILT_IN_STAND_INS = {"sagemaker-xgboost": "train.py"}
# The metric lines the built-in XGBoost algorithm logs ("validation-rmse:52.1"), named
# as its predefined metric definitions name them ("validation:rmse").
BUILT_IN_METRIC_LINE = re.compile(r"^(train|validation)-([\w@:-]+):([-+0-9.eE]+|nan|inf)$", re.MULTILINE)
LOG_TAIL_LINES = 15


class JobFailed(Exception):
    """The job's own code failed; the message is SageMaker's FailureReason."""


@dataclass
class Job:
    step: str
    name: str  # the job name SageMaker would give it
    folder: Path  # stands in for the container's "/"
    s3: object  # boto3 S3 client of the AWS the run points at
    launcher: Launcher
    python: Path  # the interpreter of the job's image environment (image_envs.py)

    def path(self, container_path: str) -> Path:
        if not container_path.startswith(CONTAINER_ROOT):
            raise StepError(
                self.step, f"{container_path}: local runs map only {CONTAINER_ROOT} into the job folder"
            )
        return self.folder / container_path.lstrip("/")

    def map_argument(self, value: str) -> str:
        return str(self.path(value)) if value.startswith(CONTAINER_ROOT) else value

    @property
    def log(self) -> Path:
        return self.folder / "job.log"

    def execute(self, command: list[str], env: dict[str, str], max_runtime: int | None) -> str:
        """Run the job's process; return its log, or raise JobFailed with SageMaker's reason."""
        started = time.monotonic()
        try:
            code = self.launcher.run(command, {**os.environ, **env}, self.folder, self.log, max_runtime)
        except Timeout:
            raise JobFailed(f"stopped after MaxRuntimeInSeconds={max_runtime}") from None
        output = self.log.read_text(errors="replace")
        if code != 0:
            failure = self.folder / "opt" / "ml" / "output" / "failure"
            reason = failure.read_text().strip() if failure.exists() else _tail(output)
            raise JobFailed(
                f"AlgorithmError: exit code {code} after {time.monotonic() - started:.1f} s: {reason}"
            )
        return output

    def command(self, entrypoint: list[str], arguments: list[str]) -> list[str]:
        if not entrypoint or entrypoint[0] not in PYTHON_ENTRYPOINTS:
            raise StepError(
                self.step,
                f"ContainerEntrypoint {entrypoint!r}: local runs run Python scripts (python3 <script>)",
            )
        return [str(self.python), *(self.map_argument(str(a)) for a in entrypoint[1:] + arguments)]


def run_processing(job: Job, request: dict) -> dict:
    """Run a resolved CreateProcessingJob request; return its DescribeProcessingJob-shaped properties."""
    for channel in request.get("ProcessingInputs", []):
        source = channel.get("S3Input")
        if source is None:
            raise StepError(job.step, f"input {channel.get('InputName')!r}: only S3Input runs locally")
        _check_input_mode(job.step, channel["InputName"], source.get("S3DataType"), source.get("S3InputMode"))
        download_prefix(job, source["S3Uri"], job.path(source["LocalPath"]))
    outputs = request.get("ProcessingOutputConfig", {}).get("Outputs", [])
    for output in outputs:
        job.path(output["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)
    app = request["AppSpecification"]
    env = {
        **request.get("Environment", {}),
        # Where /opt/ml/processing is: the step scripts default to it when this is unset.
        "MLOPS_PROCESSING_DIR": str(job.path("/opt/ml/processing")),
    }
    command = job.command(app.get("ContainerEntrypoint", []), app.get("ContainerArguments", []))
    job.execute(command, env, request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds"))
    for output in outputs:
        upload_folder(job, job.path(output["S3Output"]["LocalPath"]), output["S3Output"]["S3Uri"])
    return {**request, "ProcessingJobName": job.name, "ProcessingJobStatus": "Completed"}


def run_training(job: Job, request: dict, region: str) -> dict:
    """Run a resolved CreateTrainingJob request; return its DescribeTrainingJob-shaped properties."""
    ml = job.path("/opt/ml/")
    hyperparameters = request.get("HyperParameters", {})
    channels = request.get("InputDataConfig", [])
    for channel in channels:
        source = channel["DataSource"].get("S3DataSource")
        if source is None:
            raise StepError(job.step, f"channel {channel['ChannelName']!r}: only S3DataSource runs locally")
        _check_input_mode(
            job.step, channel["ChannelName"], source.get("S3DataType"), channel.get("InputMode")
        )
        download_prefix(job, source["S3Uri"], ml / "input" / "data" / channel["ChannelName"])
    _write_input_config(ml / "input" / "config", hyperparameters, channels)
    for folder in ("model", "output/data", "code"):
        (ml / folder).mkdir(parents=True, exist_ok=True)
    algorithm = request["AlgorithmSpecification"]
    command, built_in = _training_command(job, algorithm, hyperparameters)
    env = {**_training_environment(ml, hyperparameters, channels, region), **request.get("Environment", {})}
    log = job.execute(command, env, request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds"))

    output_path = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    model_uri = f"{output_path}/{job.name}/output/model.tar.gz"
    put_bytes(job, model_uri, tar_gz(ml / "model"))
    if any((ml / "output" / "data").iterdir()):
        put_bytes(job, f"{output_path}/{job.name}/output/output.tar.gz", tar_gz(ml / "output" / "data"))
    return {
        **request,
        "TrainingJobName": job.name,
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": model_uri},
        "FinalMetricDataList": _metrics(log, algorithm, built_in),
    }


def _check_input_mode(step: str, name: str, data_type: str | None, mode: str | None) -> None:
    if data_type not in (None, "S3Prefix"):
        raise StepError(step, f"input {name!r}: S3DataType {data_type} does not run locally (use S3Prefix)")
    if mode not in (None, "File", "FastFile"):
        raise StepError(step, f"input {name!r}: input mode {mode} does not run locally (use File)")


def _stand_in(algorithm: dict) -> Path | None:
    repository = image_name(algorithm.get("TrainingImage", "")).split(":")[0]
    stand_in = BUILT_IN_STAND_INS.get(repository)
    return project().steps_dir / stand_in if stand_in else None


def _training_command(job: Job, algorithm: dict, hyperparameters: dict) -> tuple[list[str], bool]:
    """The command to run, and whether it stands in for a built-in algorithm image."""
    if "ContainerEntrypoint" in algorithm:
        return job.command(algorithm["ContainerEntrypoint"], algorithm.get("ContainerArguments", [])), False
    if "sagemaker_program" in hyperparameters:
        # Script mode: the image's training toolkit fetches the source dir and runs the
        # program with the hyperparameters as arguments; do the same.
        program = _decoded(hyperparameters["sagemaker_program"])
        source = _decoded(hyperparameters.get("sagemaker_submit_directory", '""'))
        code = job.path("/opt/ml/code")
        code.mkdir(parents=True, exist_ok=True)
        if source.startswith("s3://"):
            with tarfile.open(fileobj=io.BytesIO(get_bytes(job, source))) as archive:
                archive.extractall(code, filter="data")
        return [str(job.python), str(code / program), *_hyperparameter_arguments(hyperparameters)], False
    stand_in = _stand_in(algorithm)
    if stand_in is None:
        raise StepError(
            job.step,
            f"training image {algorithm.get('TrainingImage')!r} has no local stand-in: use script mode"
            " (sagemaker_program) or add one to BUILT_IN_STAND_INS in local/jobs.py",
        )
    return [str(job.python), str(stand_in)], True


def _decoded(value: str):
    try:
        return json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return value


def _hyperparameter_arguments(hyperparameters: dict) -> list[str]:
    arguments = []
    for name, raw in hyperparameters.items():
        if name.startswith("sagemaker_"):
            continue
        value = _decoded(raw)
        arguments += [f"--{name}", json.dumps(value) if isinstance(value, (dict, list)) else str(value)]
    return arguments


def _write_input_config(config: Path, hyperparameters: dict, channels: list[dict]) -> None:
    config.mkdir(parents=True, exist_ok=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    described = {
        c["ChannelName"]: {
            "ContentType": c.get("ContentType", ""),
            "TrainingInputMode": c.get("InputMode", "File"),
        }
        for c in channels
    }
    (config / "inputdataconfig.json").write_text(json.dumps(described))
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))


def _training_environment(ml: Path, hyperparameters: dict, channels: list[dict], region: str) -> dict:
    """The SM_* variables SageMaker's training toolkit sets for a script."""
    names = [c["ChannelName"] for c in channels]
    decoded = {k: _decoded(v) for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    env = {
        "SM_MODEL_DIR": str(ml / "model"),
        "SM_INPUT_DIR": str(ml / "input"),
        "SM_INPUT_CONFIG_DIR": str(ml / "input" / "config"),
        "SM_OUTPUT_DIR": str(ml / "output"),
        "SM_OUTPUT_DATA_DIR": str(ml / "output" / "data"),
        "SM_CHANNELS": json.dumps(names),
        "SM_HPS": json.dumps(decoded),
        "SM_CURRENT_HOST": "algo-1",
        "SM_HOSTS": json.dumps(["algo-1"]),
        "SM_NUM_GPUS": "0",
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "AWS_REGION": region,
    }
    env.update({f"SM_CHANNEL_{name.upper()}": str(ml / "input" / "data" / name) for name in names})
    env.update({f"SM_HP_{name.upper()}": str(value) for name, value in decoded.items()})
    return env


def _metrics(log: str, algorithm: dict, built_in: bool) -> list[dict]:
    """FinalMetricDataList: the last value each metric definition's regex finds in the log."""
    found: dict[str, float] = {}
    for definition in algorithm.get("MetricDefinitions", []):
        values = re.findall(definition["Regex"], log)
        if values:
            found[definition["Name"]] = float(values[-1])
    if built_in:
        for dataset, metric, value in BUILT_IN_METRIC_LINE.findall(log):
            found[f"{dataset}:{metric}"] = float(value)
    return [{"MetricName": name, "Value": value} for name, value in found.items()]


def tar_gz(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return gzip.compress(buffer.getvalue())


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-LOG_TAIL_LINES:]) if lines else "(no output)"


def download_prefix(job: Job, uri: str, destination: Path) -> int:
    """Download every object under an S3 prefix (S3Prefix semantics) into a folder."""
    bucket, prefix = bucket_and_key(job, uri)
    destination.mkdir(parents=True, exist_ok=True)
    count = 0
    for page in job.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/"):
                continue
            target = destination / _relative(key, prefix)
            target.parent.mkdir(parents=True, exist_ok=True)
            job.s3.download_file(bucket, key, str(target))
            count += 1
    if count == 0:
        raise JobFailed(f"ClientError: no S3 objects found under S3 URL {uri!r} given in input data source")
    return count


def _relative(key: str, prefix: str) -> str:
    """Where an object lands under the input's LocalPath: relative to the prefix, as in SageMaker."""
    if key == prefix:  # the prefix names one file
        return key.rsplit("/", 1)[-1]
    folder = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    if key.startswith(folder):
        return key[len(folder) :]
    # A key that only shares the prefix's text ("x/train" also matches "x/train-extra/a.csv").
    return key[len(prefix.rsplit("/", 1)[0]) + 1 :] if "/" in prefix else key


def upload_folder(job: Job, folder: Path, uri: str) -> int:
    bucket, prefix = bucket_and_key(job, uri)
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    for path in files:
        key = f"{prefix.rstrip('/')}/{path.relative_to(folder)}" if prefix else str(path.relative_to(folder))
        job.s3.upload_file(str(path), bucket, key)
    return len(files)


def put_bytes(job: Job, uri: str, body: bytes) -> None:
    bucket, key = bucket_and_key(job, uri)
    job.s3.put_object(Bucket=bucket, Key=key, Body=body)


def get_bytes(job: Job, uri: str) -> bytes:
    bucket, key = bucket_and_key(job, uri)
    return job.s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def bucket_and_key(job: Job, uri) -> tuple[str, str]:
    try:
        return split_s3_uri(uri)
    except ValueError as error:
        raise StepError(job.step, str(error)) from None
