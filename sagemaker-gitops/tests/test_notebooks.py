"""Notebook steps: build/notebooks.yml is checked against the notebooks before anything runs; a
notebook job step builds offline, the same twice, its files staged under a content hash for
`upsert` to upload; a notebook job runs here as its driver runs it; and a project's notebook
workflow is scheduled as its block says and its output notebooks are rendered to HTML."""

import ast
import io
import json
import re
import tarfile
import time

import boto3
import conftest
import pytest
import yaml
from conftest import any_shape, notebooks_only
from sagemaker_gitops import aws
from sagemaker_gitops.build.notebooks import load_workflow
from sagemaker_gitops.definition.step_code import StepCode
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.project import project
from sagemaker_gitops.stages import pipeline_schedules
from sagemaker_gitops.stages.schedules import NOTEBOOKS
from sagemaker_gitops.stages.stacks import deployed_parameters, describe_stack


def notebook(*cells: tuple[str, str, list[str]]) -> str:
    """A notebook's JSON from (cell type, source, tags) triples."""
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [
                {
                    "cell_type": kind,
                    "source": text,
                    "metadata": {"tags": tags},
                    "outputs": [],
                    "execution_count": None,
                }
                if kind == "code"
                else {"cell_type": kind, "source": text, "metadata": {}}
                for kind, text, tags in cells
            ],
        }
    )


PREPARE = notebook(
    ("markdown", "# Prepare", []),
    (
        "code",
        "input_url = 's3://bucket/data.csv'\nseed = 42  # split seed\n%matplotlib inline",
        ["parameters"],
    ),
    ("code", "print(input_url, seed)", []),
)
TRAIN = notebook(
    ("code", "import os\n\nmax_depth: str = '3'\nmodel_dir = os.environ.get('SM_MODEL_DIR')", ["parameters"]),
    ("code", "%run helpers.ipynb\nprint(int(max_depth))", []),
)
HELPERS = notebook(("code", "def helper():\n    return 1", []))


@pytest.fixture
def project_dir(tmp_path):
    """A project folder with build/notebooks.yml and three notebooks."""
    (tmp_path / "build").mkdir()
    (tmp_path / "notebooks").mkdir()
    for name, text in {"prepare": PREPARE, "train": TRAIN, "helpers": HELPERS}.items():
        (tmp_path / "notebooks" / f"{name}.ipynb").write_text(text)
    return tmp_path


WORKFLOW = {
    "kernel": "python3",
    "instance_type": "ml.m5.large",
    "pipeline_parameters": {"InputDataUrl": "s3://bucket/data.csv"},
    "steps": [
        {
            "name": "Prepare",
            "notebook": "notebooks/prepare.ipynb",
            "parameters": {"input_url": "{InputDataUrl}"},
        },
        {
            "name": "Train",
            "notebook": "notebooks/train.ipynb",
            "after": ["Prepare"],
            "parameters": {"max_depth": "4"},
            "dependencies": ["notebooks/helpers.ipynb"],
        },
    ],
}


def write(project_dir, workflow: dict):
    path = project_dir / "build" / "notebooks.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    return path


def changed(step: int, **fields) -> dict:
    steps = [dict(s) for s in WORKFLOW["steps"]]
    steps[step] = {**steps[step], **fields}
    return {**WORKFLOW, "steps": steps}


@any_shape
def test_a_workflow_whose_notebooks_take_what_they_are_given_loads(project_dir):
    workflow = load_workflow(write(project_dir, WORKFLOW), project_dir)
    assert [step.name for step in workflow.steps] == ["Prepare", "Train"]


