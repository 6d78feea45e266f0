"""The package's tests run against a real project: the template in this repository, rendered once
per session with the answers of one preset (MLOPS_TEST_PRESET; `make test` at the repository root
runs the suite once per preset), committed, with its pipeline snapshot, and made the current
directory, as `mlops` is used.

Fixtures for a project's own tests come from sagemaker_gitops.pytest_plugin (loaded by its entry
point); the ones here stand in for what the package talks to: AWS (moto), GitHub, git remotes.
"""

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import boto3
import pytest
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from copier import run_copy
from moto import mock_aws
from sagemaker_gitops.pytest_plugin import isolate_from_aws

TEMPLATE = Path(__file__).resolve().parents[2]
# Between them, the presets take every branch the package has for a project's shape: built-in
# XGBoost (a stand-in for its image) and a scikit-learn script; training once and tuning; an
# endpoint alone and an endpoint with batch scoring and monitoring; with and without a notebook
# workflow.
PRESETS = {
    "xgboost": {},  # the template's defaults: regression, built-in XGBoost, no tuning
    "sklearn-tuning": {
        "problem_type": "binary_classification",
        "framework": "sklearn",
        "enable_tuning": True,
        "tuning_strategy": "Bayesian",
        "tuning_max_jobs": 2,
        "enable_batch": True,
        "enable_notebooks": True,
        "enable_monitoring": True,
    },
}
PRESET = os.environ.get("MLOPS_TEST_PRESET", "xgboost")
if PRESET not in PRESETS:
    raise pytest.UsageError(f"MLOPS_TEST_PRESET={PRESET!r}: one of {', '.join(PRESETS)}")


def run_git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def make_project() -> Path:
    """The preset's project, as `copier copy` and its post-copy task leave it, committed."""
    root = Path(tempfile.mkdtemp(prefix=f"mlops-{PRESET}-")) / "my-model"
    run_copy(
        str(TEMPLATE),
        root,
        data=PRESETS[PRESET],
        defaults=True,
        vcs_ref="HEAD",  # the working tree, uncommitted changes included
        quiet=True,
        skip_tasks=True,  # its uv lock: this suite runs in the package's own environment
    )
    os.chdir(root)
    from sagemaker_gitops.build.pipelines import write_snapshot

    write_snapshot()
    run_git(root, "init", "--quiet", "--initial-branch=main")
    run_git(root, "add", "--all")
    run_git(root, "commit", "--quiet", "-m", "generated")
    return root


PROJECT = make_project()
# The package's modules, imported once the project is the current directory and AWS is faked.
from sagemaker_gitops import aws  # noqa: E402
from sagemaker_gitops.build.pipelines import build  # noqa: E402
from sagemaker_gitops.config import load_config  # noqa: E402
from sagemaker_gitops.desired_state import STAGES, set_model_package  # noqa: E402
from sagemaker_gitops.local import endpoints  # noqa: E402
from sagemaker_gitops.project import load_step, project  # noqa: E402
from sagemaker_gitops.stages import deploy, stacks, staging_evidence  # noqa: E402

BUILT_FROM = run_git(PROJECT, "rev-parse", "HEAD")  # the commit the registry's versions record
SAMPLE_SHA256 = sha256((PROJECT / "data" / "sample.csv").read_bytes()).hexdigest()  # and the data
ANSWERS = yaml.safe_load((PROJECT / ".copier-answers.yml").read_text())
TUNING = ANSWERS["enable_tuning"]
isolate_from_aws(ANSWERS["aws_region"])
# Tests only a tuning project can run; the xgboost preset skips them, sklearn-tuning runs them.
tuning_only = pytest.mark.skipif(not TUNING, reason="the preset trains once: see MLOPS_TEST_PRESET")
BATCH = ANSWERS["enable_batch"]
batch_only = pytest.mark.skipif(not BATCH, reason="the preset has no batch scoring: see MLOPS_TEST_PRESET")
MONITORING = ANSWERS["enable_monitoring"]
monitoring_only = pytest.mark.skipif(
    not MONITORING, reason="the preset monitors nothing: see MLOPS_TEST_PRESET"
)
NOTEBOOKS = ANSWERS["enable_notebooks"]
notebooks_only = pytest.mark.skipif(
    not NOTEBOOKS, reason="the preset runs no notebooks: see MLOPS_TEST_PRESET"
)
# A GateThreshold stricter than build/config.yml's: a run may tighten the reviewed gate, not loosen it.
GATE = load_config(PROJECT / "build" / "config.yml").gate
TIGHTER_GATE = str(GATE.threshold / 2 if GATE.lower_is_better else (GATE.threshold + 1) / 2)
# Tests whose subject does not depend on the project's shape run on the defaults' preset only.
any_shape = pytest.mark.skipif(PRESET != "xgboost", reason="the same for any project: runs on preset xgboost")


