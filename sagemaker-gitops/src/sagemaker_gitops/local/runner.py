"""`mlops local run`: run the pipeline definition's steps on this machine, in dependency order.

The input is the definition JSON that SageMaker would get, not the Python that built
it: what runs here is what the service would run, wiring mistakes included.
"""

import json
import secrets
import string
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import aws, contract
from ..definition import graph as graph_of
from ..definition.expressions import Scope, StepError, Unreadable, as_text, short
from ..definition.parameters import refuse_what_the_api_would, resolve_parameters
from ..definition.step_kinds import is_notebook_job
from ..images import step_scripts
from ..project import project
from . import launchers
from .caching import cache_key, cacheable, earlier_run, expiry
from .emulator import in_use
from .endpoints import LocalEndpoints, RuntimeFault, model_container
from .image_envs import Interpreters
from .jobs import Job, JobFailed, run_processing, run_training
from .launchers import FreshProcesses, Launcher
from .notebook_jobs import run_notebook_job
from .transform import run_transform
from .tuning import TRIAL_FIELDS, Tuner, tuning_summary

# How each kind of step (step_kinds.py) runs here: a method of LocalRun, registered by the kinds it
# runs. A kind with none is refused before anything runs (definition.py); a test holds the two
# lists together.
RUNS: dict[str, Callable[["LocalRun", graph_of.Step], list[str]]] = {}


def runs(*kinds: str):
    def register(method):
        RUNS.update(dict.fromkeys(kinds, method))
        return method

    return register


@dataclass
class StepResult:
    name: str
    type: str
    status: str = "NotRun"  # Succeeded | Failed | NotRun
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)  # what a reader wants to see, one item per line
    failure: str = ""
    cached_from: str = ""  # the execution whose run of the step was reused (a cache hit)


@dataclass
class RunResult:
    execution_id: str
    steps: list[StepResult]
    workspace: Path
    model_packages: list[str] = field(default_factory=list)  # ARNs the run registered
    definition_reused: bool = False  # the last run's definition: nothing it is built from changed

    @property
    def failed(self) -> StepResult | None:
        return next((step for step in self.steps if step.status == "Failed"), None)

    @property
    def status(self) -> str:
        return "Failed" if self.failed else "Succeeded"


class Progress:
    """Told when each step starts and ends; the CLI shows it, tests may record it."""

    def started(self, step: str, kind: str) -> None: ...

    def finished(self, result: StepResult) -> None: ...

    def note(self, message: str) -> None:
        """One line the person running should read (an image that runs in a stand-in environment)."""

    def update(self, step: str, message: str) -> None:
        """Where a long step has got to (a tuning step's trials), while it runs."""


def new_execution_id() -> str:
    # SageMaker's execution ids are 12 lowercase letters and digits.
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(12))