@any_shape
@pytest.mark.parametrize(
    ("workflow", "message"),
    [
        (
            changed(0, parameters={"input_uri": "x"}),
            "notebooks/prepare.ipynb (step Prepare): parameter 'input_uri' is not set in its `parameters`"
            " cell (it sets input_url, seed)",
        ),
        (
            changed(1, dependencies=[]),
            "notebooks/train.ipynb (step Train): it runs `%run helpers.ipynb`, which is not in its"
            " dependencies: add notebooks/helpers.ipynb to them",
        ),
        (
            changed(1, dependencies=["notebooks/helper.ipynb"]),
            "notebooks/train.ipynb (step Train): dependency notebooks/helper.ipynb does not exist",
        ),
        (changed(1, notebook="notebooks/training.ipynb"), "notebooks/training.ipynb: not found"),
        (changed(1, after=["Prep"]), "step 'Train': after 'Prep', which is not a step before it"),
        (changed(0, after=["Train"]), "step 'Prepare': after 'Train', which is not a step before it"),
        (changed(1, name="Prepare"), "step 'Prepare' is named twice"),
        (changed(1, name="Train model"), "steps.1.name: String should match pattern"),
        (
            changed(1, parameters={"max_depth": 4}),
            "steps.1.parameters.max_depth: Input should be a valid string",
        ),
        (
            {**WORKFLOW, "pipeline_parameters": {"input-url": "x"}},
            "pipeline_parameters: 'input-url': a pipeline parameter's name is letters and digits",
        ),
        ({**WORKFLOW, "kernel": ""}, "kernel: String should have at least 1 character"),
        (
            changed(0, parameters={"seed": "7"}),
            "notebooks/prepare.ipynb (step Prepare): seed is an int in its `parameters` cell, but a notebook"
            " job passes every parameter as a string (seed = '7'): make the default a string",
        ),
    ],
)
def test_what_a_notebook_job_would_fail_on_is_refused_in_one_line(project_dir, workflow, message):
    with pytest.raises(MlopsError) as refused:
        load_workflow(write(project_dir, workflow), project_dir)
    assert message in str(refused.value) and "\n" not in str(refused.value)


@any_shape
def test_parameters_for_a_notebook_without_a_parameters_cell_are_refused(project_dir):
    (project_dir / "notebooks" / "helpers.ipynb").write_text(HELPERS)
    workflow = changed(1, notebook="notebooks/helpers.ipynb", dependencies=[])
    with pytest.raises(MlopsError, match="has no cell tagged `parameters` to put them after"):
        load_workflow(write(project_dir, workflow), project_dir)


@any_shape
def test_pipeline_variables_in_a_value_become_one_join_and_an_unknown_one_is_refused(project_dir):
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker_gitops.build.notebook_steps import notebook_parameters
    from sagemaker_gitops.build.notebooks import NotebookStep

    output = ParameterString("OutputDataUrl", default_value="s3://b/o")
    variables = {
        "OutputDataUrl": output,
        "RunFolder": Join(on="/", values=[output, ExecutionVariables.PIPELINE_EXECUTION_ID]),
    }
    step = NotebookStep(
        name="Train",
        notebook="notebooks/train.ipynb",
        parameters={"out": "{OutputDataUrl}", "data": "{RunFolder}/prepared", "plain": "x", "empty": ""},
    )
    values = notebook_parameters(step, variables)
    assert values["out"] is output and values["plain"] == "x" and values["empty"] == ""
    assert values["data"].expr == {
        "Std:Join": {
            "On": "",
            "Values": [output.expr, "/", ExecutionVariables.PIPELINE_EXECUTION_ID.expr, "/prepared"],
        }
    }
    unknown = step.model_copy(update={"parameters": {"data": "{RunFolders}/x"}})
    with pytest.raises(MlopsError, match=r"step 'Train': parameters.data: \{RunFolders\} is not a pipeline"):
        notebook_parameters(unknown, variables)


@any_shape
@pytest.mark.parametrize(
    ("region", "version", "kernel", "expected"),
    [
        (
            "eu-west-1",
            "3.2",
            "python3",
            "819792524951.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-distribution-prod:3.2-cpu",
        ),
        (
            "il-central-1",
            "3.2",
            "python3",
            "image_version 3.2: no SageMaker Distribution image of it in il-central-1",
        ),
        (
            "us-east-1",
            "9.9",
            "python3",
            "image_version 9.9: not a release whose libraries are listed, so neither a local run nor",
        ),
        (
            "us-east-1",
            "3.2",
            "ir",
            "kernel 'ir' is not one sagemaker-distribution-prod:3.2-cpu has (python3)",
        ),
    ],
)
def test_the_image_is_the_regions_release_and_has_the_kernel(project_dir, region, version, kernel, expected):
    from sagemaker_gitops.build.notebooks import NotebookWorkflow

    workflow = NotebookWorkflow.model_validate({**WORKFLOW, "image_version": version, "kernel": kernel})
    if expected.endswith("-cpu"):
        assert workflow.image_uri(region) == expected
    else:
        with pytest.raises(MlopsError) as refused:
            workflow.image_uri(region)
        assert expected in str(refused.value) and "\n" not in str(refused.value)