def pytest_report_header() -> str:
    return f"project: {PROJECT} (preset {PRESET}: {PRESETS[PRESET] or 'the defaults'})"


def pytest_sessionfinish() -> None:
    shutil.rmtree(PROJECT.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def answers() -> dict:
    """The project's copier answers."""
    return ANSWERS


@pytest.fixture
def repo(tmp_path):
    """A scratch copy of the project (pyproject.toml, .gitignore, build/, data/, deploy/, infra/,
    notebooks/ when it has them; no copier answers), committed, with no model named in deploy/: the
    record the deploy half reads."""
    path = tmp_path / "project"
    for folder in ("build", "data", "deploy", "infra", *(["notebooks"] if NOTEBOOKS else [])):
        shutil.copytree(PROJECT / folder, path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT / "pyproject.toml", path)
    shutil.copy(PROJECT / ".gitignore", path)  # bytecode and local runs stay out of git, as generated
    for stage in STAGES:
        set_model_package(path / "deploy" / f"{stage}.yml", "")
    run_git(path, "init", "--quiet", "--initial-branch=main")
    run_git(path, "add", "--all")
    run_git(path, "commit", "--quiet", "-m", "generated")
    return path


@pytest.fixture
def git(repo):
    """git(*args) in the test repository; returns its output."""
    return lambda *args: run_git(repo, *args)


@pytest.fixture
def record(repo, git):
    """record(stage, arn): what `mlops promote` (staging) or a merged promotion PR (prod) does."""

    def commit(stage: str, arn: str) -> None:
        set_model_package(repo / "deploy" / f"{stage}.yml", arn)
        git("commit", "--quiet", "--all", "-m", f"{stage} serves {arn}")
        if stage == "staging" and arn:  # and its smoke test passed, as `deploy staging` records it
            sagemaker = boto3.client("sagemaker", region_name=aws.region())
            try:
                package = sagemaker.describe_model_package(ModelPackageName=arn)
            except (ClientError, BotoCoreError):
                return  # no such version (or no registry at all), for a refusal: nothing passed
            sha256 = package["CustomerMetadataProperties"].get("model_sha256", "")
            staging_evidence.record(package, sha256, "e", "ok")

    return commit


@pytest.fixture
def served_package():
    """served_package(stage): the model package the stage's endpoint really serves (endpoint -> model)."""

    def lookup(stage: str) -> str:
        sagemaker = boto3.client("sagemaker", region_name=aws.region())
        endpoint = stacks.stack_output(deploy.stack_name(stage), "EndpointName")
        config_name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        variant = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]
        return sagemaker.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"][
            "ModelPackageName"
        ]

    return lookup


