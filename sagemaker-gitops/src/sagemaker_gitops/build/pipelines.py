"""Build, publish and run the project's SageMaker pipelines: "build" (build/pipeline.py, training)
and, for a project that scores in batch, "batch" (build/batch_pipeline.py)."""

import importlib.util
import itertools
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .. import aws, contract, images
from ..config import Gate, load_config
from ..definition import api_requests
from ..definition.parameters import refuse_what_the_api_would, resolve_parameters
from ..definition.step_code import HASHED_DATA, HASHED_DIR, StepCode
from ..desired_state import MODEL_PACKAGE_ARN, load_stage
from ..errors import MlopsError
from ..project import project
from ..repository import git_commit, run_description
from . import notebooks

TERMINAL_STATUSES = {"Succeeded", "Failed", "Stopped"}


@dataclass
class BuiltPipeline:
    pipeline: object  # sagemaker.mlops.workflow.pipeline.Pipeline
    code: StepCode
    target: aws.AwsTarget
    commit: str
    kind: str = "build"  # or "batch"

    @property
    def name(self) -> str:
        return project().pipeline_name_of(self.kind)

    def definition(self) -> dict:
        return json.loads(self.pipeline.definition())


def description(kind: str = "build") -> str:
    return f"{project().slug} {kind} pipeline"


