"""The fixtures a project's tests use, registered with pytest by this package (entry point `pytest11`).

A project's tests then read as its specification: they ask for `config`, `definition`,
`processing_dir`, `model_tarball`, `evaluate`, `mlops` or `running_emulator` and test the team's
own code with them, on the bundled sample data, against no real AWS account.

Isolation, for every test session in a project's environment: AWS credentials are fake ones,
no profile or endpoint of the developer's is used, the emulator's state lives in a scratch folder
(a developer's running emulator is never seen, stopped or changed), and no test reaches GitHub.
"""

import csv
import io
import json
import os
import random
import re
import shutil
import sys
import tarfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import contract
from .errors import MlopsError
from .project import load_step, project

AWS_VARIABLES = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MLOPS_ARTIFACT_BUCKET", "MLOPS_SAGEMAKER_ROLE_ARN")
GITHUB_VARIABLES = ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL")

# The Preprocess option that keeps the splits in S3 (build/steps/preprocess.py).
KEEP_SPLITS = "--keep-splits-under"


def isolate_from_aws(region: str) -> None:
    """Fake credentials and `region` for everything the tests start (the SDK reads it at import)."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=region,
        AWS_REGION=region,
        SAGEMAKER_VALIDATE_ROLE="false",
    )
    for variable in AWS_VARIABLES:
        os.environ.pop(variable, None)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args) -> None:
    """Before any conftest.py or test module imports the SDK."""
    try:
        region = project().region
    except MlopsError:  # not in a project (the package's own tests choose one themselves)
        region = "us-east-1"
    isolate_from_aws(region)


def pytest_sessionstart(session) -> None:
    """A project's tests read its data and config: data its preprocessing refuses stops them at
    once with preprocessing's one-line reason, not a traceback in every test that reads it."""
    try:
        current = project()
    except MlopsError:
        return  # not in a project: no data of its to check
    reason = refused_data(current.root / "data", current.config_path)
    if reason:
        pytest.exit(f"data/sample.csv: {reason}", returncode=1)


def refused_data(data: Path, config_path: Path) -> str:
    """Why build/steps/preprocess.py would refuse the CSV files in `data` under build/config.yml
    ("" when it would take them): its own checks, run on them."""
    from .config import load_config
    from .stages import smoke

    if not any(data.glob("*.csv")):
        return ""
    try:
        smoke.read_data(data, load_config(config_path))
    except SystemExit as refused:
        return str(refused.code).removeprefix("preprocess: ")
    except MlopsError as error:
        return str(error)
    return ""


@pytest.fixture(scope="session", autouse=True)
def local_state(tmp_path_factory):
    """The tests' own .mlops/: a developer's running emulator is never seen, stopped or changed."""
    os.environ["MLOPS_LOCAL_DIR"] = str(tmp_path_factory.mktemp("mlops-local"))
    yield os.environ["MLOPS_LOCAL_DIR"]
    from .local import emulator

    emulator.forget_git_record()  # the session's branches in the project's repository
    os.environ.pop("MLOPS_LOCAL_DIR")


@pytest.fixture(autouse=True)
def no_github(monkeypatch):
    """No test reaches GitHub unless it sets GITHUB_* itself."""
    for name in GITHUB_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def running_emulator():
    """One emulator per test module; stopped at its end, so no other module's moto mock sees it."""
    from .local import emulator

    found, _ = emulator.up()
    yield found
    emulator.down()