class LocalRun:
    def __init__(
        self,
        definition: dict,
        overrides: list[dict],
        target: aws.AwsTarget,
        workspace: Path,
        description: str = "",
        pipeline_name: str = "",
        use_cache: bool = True,
    ):
        self.use_cache = use_cache  # False: `mlops local run --no-cache`
        self.sagemaker = aws.client("sagemaker")
        self.pipeline_name = pipeline_name or project().pipeline_name
        self.description = description  # PipelineExecutionDescription: see project.run_description
        self.s3 = aws.client("s3")
        self.graph = graph_of.load(definition, self.sagemaker.meta.service_model)
        self.target = target
        self.execution_id = new_execution_id()
        self.workspace = workspace / self.execution_id
        self.scope = Scope(
            parameters=resolve_parameters(self.graph.parameters, overrides),
            execution=self._execution_variables(),
            read_property_file=self._read_property_file,
            read_s3_json=self._read_s3_json,
        )
        # What SageMaker would refuse is refused here too, before any step runs.
        refuse_what_the_api_would(definition, self.scope.parameters, "not run")
        self.results = {step.name: StepResult(step.name, step.type) for step in self.graph.steps}
        self.registered: list[str] = []
        self.property_files: dict[str, dict[str, Any]] = {}  # step -> file name -> document, as read
        self.definition = definition
        self.cache_keys: dict[str, str] = {}  # step -> its cache key, for steps with caching on
        self.cache_hits: dict[str, str] = {}  # step -> the execution whose run it reuses
        self.launcher: Launcher | None = None  # set by run()
        self.interpreters: Interpreters | None = None  # set by run()

    def _execution_variables(self) -> dict[str, str]:
        pipeline_arn = (
            f"arn:aws:sagemaker:{self.target.region}:{self.target.account}:pipeline/{self.pipeline_name}"
        )
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "PipelineExecutionId": self.execution_id,
            "PipelineExecutionArn": f"{pipeline_arn}/execution/{self.execution_id}",
            "PipelineName": self.pipeline_name,
            "PipelineArn": pipeline_arn,
            "StartDateTime": now,
            "CurrentDateTime": now,
        }

    def run(
        self, progress: Progress, launcher: Launcher, interpreters: Interpreters | None = None
    ) -> RunResult:
        self.launcher = launcher
        self.progress = progress
        self.interpreters = interpreters or Interpreters(progress.note)
        warm_up(self.definition, launcher, self.interpreters)
        # Model containers (a Transform step's), started when a step needs one, stopped at the end.
        self.containers = LocalEndpoints(self.workspace / "containers")
        try:
            return self._run_steps(progress)
        finally:
            self.containers.close()

    def _run_steps(self, progress: Progress) -> RunResult:
        for step in self.graph.steps:
            if self._blocked(step):
                continue
            result = self.results[step.name]
            progress.started(step.name, step.type)
            started = time.monotonic()
            try:
                result.outputs = self._run_step(step)
                result.status = "Succeeded"
                result.cached_from = self.cache_hits.get(step.name, "")
            except (JobFailed, StepError, ClientError, BotoCoreError) as error:
                result.status, result.failure = "Failed", str(error)
            except RuntimeFault as fault:  # the model's container did not start or answer
                result.status, result.failure = "Failed", f"{fault.kind}: {fault}"
            except FailStepReached as reached:
                result.status, result.failure = "Failed", reached.message
                result.outputs = [reached.message]
            result.seconds = time.monotonic() - started
            progress.finished(result)
            if result.status == "Failed":
                break  # SageMaker starts no new step once one has failed
        result = RunResult(self.execution_id, list(self.results.values()), self.workspace, self.registered)
        self._record(result)
        return result

    def _record(self, result: RunResult) -> None:
        """Keep the run as `mlops report experiments` reads an execution from SageMaker: the
        execution, its parameters, each step's Describe* properties and the property files read."""
        record = {
            "PipelineExecutionArn": self.scope.execution["PipelineExecutionArn"],
            "PipelineExecutionStatus": result.status,
            "Emulator": in_use(),  # `local down --reset` forgets these runs
            "CreationTime": self.scope.execution["StartDateTime"],
            "PipelineExecutionDescription": self.description,
            # Which parameters reach the model's data and training (what may change a metric).
            "PipelineDefinition": self.definition,
            "PipelineParameters": [
                {"Name": name, "Value": str(value)} for name, value in self.scope.parameters.items()
            ],
            "Steps": [
                {
                    "StepName": step.name,
                    "StepStatus": step.status,
                    "Properties": self.scope.properties.get(step.name, {}),
                    **self._cache_record(step.name),
                }
                for step in result.steps
                if step.status != "NotRun"
            ],
            "PropertyFiles": self.property_files,
        }
        _write_json(self.workspace / "execution.json", record)

    def _cache_record(self, step: str) -> dict:
        """The step's cache key (what a later run looks up) and, for a hit, the execution it came
        from, as ListPipelineExecutionSteps gives it (CacheHitResult)."""
        record = {"CacheKey": self.cache_keys[step]} if step in self.cache_keys else {}
        if step in self.cache_hits:
            source = f"{self.scope.execution['PipelineArn']}/execution/{self.cache_hits[step]}"
            record["CacheHitResult"] = {"SourcePipelineExecutionArn": source}
        return record

    def _blocked(self, step: graph_of.Step) -> bool:
        """True when a dependency did not run or the step sits on the branch not taken."""
        if any(self.results[name].status != "Succeeded" for name in step.depends_on):
            return True
        if step.gate:
            condition, outcome = step.gate
            return self.scope.properties[condition]["Outcome"] is not outcome
        return False

    def _run_step(self, step: graph_of.Step) -> list[str]:
        return RUNS[step.type](self, step)

    @runs("Fail")
    def _fail(self, step: graph_of.Step) -> list[str]:
        raise FailStepReached(as_text(self.scope.resolve(step.arguments.get("ErrorMessage", ""), step.name)))

    def _job_name(self, step: graph_of.Step) -> str:
        # SageMaker names pipeline jobs pipelines-<execution id>-<step>-<random>.
        return f"pipelines-{self.execution_id}-{step.name}-{secrets.token_hex(5)}"[:63]

    @runs("Model")
    def _create_model(self, step: graph_of.Step) -> list[str]:
        """CreateModel, as a Model step makes it: from a model package only once it is Approved."""
        request = self.scope.resolve(step.arguments, step.name)
        containers = request.get("Containers") or [request.get("PrimaryContainer", {})]
        packages = [c["ModelPackageName"] for c in containers if c.get("ModelPackageName")]
        for package in packages:
            status = self.sagemaker.describe_model_package(ModelPackageName=package)["ModelApprovalStatus"]
            if status != "Approved":
                raise StepError(
                    step.name,
                    f"CreateModel refused: model package {package} is {status}; SageMaker creates models"
                    " from Approved versions only (`mlops models approve`)",
                )
        name = self._job_name(step)
        self.sagemaker.create_model(ModelName=name, **request)
        self.scope.properties[step.name] = self.sagemaker.describe_model(ModelName=name)
        return [f"model {name}", *(f"from {package}" for package in packages)]

    @runs("Transform")
    def _transform(self, step: graph_of.Step) -> list[str]:
        """A batch transform job, scored by the model's own serving container (transform.py)."""
        name = self._job_name(step)
        request = self.scope.resolve(step.arguments, step.name)
        container = model_container(self.sagemaker, request["ModelName"])
        job = self._job(step, name, container.image)
        properties, count = run_transform(job, request, self.target.region, container, self.containers)
        self.scope.properties[step.name] = properties
        scored = [f"{count} records scored", f"to {request['TransformOutput']['S3OutputPath']}"]
        if "DataCaptureConfig" in request:  # its file layout is the service's, not reproduced here
            scored.append(f"capture: only in AWS, to {request['DataCaptureConfig']['DestinationS3Uri']}")
        return scored

    @runs("Processing")
    def _processing(self, step: graph_of.Step) -> list[str]:
        name, request = self._job_request(step, "ProcessingJobName")
        if not self._from_cache(step, request):
            job = self._job(step, name, request["AppSpecification"]["ImageUri"])
            self.scope.properties[step.name] = run_processing(job, request)
        return self._hit_line(step) + self._property_file_metrics(step)

    @runs("Training")
    def _training(self, step: graph_of.Step) -> list[str]:
        name, request = self._job_request(step, "TrainingJobName")
        if self._from_cache(step, request):
            return self._hit_line(step) + self._final_metrics(step)
        if is_notebook_job(request):
            # Its driver runs papermill in a fresh process, never in a warm step host.
            folder = self._job_folder(step)
            job = Job(step.name, name, folder, self.s3, FreshProcesses(), Path(sys.executable))
            self.scope.properties[step.name] = run_notebook_job(job, request)
            executed = sorted((folder / "opt" / "ml" / "output" / "data").glob("*.ipynb"))
            return [f"output notebook: {path}" for path in executed]
        job = self._job(step, name, request["AlgorithmSpecification"]["TrainingImage"])
        self.scope.properties[step.name] = run_training(job, request, self.target.region)
        return self._final_metrics(step)

    def _job_request(self, step: graph_of.Step, name_variable: str) -> tuple[str, dict]:
        """The job's name, and its request resolved (the name is an execution variable it may read)."""
        name = self._job_name(step)
        self.scope.execution[name_variable] = name
        return name, self.scope.resolve(step.arguments, step.name)

    def _job_folder(self, step: graph_of.Step) -> Path:
        folder = self.workspace / step.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _job(self, step: graph_of.Step, name: str, image: str) -> Job:
        return Job(step.name, name, self._job_folder(step), self.s3, self.launcher, self.interpreters(image))

    def _hit_line(self, step: graph_of.Step) -> list[str]:
        """The first output line of a cache hit, naming the execution it came from."""
        return [f"cache hit: execution {self.cache_hits[step.name]}"] if step.name in self.cache_hits else []

    def _final_metrics(self, step: graph_of.Step) -> list[str]:
        metrics = self.scope.properties[step.name]["FinalMetricDataList"]
        return [f"{m['MetricName']} = {short(m['Value'])}" for m in metrics]

    def _from_cache(self, step: graph_of.Step, request: dict) -> bool:
        """SageMaker's step cache (caching.py): True when an earlier run's properties were handed on."""
        if not cacheable(step.type, step.document):
            return False
        self.cache_keys[step.name] = cache_key(step.type, request)
        try:
            expire_after = expiry(step.document)
        except ValueError as error:
            raise StepError(step.name, str(error)) from None
        pipeline = self.scope.execution["PipelineArn"]
        key = self.cache_keys[step.name]
        hit = earlier_run(self.workspace.parent, pipeline, step.name, key, expire_after, datetime.now(UTC))
        if hit is None or not self.use_cache:
            return False
        self.scope.properties[step.name] = hit.properties
        self.cache_hits[step.name] = hit.execution_id
        return True

    @runs("Tuning")
    def _tuning(self, step: graph_of.Step) -> list[str]:
        # Tuning job names have at most 32 characters.
        name = f"{self.execution_id}-{step.name}"[:23] + "-" + secrets.token_hex(4)
        request = self.scope.resolve(step.arguments, step.name)
        if self._from_cache(step, request):
            return self._hit_line(step) + tuning_summary(self.scope.properties[step.name], request)
        definition = request["TrainingJobDefinition"]

        def run_trial(trial: str, tuned: dict[str, str]) -> dict:
            """One trial: the CreateTrainingJob request AMT makes from the job definition."""
            training = {
                "TrainingJobName": trial,
                "AlgorithmSpecification": definition["AlgorithmSpecification"],
                "HyperParameters": {**definition.get("StaticHyperParameters", {}), **tuned},
                **{key: definition[key] for key in TRIAL_FIELDS if key in definition},
            }
            folder = self.workspace / step.name / trial
            folder.mkdir(parents=True, exist_ok=True)
            python = self.interpreters(definition["AlgorithmSpecification"]["TrainingImage"])
            job = Job(step.name, trial, folder, self.s3, self.launcher, python)
            return run_training(job, training, self.target.region)

        tuner = Tuner(step.name, request, name, run_trial, lambda said: self.progress.update(step.name, said))
        properties = tuner.run()
        self.scope.properties[step.name] = properties
        # Kept beside the trials: what `mlops report tuning` reads for a local run.
        _write_json(self.workspace / step.name / "tuning-job.json", properties)
        return tuning_summary(properties, request)

    @runs("Condition")
    def _condition(self, step: graph_of.Step) -> list[str]:
        outputs, outcome = [], True
        for condition in step.arguments.get("Conditions", []):
            holds = self.scope.condition(condition, step.name)
            outcome = outcome and holds
            outputs.append(f"{self._describe_condition(condition, step.name)}: {str(holds).lower()}")
        self.scope.properties[step.name] = {"Outcome": outcome}
        branch = step.arguments.get("IfSteps" if outcome else "ElseSteps", [])
        outputs.append("next: " + (", ".join(s["Name"] for s in branch) or "nothing"))
        return outputs

    def _describe_condition(self, condition: dict, step: str) -> str:
        symbols = {
            "Equals": "==",
            "GreaterThan": ">",
            "GreaterThanOrEqualTo": ">=",
            "LessThan": "<",
            "LessThanOrEqualTo": "<=",
        }
        kind = condition["Type"]
        if kind in symbols:
            left = self.scope.resolve(condition["LeftValue"], step)
            right = self.scope.resolve(condition["RightValue"], step)
            return f"{short(left)} {symbols[kind]} {short(right)}"
        return kind

    @runs("RegisterModel")
    def _register(self, step: graph_of.Step) -> list[str]:
        request = self.scope.resolve(step.arguments, step.name)
        arn = self.sagemaker.create_model_package(**request)["ModelPackageArn"]
        described = self.sagemaker.describe_model_package(ModelPackageName=arn)
        self.scope.properties[step.name] = described
        self.registered.append(arn)
        status = described.get("ModelApprovalStatus", request.get("ModelApprovalStatus"))
        return [f"version {described.get('ModelPackageVersion', arn.rsplit('/', 1)[-1])}", status]

    def _read_property_file(self, step: str, name: str) -> Any:
        declared = self.graph.step(step).property_files[name]
        outputs = self.scope.properties[step]["ProcessingOutputConfig"]["Outputs"]
        output = next(o for o in outputs if o["OutputName"] == declared["OutputName"])
        uri = f"{output['S3Output']['S3Uri'].rstrip('/')}/{declared['FilePath']}"
        document = self._read_s3_json(uri)
        self.property_files.setdefault(step, {})[name] = document
        return document

    def _read_s3_json(self, uri: str) -> Any:
        try:
            return json.loads(aws.read_s3(uri))
        except (ValueError, ClientError) as error:
            raise Unreadable(f"{uri}: {error}") from None

    def _property_file_metrics(self, step: graph_of.Step) -> list[str]:
        """The model-quality metrics ({"<problem>_metrics": {name: {"value": x}}}) in its property files."""
        lines = []
        for name in step.property_files:
            try:
                document = self._read_property_file(step.name, name)
            except Unreadable as error:  # a cache hit on outputs since deleted fails here, as in AWS
                raise StepError(step.name, f"cannot read its property file {name!r}: {error}") from None
            lines += [
                f"{metric} = {short(value)}" for metric, value in contract.model_metrics(document).items()
            ]
        return lines


def _write_json(path: Path, document: dict) -> None:
    """A run's record, as the service's responses look (timestamps in ISO 8601)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, default=lambda value: value.isoformat(), indent=2))


class FailStepReached(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def warm_up(definition: dict, launcher: Launcher, interpreters: Interpreters) -> None:
    """Each image's environment (built on its first run), and its host started: it imports the step
    libraries while the rest of the run is prepared."""
    for image in {found.image for found in step_scripts(definition) if isinstance(found.image, str)}:
        launcher.prepare(interpreters(image))


def run_definition(
    definition: dict,
    overrides: list[dict],
    target: aws.AwsTarget,
    workspace: Path,
    progress: Progress,
    launcher: Launcher | None = None,
    description: str = "",
    pipeline_name: str = "",
    use_cache: bool = True,
    interpreters: Interpreters | None = None,
) -> RunResult:
    """Check the definition, then run it; MlopsError before any step if it cannot run. Without
    use_cache, no step is taken from an earlier run (each still records its cache key)."""
    local = LocalRun(definition, overrides, target, workspace, description, pipeline_name, use_cache)
    if launcher is not None:
        return local.run(progress, launcher, interpreters)
    with launchers.started() as started:
        return local.run(progress, started)