def _load_get_pipeline(kind: str, path: Path):
    # build/ is a folder of the project, not a package: load its file directly.
    spec = importlib.util.spec_from_file_location(f"{project().slug}_{kind}_pipeline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_pipeline


def _pipeline_session(target: aws.AwsTarget):
    # v3 validates the role with iam:SimulatePrincipalPolicy, which needs network and
    # misreports roles under condition-based SCPs; SageMaker checks the role anyway.
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    _no_telemetry()
    _one_loader_of_service_models()
    session = PipelineSession(
        boto_session=boto3.Session(region_name=target.region), default_bucket=target.bucket
    )
    # Without the private attribute, default_bucket() still calls s3:ListBuckets/HeadBucket.
    session._default_bucket = target.bucket
    return session


def _no_telemetry() -> None:
    """SDK v3 starts a telemetry thread on every step it builds (sts:GetCallerIdentity, then an
    HTTPS GET to an SDK host): 4 STS calls per definition, offline too. Its documented opt-out is
    a config (TelemetryOptOut) that the SDK re-validates against its JSON schema on each of ~70
    lookups, which made a build 2.5 s and each definition() 1.5 s slower. So the sender is replaced
    in this process instead; tests/test_definition.py counts AWS calls and connection attempts
    (DNS included) and fails if an SDK release moves it."""
    from sagemaker.core.telemetry import telemetry_logging

    telemetry_logging._send_telemetry_request = lambda *args, **kwargs: None


def _one_loader_of_service_models() -> None:
    """Each boto3 session reads botocore's service models from JSON again, and a build makes three
    (its PipelineSession, and a LocalSession each ProcessingStep constructs only to read a method's
    name): 12 clients, 90 % of a build's second. One loader per process serves every session
    instead, as it serves boto3's default session: the models are read-only data, cached by the
    loader. (boto3 adds its own folder to a session's loader paths: once is enough.)"""
    import botocore.loaders
    import botocore.session

    if getattr(botocore.session.create_loader, "shared", False):
        return
    loaders: dict[str | None, botocore.loaders.Loader] = {}

    def shared(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string not in loaders:
            loader = botocore.loaders.create_loader(search_path_string)
            loader._search_paths = _Paths(loader.search_paths)
            loaders[search_path_string] = loader
        return loaders[search_path_string]

    shared.shared = True
    botocore.session.create_loader = shared


class _Paths(list):
    """A loader's search paths, each once."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


def step_code(target: aws.AwsTarget | None = None) -> StepCode:
    """Where the project's step code and staged data go: its bucket, under its slug."""
    target = target or aws.resolve_target()
    return StepCode(project().steps_dir, target.bucket, project().slug)


def build(offline: bool = False, kind: str = "build") -> BuiltPipeline:
    """Build the "build" or "batch" pipeline object; offline=True guarantees no AWS call."""
    path = project().pipeline_file_of(kind)
    if not path.is_file():
        raise MlopsError(f"{path.name}: not found (this project has no {kind} pipeline)")
    config = load_config(project().config_path)
    if kind == "batch" and config.batch is None:
        raise MlopsError("build/config.yml has no batch block, which build/batch_pipeline.py reads")
    target = aws.resolve_target(offline=offline)
    if offline:
        # The SDK makes boto3 clients at import; with no credentials configured, botocore would
        # look for an instance role at 169.254.169.254 (seconds of timeouts off EC2).
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    # The SDK creates boto3 clients at import time and fails without a region.
    os.environ.setdefault("AWS_DEFAULT_REGION", target.region)
    code = step_code(target)
    commit = git_commit()
    pipeline = _load_get_pipeline(kind, path)(config, target, code, _pipeline_session(target), commit)
    return BuiltPipeline(pipeline, code, target, commit, kind)


def normalize(definition: dict) -> dict:
    """The definition with what changes on every commit replaced, for snapshot diffs."""
    text = json.dumps(definition, indent=2, sort_keys=True)
    text = HASHED_DIR.sub("/code/<sha256>/", text)
    text = HASHED_DATA.sub("/data/<sha256>/", text)
    text = re.sub(r'"git_commit": "[^"]*"', '"git_commit": "<git-commit>"', text)
    return json.loads(text)


def write_snapshot() -> None:
    definition = normalize(build(offline=True).definition())
    project().snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    project().snapshot_path.write_text(json.dumps(definition, indent=2, sort_keys=True) + "\n")


def problems(built: BuiltPipeline) -> list[str]:
    """What SageMaker would refuse or fail on, found offline, one line each: each step's script
    against what its image ships, each step's request and CreatePipeline's against the API."""
    definition_json = built.pipeline.definition()
    definition = json.loads(definition_json)
    create_pipeline = {
        "PipelineName": built.name,
        "PipelineDefinition": definition_json,
        "PipelineDescription": description(built.kind),
        "RoleArn": built.target.role_arn,
        "ClientRequestToken": "0" * 36,  # the SDK sends a UUID
    }
    return (
        images.problems(definition, project().steps_dir)
        + notebooks.import_problems(definition, built.code)
        + api_requests.problems(definition, create_pipeline)
    )


def publish(built: BuiltPipeline) -> None:
    """Upload what the definition references: the step code, and its default input (data/sample.csv;
    data/batch/sample.csv for the batch pipeline), each under its content's hash."""
    built.code.upload(aws.client("s3"))


def stage_data(path: Path, code: StepCode) -> str:
    """Upload a local file, or a folder's CSV files, under their content's hash; the URL a run
    reads them from (another file is another URL, so no cached step hands on what it made)."""
    uri = code.data(path)
    code.upload(aws.client("s3"))
    return uri


def with_data(pairs: list[str], uri: str) -> list[str]:
    """--param pairs with InputDataUrl set to staged data; both at once is refused."""
    if any(pair.partition("=")[0] == contract.INPUT_DATA_URL for pair in pairs):
        raise MlopsError(f"--data and --param {contract.INPUT_DATA_URL}=... name the input twice: give one")
    return [*pairs, f"{contract.INPUT_DATA_URL}={uri}"]


# What a run compares with in prod, each read from the version deploy/prod.yml names.
PROD_PARAMETERS = (contract.CHAMPION_MODEL_URL, contract.DATA_BASELINE_URL)


def with_prod(pairs: list[str], definition: dict) -> list[str]:
    """--param pairs with what the run compares with in prod, for each such parameter the
    definition declares and the pairs do not set ("" in them compares with nothing): the kept
    model of the version deploy/prod.yml names (ChampionModelUrl, gate.not_worse_than_prod) and
    the folder of its data-quality baseline (DataBaselineUrl, quality.compare_with_prod). Nothing
    in prod, or a version registered without a baseline: nothing to compare with."""
    declared = {parameter["Name"] for parameter in definition.get("Parameters", [])}
    given = {pair.partition("=")[0] for pair in pairs}
    wanted = [name for name in PROD_PARAMETERS if name in declared and name not in given]
    arn = load_stage("prod").model_package_arn if wanted else ""
    if not arn:
        return pairs
    from botocore.exceptions import ClientError

    try:
        described = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        raise MlopsError(
            f"deploy/prod.yml names {arn}, which the registry does not answer for"
            f' ({error.response["Error"]["Code"]}): give --param {wanted[0]}=... ("" for none)'
        ) from None
    found = {
        contract.CHAMPION_MODEL_URL: described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
        contract.DATA_BASELINE_URL: contract.data_baseline(described),
    }
    return [*pairs, *(f"{name}={found[name]}" for name in wanted if found[name])]


def build_all() -> list[BuiltPipeline]:
    """Every pipeline of the project, built for the account in use ("build" first); MlopsError
    when one has a problem, before anything is uploaded."""
    everything = [build(kind=kind) for kind in project().pipelines]
    for built in everything:
        found = problems(built)
        if found:
            more = f" (and {len(found) - 1} more: `mlops pipeline validate`)" if len(found) > 1 else ""
            raise MlopsError(f"not upserted: {built.name}: {found[0]}{more}")
    return everything


def upsert(everything: list[BuiltPipeline] | None = None) -> list[str]:
    """Upload step code and sample data, create or update each pipeline (build_all() by default);
    return their ARNs."""
    return [_upsert(built) for built in everything or build_all()]


def _upsert(built: BuiltPipeline) -> str:
    publish(built)
    response = built.pipeline.upsert(role_arn=built.target.role_arn, description=description(built.kind))
    arn = response["PipelineArn"]
    # Tag on every upsert (the SDK tags only on create) so the pipeline names its commit.
    aws.client("sagemaker").add_tags(ResourceArn=arn, Tags=[{"Key": "git_commit", "Value": built.commit}])
    return arn


def parse_parameters(pairs: list[str]) -> list[dict]:
    """--param Name=value pairs as PipelineParameters, each checked as build/config.yml would be."""
    parameters = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise MlopsError(f"--param {pair!r}: expected Name=value, e.g. GateThreshold=0.8")
        if name == contract.APPROVAL_STATUS:
            # Pipelines built by earlier releases still declare it: refuse it by name.
            raise MlopsError(
                f"--param {name}: a run cannot set the approval; every model is registered "
                "PendingManualApproval and approved by a person (`mlops models approve`)"
            )
        if name == contract.GATE_THRESHOLD:
            _check_gate_threshold(value)
        if name == "ModelPackageArn" and not (value and re.match(MODEL_PACKAGE_ARN, value)):
            raise MlopsError(
                f"--param ModelPackageArn={value}: expected a model package version's ARN"
                " (arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
            )
        parameters.append({"Name": name, "Value": value})
    return parameters


def _check_gate_threshold(value: str) -> None:
    """The rule build/config.yml's gate.threshold follows, for a per-run threshold; and no looser
    than that reviewed gate: a run (a workflow_dispatch, the retraining block) may raise the bar
    for what gets registered, never lower it."""
    gate = load_config(project().config_path).gate
    try:
        asked = Gate.model_validate({"metric": gate.metric, "threshold": value})
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise MlopsError(f"--param {contract.GATE_THRESHOLD}={value}: {reason}") from None
    if gate.looser(asked.threshold):
        raise MlopsError(
            f"--param {contract.GATE_THRESHOLD}={value}: looser than build/config.yml's gate"
            f" ({gate.metric} {gate.direction} {gate.threshold:g}); a run may only tighten it (change the"
            " gate in a reviewed commit)"
        )


def _describe_pipeline(sagemaker, kind: str = "build") -> dict:
    """The deployed pipeline's description; a clear error if it does not exist."""
    from botocore.exceptions import ClientError

    name = project().pipeline_name_of(kind)
    try:
        described = sagemaker.describe_pipeline(PipelineName=name)
    except ClientError as error:
        # AWS answers ResourceNotFound; some emulators answer ValidationException.
        if error.response["Error"]["Code"] in {"ResourceNotFound", "ValidationException"}:
            raise MlopsError(
                f"pipeline {name!r} not found in {aws.region()}: run `mlops pipeline upsert` first"
            ) from None
        raise
    return described


def start(pairs: list[str], label: str = "", kind: str = "build") -> str:
    """Start an execution of the "build" or "batch" pipeline and return its ARN at once."""
    parameters = parse_parameters(pairs)
    sagemaker = aws.client("sagemaker")
    definition = json.loads(_describe_pipeline(sagemaker, kind)["PipelineDefinition"])
    parameters += parse_parameters(with_prod(pairs, definition)[len(pairs) :])
    values = resolve_parameters(definition.get("Parameters", []), parameters)
    refuse_what_the_api_would(definition, values, "not started")
    response = sagemaker.start_pipeline_execution(
        PipelineName=project().pipeline_name_of(kind),
        PipelineParameters=parameters,
        PipelineExecutionDescription=run_description(label),
    )
    return response["PipelineExecutionArn"]


def execution_summary(arn: str, pairs: list[str], kind: str = "build") -> str:
    """Markdown naming a started execution, with where to follow it."""
    where = aws.region()
    console = f"https://{where}.console.aws.amazon.com/sagemaker/home?region={where}#/pipelines"
    overrides = ", ".join(f"`{pair}`" for pair in pairs) or "none (the definition's defaults)"
    return "\n".join(
        [
            f"## Pipeline `{project().pipeline_name_of(kind)}` started",
            "",
            f"- execution: `{arn}`",
            f"- built from commit `{git_commit()}`",
            f"- parameter overrides: {overrides}",
            f"- follow it: `mlops pipeline status`, or [the SageMaker console]({console})"
            " (Pipelines, in SageMaker Studio)",
            "",
        ]
    )


def describe_execution(arn: str) -> dict:
    return aws.client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=arn)


def wait(arn: str, on_status, poll_seconds: float = 15.0) -> dict:
    """Poll until the execution ends, calling on_status(status) on each poll."""
    while True:
        described = describe_execution(arn)
        on_status(described["PipelineExecutionStatus"])
        if described["PipelineExecutionStatus"] in TERMINAL_STATUSES:
            return described
        time.sleep(poll_seconds)


def recent_executions(limit: int, kind: str = "build") -> list[dict]:
    sagemaker = aws.client("sagemaker")
    _describe_pipeline(sagemaker, kind)  # fails clearly when the pipeline does not exist
    return list(newest_executions(sagemaker, limit, kind))


def newest_executions(sagemaker, count: int, kind: str = "build") -> Iterator[dict]:
    """The pipeline's execution summaries, newest first, at most `count`, read a page at a time."""
    pages = sagemaker.get_paginator("list_pipeline_executions").paginate(
        PipelineName=project().pipeline_name_of(kind), SortBy="CreationTime", SortOrder="Descending"
    )
    return itertools.islice((s for page in pages for s in page["PipelineExecutionSummaries"]), count)


def execution_steps(sagemaker, execution_arn: str) -> list[dict]:
    """ListPipelineExecutionSteps, every page: each step's status and the job it ran (Metadata)."""
    pages = sagemaker.get_paginator("list_pipeline_execution_steps").paginate(
        PipelineExecutionArn=execution_arn
    )
    return [step for page in pages for step in page["PipelineExecutionSteps"]]


def tuning_jobs(sagemaker, execution_arn: str) -> list[str]:
    """The names of the tuning jobs an execution's tuning steps ran."""
    return [
        step["Metadata"]["TuningJob"]["Arn"].rsplit("/", 1)[-1]
        for step in execution_steps(sagemaker, execution_arn)
        if "TuningJob" in step.get("Metadata", {})
    ]