class Emulated:
    """The running emulator, as a test reads it: clients, S3 objects, the Model Registry."""

    def __init__(self, found) -> None:
        self.found = found

    def client(self, service: str):
        import boto3

        from . import aws

        return boto3.client(service, endpoint_url=self.found.url, region_name=aws.region())

    def read_s3(self, uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()

    @property
    def bucket(self) -> str:
        """The project's bucket in the emulator."""
        from . import aws
        from .local import emulator

        with emulator.routed(self.found):
            return aws.resolve_target().bucket

    def put_s3(self, key: str, body: bytes) -> str:
        """Put an object in the project's bucket; its s3:// URI."""
        bucket = self.bucket  # resolved once: each lookup asks the emulator's STS
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        return f"s3://{bucket}/{key}"

    def model_packages(self) -> list[dict]:
        """The versions in the project's model package group, oldest first."""
        pages = self.client("sagemaker").get_paginator("list_model_packages")
        group = project().model_package_group
        pages = pages.paginate(ModelPackageGroupName=group)
        return [package for page in pages for package in page["ModelPackageSummaryList"]]


@pytest.fixture(scope="module")
def emulated(running_emulator) -> Emulated:
    """The module's running emulator, with helpers to read what a run left in it."""
    return Emulated(running_emulator)


@dataclass(frozen=True)
class LocalRun:
    """What one `mlops local run` printed, and the registry's versions before and after it."""

    code: int
    out: str
    err: str
    packages_before: list[dict]
    packages_after: list[dict]

    @property
    def execution_id(self) -> str:
        return re.search(r"local execution (\w+)", self.out + self.err).group(1)

    @property
    def workspace(self) -> Path:
        """Where the run's steps worked: .mlops/runs/<execution id>/."""
        return Path(re.search(r"workspace: (\S+)", self.out + self.err).group(1))


@pytest.fixture(scope="module")
def local_run(emulated, mlops):
    """local_run(*args) -> LocalRun: `mlops local run *args` on the module's emulator."""

    def run(*args: str) -> LocalRun:
        before = emulated.model_packages()
        code, out, err = mlops("local", "run", *args)
        return LocalRun(code, out, err, before, emulated.model_packages())

    return run


@pytest.fixture(scope="module")
def gate_that_cannot_pass(config, tmp_path_factory) -> list[str]:
    """`mlops local run` arguments whose gate cannot pass: a threshold within build/config.yml's
    rule (the CLI refuses others) that no model meets (no error is 0), and for a score, the sample
    data with its labels shuffled (a score of 1.0 is out of reach once nothing can be learnt),
    given as --data."""
    args = ["--param", f"{contract.GATE_THRESHOLD}={1e-9 if config.gate.lower_is_better else 1.0}"]
    if not config.gate.lower_is_better:
        with (project().root / "data" / "sample.csv").open(newline="") as sample:
            rows = list(csv.DictReader(sample))
        target = config.target_column
        labels = [row[target] for row in rows]
        random.Random(7).shuffle(labels)
        shuffled = io.StringIO()
        writer = csv.DictWriter(shuffled, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**row, target: label} for row, label in zip(rows, labels, strict=True))
        path = tmp_path_factory.mktemp("data") / "shuffled.csv"
        path.write_text(shuffled.getvalue())
        args += ["--data", str(path)]
    return args