@pytest.fixture(scope="session")
def local_runtime(tmp_path_factory):
    """The emulator's SageMaker Runtime (local/endpoints.py) in this process, over moto: endpoints
    deployed in a test really serve, in their image's serving stack and environment. Containers
    outlive a test (one per image, model bytes and Environment), so later tests reuse them."""
    server, containers = endpoints.serve(tmp_path_factory.mktemp("endpoints"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{server.server_address[1]}")
        yield containers
    server.shutdown()
    server.server_close()
    containers.close()


@pytest.fixture(scope="session")
def registered_container() -> dict:
    """The container the project's pipeline registers its models with: image and Environment."""
    container = next(_containers_in(build(offline=True).definition()))
    return {"Image": container["Image"], "Environment": container.get("Environment", {})}


def _containers_in(node):
    """Each model container a definition registers (inside condition steps too)."""
    if isinstance(node, dict):
        if "InferenceSpecification" in node:
            yield node["InferenceSpecification"]["Containers"][0]
        for value in node.values():
            yield from _containers_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _containers_in(value)


def create_stage_pipelines(sagemaker, role_arn: str) -> None:
    """The pipelines the stages' schedules start (batch scoring, monitoring), as `mlops pipeline
    upsert` leaves them, for the preset's project."""
    for kind in ("batch", "monitor"):
        if kind in project().pipelines:
            sagemaker.create_pipeline(
                PipelineName=project().pipeline_name_of(kind),
                PipelineDefinition=json.dumps(stage_pipeline_definition(kind)),
                RoleArn=role_arn,
            )


@functools.cache
def stage_pipeline_definition(kind: str) -> dict:
    return build(offline=True, kind=kind).definition()


def sample_baseline(processing_dir: Path, put) -> str:
    """The sample's data-quality baseline (as Preprocess wrote it in processing_dir) put where a
    run keeps it, by put(key, body) -> URL: the folder's URL."""
    for name in ("statistics", "constraints"):
        body = (processing_dir / "data" / "quality" / f"{name}.json").read_bytes()
        url = put(f"{project().slug}/executions/sample/preprocess/data/quality/{name}.json", body)
    return url.rsplit("/", 1)[0] + "/"


def gate_constraints(put) -> dict:
    """ModelMetrics.ModelQuality's Constraints: build/config.yml's gate as Evaluate writes it
    (constraints.json, its threshold as required), put where a run keeps it by put(key, body)."""
    config = load_config(project().config_path)
    gate = config.gate
    rule = load_step("model_quality").quality_constraints(
        config.problem_type, gate.metric, gate.direction, gate.threshold
    )
    url = put(f"{project().slug}/executions/sample/evaluation/constraints.json", json.dumps(rule).encode())
    return {"ContentType": "application/json", "S3Uri": url}


def data_quality_metrics(folder: str) -> dict:
    """ModelMetrics.ModelDataQuality of a baseline folder, as the pipeline registers it."""
    return {
        name: {"ContentType": "application/json", "S3Uri": f"{folder}{name.lower()}.json"}
        for name in ("Statistics", "Constraints")
    }


@pytest.fixture
def registry(model_tarball, processing_dir, local_runtime, registered_container, tmp_path):
    """moto with the project's bucket and model group; register(...) adds a version as the
    pipeline registers it: the project's serving image and Environment, and the archive Evaluate
    keeps (a real model trained on the sample data, features.json, the serving code under code/).
    Deployed, it is served by local_runtime.

    register(status, metrics, artifact=bytes, environment={name: value or None}, steps={file: text})
    registers other model bytes, records other training data (data_sha256=...) and its
    data-quality baseline (data_baseline=<folder URL>; by default the sample's, as Preprocess
    writes it; None: none, as a version registered before baselines were), a classifier's
    labels (labels=[...], in evaluation.json), the rule its requests are read by (features=...),
    changes the container's Environment (None removes a variable), or serves build/steps with
    files replaced; commit= records another source than the project's
    HEAD ("<sha>-dirty", "unknown")."""
    with mock_aws():
        target = aws.resolve_target()
        aws.create_bucket(target.bucket)
        s3 = boto3.client("s3", region_name=target.region)
        sagemaker = boto3.client("sagemaker", region_name=target.region)
        sagemaker.create_model_package_group(ModelPackageGroupName=project().model_package_group)
        create_stage_pipelines(sagemaker, target.role_arn)

        def put(key: str, body: bytes) -> str:
            s3.put_object(Bucket=target.bucket, Key=key, Body=body)
            return f"s3://{target.bucket}/{key}"

        @functools.cache
        def served_artifact(replaced: frozenset[tuple[str, str]]) -> Path:
            """What Evaluate keeps and registers: the sample's model, features.json and the serving
            code (build/steps/, with files replaced) under code/."""
            steps = tmp_path / f"steps-{sha256(json.dumps(sorted(replaced)).encode()).hexdigest()[:8]}"
            shutil.copytree(project().steps_dir, steps, dirs_exist_ok=True)
            for name, text in replaced:
                (steps / name).write_text(text)
            code = [steps / "inference.py", steps / "features.py"]
            features_json = processing_dir / "test" / "features.json"
            evaluate = load_step("evaluate")
            return evaluate.served_model(model_tarball, features_json, code, steps / "served.tgz")

        def register(
            status: str = "Approved",
            metrics: dict[str, float] | None = None,
            artifact: bytes | None = None,
            environment: dict[str, str | None] | None = None,
            steps: dict[str, str] | None = None,
            commit: str | None = None,
            labels: list | None = None,
            data_sha256: str | None = None,
            features: dict | None = None,
            data_baseline: str | None = "",
        ) -> str:
            extra = {"ModelMetrics": {}}
            if metrics or labels or features:
                report = {"test_metrics": {name: {"value": value} for name, value in (metrics or {}).items()}}
                if labels:
                    report["labels"] = {"column": "target", "classes": labels}
                if features:
                    report["features"] = features
                key = f"reports/{sha256(json.dumps(report).encode()).hexdigest()[:12]}.json"
                uri = put(key, json.dumps(report).encode())
                statistics = {"ContentType": "application/json", "S3Uri": uri}
                extra["ModelMetrics"]["ModelQuality"] = {"Statistics": statistics}
            if data_baseline == "":
                data_baseline = sample_baseline(processing_dir, put)
            if data_baseline:  # the folder of a data-quality baseline, as Preprocess writes it
                extra["ModelMetrics"]["ModelDataQuality"] = data_quality_metrics(data_baseline)
                # registered since the same release: the gate as model-quality constraints
                extra["ModelMetrics"].setdefault("ModelQuality", {})["Constraints"] = gate_constraints(put)
            if artifact is None:
                artifact = served_artifact(frozenset((steps or {}).items())).read_bytes()
            checksum = sha256(artifact).hexdigest()
            served = dict(registered_container["Environment"])
            for name, value in (environment or {}).items():
                served.pop(name) if value is None else served.update({name: value})
            container = {
                "Image": registered_container["Image"],
                "ModelDataUrl": put(f"{project().kept_models_key}/{checksum}/model.tar.gz", artifact),
                "Environment": served,
            }
            return sagemaker.create_model_package(
                ModelPackageGroupName=project().model_package_group,
                ModelApprovalStatus=status,
                InferenceSpecification={
                    "Containers": [container],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
                # What the pipeline records: the artifact's checksum, from evaluation.json.
                CustomerMetadataProperties={
                    "model_sha256": checksum,
                    "git_commit": commit or BUILT_FROM,
                    "gate_metric": load_config(project().config_path).gate.metric,
                    # What Preprocess read: data/sample.csv unless said otherwise.
                    "data_sha256": data_sha256 or SAMPLE_SHA256,
                },
                **{name: value for name, value in extra.items() if value},
            )["ModelPackageArn"]

        yield register


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """A stand-in HTTP server on 127.0.0.1 (a free port) for the block, stopped at its end."""
    server = endpoints.serve_in_background(ThreadingHTTPServer(("127.0.0.1", 0), handler))
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class FakeGitHub(BaseHTTPRequestHandler):
    """The REST endpoints this project calls, answered like GitHub does; every request recorded."""

    # Shared by the handler instances of one server (http.server makes one per request).
    requests: ClassVar[list[dict]] = []
    open_pulls: ClassVar[list[dict]] = []
    open_issues: ClassVar[list[dict]] = []

    def _answer(self, status: int, payload) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        sent = json.loads(self.rfile.read(length)) if length else None
        self.requests.append(
            {"method": self.command, "path": self.path, "json": sent, "auth": self.headers["Authorization"]}
        )
        return sent

    def do_GET(self):  # http.server's naming
        self._record()
        self._answer(200, self.open_issues if "/issues" in self.path else self.open_pulls)

    def do_POST(self):
        sent = self._record()
        path = self.path.split("?")[0]
        if path.endswith("/pulls"):
            self.open_pulls.append({"number": 7, "head": {"ref": sent["head"]}})
            self._answer(201, {"number": 7, "html_url": "https://github.example/pull/7"})
        elif path.endswith("/issues"):
            issue = {
                "number": 12,
                "title": sent["title"],
                "html_url": "https://github.example/issues/12",
                "user": {"login": "github-actions[bot]"},  # the token's identity, as in drift.yml
            }
            self.open_issues.append(issue)
            self._answer(201, issue)
        else:  # a comment
            self._answer(201, {"id": 1})

    def do_PATCH(self):
        sent = self._record()
        number = int(re.search(r"/(\d+)$", self.path).group(1))
        if sent.get("state") == "closed":
            self.open_issues[:] = [i for i in self.open_issues if i["number"] != number]
        kind = "issues" if "/issues/" in self.path else "pull"
        self._answer(200, {"number": number, "html_url": f"https://github.example/{kind}/{number}"})

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def github(monkeypatch, tmp_path, repo, git):
    """GITHUB_* pointing at a fake API; an `origin` remote (a bare repository) that accepts pushes."""
    FakeGitHub.requests, FakeGitHub.open_pulls, FakeGitHub.open_issues = [], [], []
    with serving(FakeGitHub) as server:
        monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("GITHUB_TOKEN", "test-token")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/my-model")
        git("init", "--quiet", "--bare", str(tmp_path / "origin.git"))
        git("remote", "add", "origin", str(tmp_path / "origin.git"))
        yield FakeGitHub


# --- reading the reports' pages ---------------------------------------------------------------


def embedded_spec(page: str) -> dict:
    """The Vega-Lite specification the page hands to vegaEmbed."""
    return json.JSONDecoder().raw_decode(page, page.rindex("const spec = ") + len("const spec = "))[0]


def walk(node):
    """Every dict inside a specification."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