@any_shape
def test_the_copier_question_refuses_exactly_the_offered_regions_without_the_image():
    """copier.yml's enable_notebooks rule names the regions it refuses; they must be the offered
    regions the SDK's registry has no SageMaker Distribution image in (where image_uri refuses)."""
    from conftest import TEMPLATE
    from sagemaker_gitops.build.notebooks import NotebookWorkflow

    questions = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
    offered = set(questions["aws_region"]["choices"])
    refused = re.search(r"aws_region in (\[[^\]]*\])", questions["enable_notebooks"]["validator"])
    workflow = NotebookWorkflow.model_validate(WORKFLOW)

    def has_the_image(region: str) -> bool:
        try:
            workflow.image_uri(region)
        except MlopsError:
            return False
        return True

    assert set(ast.literal_eval(refused.group(1))) == {
        region for region in offered if not has_the_image(region)
    }


@any_shape
def test_a_notebook_importing_what_the_image_lacks_is_a_problem_its_helper_modules_are_not(project_dir):
    from sagemaker_gitops.build.notebooks import import_problems

    target = aws.resolve_target(offline=True)
    (project_dir / "notebooks" / "local_helpers.py").write_text("import pandas\n")
    (project_dir / "notebooks" / "train.ipynb").write_text(
        notebook(
            ("code", "max_depth = '3'", ["parameters"]),
            (
                "code",
                "%run helpers.ipynb\nimport pandas, local_helpers\nfrom tabpfn import TabPFNClassifier",
                [],
            ),
        )
    )
    code = StepCode(project_dir, target.bucket, "p")
    definition = build_step(project_dir, code, [project_dir / "notebooks" / "local_helpers.py"])
    assert import_problems(definition, code) == [
        "Train: train.ipynb imports tabpfn, which sagemaker-distribution-prod:3.2-cpu does not ship"
        " (ModuleNotFoundError in the notebook job): use a library the image ships"
    ]


def build_step(project_dir, code: StepCode, more=()):
    from sagemaker.core import image_uris
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker_gitops.build.notebook_steps import StagedNotebookJobStep
    from sagemaker_gitops.build.pipelines import _pipeline_session

    target = aws.resolve_target(offline=True)
    image = image_uris.retrieve(
        "sagemaker-distribution", region=target.region, version="3.2", instance_type="ml.m5.large"
    )
    session = _pipeline_session(target)
    step = StagedNotebookJobStep(
        name="Train",
        input_notebook=str(project_dir / "notebooks" / "train.ipynb"),
        additional_dependencies=[str(project_dir / "notebooks" / "helpers.ipynb"), *map(str, more)],
        image_uri=image,
        kernel_name="python3",
        role=target.role_arn,
        s3_root_uri=f"s3://{target.bucket}/notebooks",
        parameters={"max_depth": "4"},
        code=code,
    )
    return json.loads(Pipeline(name="p", steps=[step], sagemaker_session=session).definition())