def cli(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process as a user would: cli("local", "run") -> (exit code, stdout, stderr)."""
    from .cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.setattr(sys, "argv", ["mlops", *args])
        with pytest.raises(SystemExit) as exited:
            main()
    return exited.value.code or 0, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def mlops():
    """mlops("local", "run") -> (exit code, stdout, stderr): the CLI, in-process."""
    return cli


@pytest.fixture
def use_project(monkeypatch):
    """use_project(root=..., **settings): for one test, the CLI works on this project moved to
    `root` (a scratch copy) or with [tool.mlops] settings changed."""

    def use(root: Path | None = None, **settings) -> None:
        monkeypatch.setattr(sys.modules[project.__module__], "_current", project().but(root=root, **settings))

    return use


@pytest.fixture(scope="session")
def read_template():
    """read_template(path) -> the CloudFormation template as data (stacks.read_template)."""
    from .stages.stacks import read_template

    return read_template


@pytest.fixture(scope="session")
def config():
    """build/config.yml, validated."""
    from .config import load_config

    return load_config(project().config_path)


@pytest.fixture(scope="session")
def step():
    """Import a step script: step("preprocess").main([...])."""
    return load_step


@pytest.fixture(scope="session")
def definition():
    """The pipeline definition, built offline as `mlops pipeline definition` builds it."""
    from .build.pipelines import build

    return build(offline=True).definition()


@pytest.fixture(scope="session")
def preprocess_arguments(definition) -> list[str]:
    """The Preprocess step's container arguments as the definition passes them (a pipeline
    parameter at its default), so the tests preprocess as the pipeline does; but the splits stay
    on this machine (--keep-splits-under, which puts them in S3, is left out)."""
    defaults = {p["Name"]: str(p.get("DefaultValue", "")) for p in definition.get("Parameters", [])}
    step = next(s for s in definition["Steps"] if s["Name"] == contract.PREPROCESS)
    arguments = [
        defaults[argument["Get"].removeprefix("Parameters.")] if isinstance(argument, dict) else argument
        for argument in step["Arguments"]["AppSpecification"]["ContainerArguments"]
    ]
    if KEEP_SPLITS in arguments:
        at = arguments.index(KEEP_SPLITS)
        del arguments[at : at + 2]
    return arguments


@pytest.fixture(scope="session")
def processing_dir(tmp_path_factory, preprocess_arguments, step):
    """/opt/ml/processing after the preprocess step ran on data/sample.csv."""
    base = tmp_path_factory.mktemp("processing")
    (base / "input").mkdir()
    (base / "input" / "sample.csv").write_bytes((project().root / "data" / "sample.csv").read_bytes())
    step("preprocess").main(["--base-dir", str(base), *preprocess_arguments])
    return base


@pytest.fixture(scope="session")
def training_job(definition, config) -> dict:
    """The CreateTrainingJob arguments of the Train step; for a Tune step, one trial's: its job
    definition with each tuned hyperparameter at its build/config.yml value."""
    steps = {step["Name"]: step for step in definition["Steps"]}
    if contract.TRAIN in steps:
        return steps[contract.TRAIN]["Arguments"]
    job = dict(steps[contract.TUNE]["Arguments"]["TrainingJobDefinition"])
    tuned = {name: json.dumps(config.hyperparameters[name]) for name in config.tuning.ranges}
    job["HyperParameters"] = {**job.pop("StaticHyperParameters"), **tuned}
    return job


@pytest.fixture(scope="session")
def train(training_job, processing_dir, step):
    """train(ml): train.py run as the training job runs it, in SageMaker's layout under `ml`
    (/opt/ml): the job's hyperparameters.json, the sample's train and validation channels."""

    def run(ml: Path) -> None:
        (ml / "input" / "config").mkdir(parents=True)
        hyperparameters = json.dumps(training_job["HyperParameters"])
        (ml / "input" / "config" / "hyperparameters.json").write_text(hyperparameters)
        for channel in ("train", "validation"):
            (ml / "input" / "data" / channel).mkdir(parents=True)
            source = processing_dir / channel / f"{channel}.csv"
            (ml / "input" / "data" / channel / source.name).write_bytes(source.read_bytes())
        step("train").main(["--input-dir", str(ml / "input"), "--model-dir", str(ml / "model")])

    return run


@pytest.fixture(scope="session")
def model_tarball(tmp_path_factory, train):
    """model.tar.gz as the training job leaves it, from train.py on the sample splits."""
    ml = tmp_path_factory.mktemp("ml")
    train(ml)
    tarball = ml / "output" / "model.tar.gz"
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as archive:
        for path in (ml / "model").iterdir():
            archive.add(path, arcname=path.name)
    return tarball


@pytest.fixture
def evaluate(tmp_path, processing_dir, model_tarball, config):
    """Run evaluate.py on the model trained from the sample data, as the pipeline runs it:
    evaluate(threshold) -> report; evaluate(threshold, beat_baseline_by=x) with another margin,
    champion_model_url=URL against a champion."""
    runs = iter(range(1_000))

    def run(threshold: float, **gate) -> dict:
        out = tmp_path / f"evaluate-{next(runs)}"
        return run_evaluate(processing_dir, model_tarball, config, threshold, out, **gate)

    return run


def run_evaluate(
    processing_dir: Path, model_tarball: Path, config, threshold: float, out: Path, **gate
) -> dict:
    """Run evaluate.py in a fresh processing layout and return evaluation.json (the margin over
    the naive answer: build/config.yml's, unless beat_baseline_by= says otherwise; a champion:
    champion_model_url=)."""
    (out / "model").mkdir(parents=True)
    (out / "model" / model_tarball.name).write_bytes(model_tarball.read_bytes())
    shutil.copytree(processing_dir / "test", out / "test")
    options = {
        "--base-dir": str(out),
        "--problem-type": config.problem_type,
        "--gate-metric": config.gate.metric,
        "--gate-direction": config.gate.direction,
        "--gate-threshold": str(threshold),
    }
    beat_by = gate.get("beat_baseline_by", config.gate.beat_baseline_by)
    if beat_by is not None:
        options["--beat-baseline-by"] = str(beat_by)
    if gate.get("champion_model_url"):
        options["--champion-model-url"] = gate["champion_model_url"]
    load_step("evaluate").main([item for option in options.items() for item in option])
    return json.loads((out / "evaluation" / "evaluation.json").read_text())