@any_shape
def test_a_notebook_step_builds_offline_the_same_twice_its_files_staged_by_content(project_dir, monkeypatch):
    target = aws.resolve_target(offline=True)
    first, second = StepCode(project_dir, target.bucket, "p"), StepCode(project_dir, target.bucket, "p")
    assert build_step(project_dir, first) == build_step(project_dir, second)
    request = build_step(project_dir, first)["Steps"][0]["Arguments"]
    folder = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    assert folder.startswith(f"s3://{target.bucket}/p/code/") and folder.endswith("/")
    staged = {f"s3://{target.bucket}/{key}" for key in first.objects}
    assert staged == {f"{folder}train.ipynb", f"{folder}helpers.ipynb"}
    assert request["HyperParameters"] == {"max_depth": "4"}
    (project_dir / "notebooks" / "helpers.ipynb").write_text(notebook(("code", "x = 2", [])))
    changed_folder = build_step(project_dir, StepCode(project_dir, target.bucket, "p"))["Steps"][0][
        "Arguments"
    ]
    assert changed_folder["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] != folder


# --- A notebook job run on this machine, as its driver runs it (moto for S3) ----------------------


def notebook_pipeline(project_dir, code: StepCode, failing: bool = False) -> dict:
    """Prepare -> Train (which %runs helpers.ipynb), as notebook job steps; Train divides by zero
    in its second cell when `failing`."""
    from sagemaker.core import image_uris
    from sagemaker.core.workflow.parameters import ParameterString
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker_gitops.build.notebook_steps import StagedNotebookJobStep
    from sagemaker_gitops.build.pipelines import _pipeline_session

    if failing:
        (project_dir / "notebooks" / "train.ipynb").write_text(
            notebook(("code", "max_depth = '3'", ["parameters"]), ("code", "1 / 0", []))
        )
    target = aws.resolve_target()
    image = image_uris.retrieve(
        "sagemaker-distribution", region=target.region, version="3.2", instance_type="ml.m5.large"
    )
    depth = ParameterString("MaxDepth", default_value="4")
    common = {"image_uri": image, "kernel_name": "python3", "role": target.role_arn, "code": code}
    common["s3_root_uri"] = f"s3://{target.bucket}/notebooks"
    prepare = StagedNotebookJobStep(
        name="Prepare", input_notebook=str(project_dir / "notebooks" / "prepare.ipynb"), **common
    )
    train = StagedNotebookJobStep(
        name="Train",
        input_notebook=str(project_dir / "notebooks" / "train.ipynb"),
        additional_dependencies=[str(project_dir / "notebooks" / "helpers.ipynb")],
        parameters={"max_depth": depth},
        **common,
    )
    train.add_depends_on([prepare])
    session = _pipeline_session(target)
    return json.loads(
        Pipeline(name="p", parameters=[depth], steps=[prepare, train], sagemaker_session=session).definition()
    )


@pytest.fixture
def moto_account(monkeypatch):
    from moto import mock_aws

    with mock_aws():
        target = aws.resolve_target()
        aws.create_bucket(target.bucket)
        yield target


def run_locally(definition: dict, code: StepCode, target, workspace, overrides=()):
    import boto3
    from sagemaker_gitops.local.runner import Progress, run_definition

    code.upload(boto3.client("s3", region_name=target.region))
    return run_definition(definition, list(overrides), target, workspace, Progress())


@any_shape
def test_notebook_jobs_run_here_in_their_images_libraries_with_their_parameters(
    project_dir, moto_account, tmp_path
):
    code = StepCode(project_dir, moto_account.bucket, "p")
    definition = notebook_pipeline(project_dir, code)
    result = run_locally(
        definition, code, moto_account, tmp_path / "runs", [{"Name": "MaxDepth", "Value": "7"}]
    )
    assert result.failed is None, result.failed.failure
    assert [(step.name, step.status) for step in result.steps] == [
        ("Prepare", "Succeeded"),
        ("Train", "Succeeded"),
    ]
    executed = json.loads((result.workspace / "Train" / "opt/ml/output/data" / "Train.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "".join(injected[0]["source"]).strip().endswith('max_depth = "7"')  # a string, as in SageMaker
    outputs = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("name") == "stdout"]
    printed = "".join("".join(o["text"]) for o in outputs)
    assert printed.strip() == "7"  # int(max_depth), after %run helpers.ipynb


@any_shape
def test_a_failing_cell_fails_its_step_with_the_cells_error_in_one_line(project_dir, moto_account, tmp_path):
    code = StepCode(project_dir, moto_account.bucket, "p")
    definition = notebook_pipeline(project_dir, code, failing=True)
    result = run_locally(definition, code, moto_account, tmp_path / "runs")
    assert result.failed.name == "Train", result.failed.failure
    # papermill's count: the parameters cell, the cell it injects after it, then 1 / 0.
    assert result.failed.failure.endswith("train.ipynb, cell [3]: ZeroDivisionError: division by zero")
    assert "\n" not in result.failed.failure


# --- The project's notebook workflow (preset sklearn-tuning): its schedule and its output notebooks --


@notebooks_only
@pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips the schedule
def test_the_notebook_schedule_follows_its_block_and_sends_what_it_says(
    mlops, moto_account, use_project, tmp_path
):
    workflow = yaml.safe_load(project().notebooks_path.read_text())
    block = {
        "schedule": {"expression": "rate(1 day)", "enabled": False},
        "parameters": {"MaxIterations": "20"},
    }
    path = tmp_path / "notebooks.yml"
    path.write_text(yaml.safe_dump({**workflow, "scheduled_runs": block}))
    use_project(notebooks=path)
    code, out, err = mlops("pipeline", "upsert")
    assert code == 0, err
    assert f"notebooks schedule: stack {NOTEBOOKS.stack_name} created" in out
    deployed = deployed_parameters(describe_stack(NOTEBOOKS.stack_name))
    assert (deployed["ScheduleExpression"], deployed["ScheduleState"]) == ("rate(1 day)", "DISABLED")
    assert (
        deployed["MaxIterations"] == "20"
        and deployed["LearningRate"] == workflow["pipeline_parameters"]["LearningRate"]
    )

    code, out, err = mlops("schedule", "fire", "notebooks", "--aws", "real")
    assert code == 0, err
    assert f":pipeline/{project().pipeline_name_of('notebooks')}/execution/" in out
    sagemaker = boto3.client("sagemaker", region_name=moto_account.region)
    given = sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=out.strip())
    sent = pipeline_schedules.sent({"Parameters": deployed})
    assert {p["Name"]: p["Value"] for p in given["PipelineParameters"]} == {
        name: deployed[name] for name in sent
    }
    code, out, _ = mlops("status")
    assert code == 0 and [
        line.split()[:3] for line in out.splitlines() if line.strip().startswith("notebooks")
    ] == [["notebooks", "rate(1", "day)"]]

    path.write_text(yaml.safe_dump(workflow))
    code, out, err = mlops("pipeline", "upsert")
    assert code == 0 and f"notebooks schedule: stack {NOTEBOOKS.stack_name} deleted" in out, err


def output_archive(step: str, printed: str) -> bytes:
    """What a notebook job keeps: output.tar.gz holding its executed notebook."""
    executed = json.loads(notebook(("markdown", f"# {step}", []), ("code", f"print({printed!r})", [])))
    executed["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [printed]}]
    body = json.dumps(executed).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"{step}.ipynb")
        info.size = len(body)
        archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


@notebooks_only
def test_report_notebooks_renders_the_newest_executions_notebooks_in_workflow_order(
    mlops, moto_account, tmp_path
):
    s3 = boto3.client("s3", region_name=moto_account.region)
    prefix = f"{project().notebook_jobs_prefix}/{project().pipeline_name_of('notebooks')}"

    def keep(execution: str, step: str, printed: str) -> None:
        key = f"{prefix}/{execution}/{step}/job-{step}/output/output.tar.gz"
        s3.put_object(Bucket=moto_account.bucket, Key=key, Body=output_archive(step, printed))

    keep("olderexecution", "Prepare", "old")
    time.sleep(1.1)  # S3 keeps LastModified to the second
    keep("newexecution", "Train", "trained on 455 rows")
    keep("newexecution", "Prepare", "split 569 rows")

    code, out, err = mlops("report", "notebooks", "--out-dir", str(tmp_path))
    assert code == 0, err
    pages = [tmp_path / "newexecution" / f"{step}.html" for step in ("Prepare", "Train")]
    assert out.splitlines()[-2:] == [f"Prepare: {pages[0]}", f"Train: {pages[1]}"]  # notebooks.yml's order
    assert "trained on 455 rows" in pages[1].read_text() and "<html" in pages[1].read_text()

    code, out, err = mlops("report", "notebooks", "olderexecution", "--no-html", "--out-dir", str(tmp_path))
    assert (
        code == 0 and out.splitlines()[-1] == f"Prepare: {tmp_path / 'olderexecution' / 'Prepare.ipynb'}"
    ), err
    code, _, err = mlops("report", "notebooks", "nosuchexecution", "--out-dir", str(tmp_path))
    assert code == 1 and err.strip().splitlines()[-1].startswith(
        "error: execution nosuchexecution: no output notebooks"
    )


@notebooks_only
def test_report_notebooks_refuses_an_output_it_cannot_read_in_one_line(mlops, moto_account, tmp_path):
    s3 = boto3.client("s3", region_name=moto_account.region)
    prefix = f"{project().notebook_jobs_prefix}/{project().pipeline_name_of('notebooks')}"
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w:gz"):
        pass  # a job that failed before writing its notebook
    for execution, body in {"broken": b"not a tar.gz", "empty": empty.getvalue()}.items():
        key = f"{prefix}/{execution}/Train/job-Train/output/output.tar.gz"
        s3.put_object(Bucket=moto_account.bucket, Key=key, Body=body)
    code, out, err = mlops("report", "notebooks", "broken", "--out-dir", str(tmp_path))
    assert code == 1 and not out and len(err.strip().splitlines()) == 1
    assert err.startswith("error: step Train: its output.tar.gz cannot be read (")
    code, out, err = mlops("report", "notebooks", "empty", "--out-dir", str(tmp_path))
    assert code == 1 and not out
    assert err.strip() == "error: step Train: its output holds no notebook (the job failed before writing it)"


@pytest.mark.skipif(conftest.NOTEBOOKS, reason="the preset runs notebooks: see MLOPS_TEST_PRESET")
def test_report_notebooks_in_a_project_without_notebooks_says_so(mlops):
    code, _, err = mlops("report", "notebooks")
    assert code == 1
    assert (
        err.strip() == "error: build/notebook_pipeline.py: not found (this project has no notebook pipeline)"
    )
