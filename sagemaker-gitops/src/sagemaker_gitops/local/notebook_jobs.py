"""A SageMaker notebook job (a NotebookJobStep's training job) run on this machine, as its driver
runs it in the SageMaker Distribution image (notebook_host.py follows the driver).

The job's input channel (the notebook and the files it `%run`s, staged by content hash) is
downloaded where the container has it; its hyperparameters are the notebook's parameters; the
notebook runs in an environment of its image's libraries (image_envs.notebook_interpreter: what
the notebooks import, and papermill, at the image's versions), after the init script when there
is one; the executed notebook is kept in the job's folder and uploaded where SageMaker puts a
training job's output (<S3OutputPath>/<job>/output/output.tar.gz).
"""

import json
from pathlib import Path

from ..definition.expressions import StepError
from ..images import image_name, providers
from ..notebook_files import notebook_imports
from .image_envs import Unavailable, notebook_interpreter
from .jobs import Job, download_prefix, put_bytes, tar_gz

HOST = Path(__file__).with_name("notebook_host.py")
DEFAULT_INPUT = "/opt/ml/input/data/sagemaker_headless_execution"


def run_notebook_job(job: Job, request: dict) -> dict:
    """Run a resolved notebook job's CreateTrainingJob request; its DescribeTrainingJob-shaped properties."""
    environment = request.get("Environment", {})
    for channel in request.get("InputDataConfig", []):
        source = channel["DataSource"]["S3DataSource"]["S3Uri"]
        download_prefix(job, source, job.path(f"/opt/ml/input/data/{channel['ChannelName']}"))
    inputs = job.path(environment.get("SM_EXECUTION_INPUT_PATH", DEFAULT_INPUT))
    parameters = job.path("/opt/ml/input/config/hyperparameters.json")
    parameters.parent.mkdir(parents=True, exist_ok=True)
    parameters.write_text(json.dumps(request.get("HyperParameters", {})))
    output = job.path("/opt/ml/output/data")
    output.mkdir(parents=True, exist_ok=True)
    image = request["AlgorithmSpecification"]["TrainingImage"]
    imported = {name for module in notebook_imports(inputs) for name in providers(module)}
    try:
        job.python = notebook_interpreter(image, imported)
    except Unavailable as why:
        raise StepError(job.step, f"{image_name(image)}: {why}") from None
    command = [str(job.python), str(HOST)]
    if environment.get("SM_INIT_SCRIPT"):  # sourced, as the driver does: its variables reach the notebook
        command = ["bash", "-c", '. "$SM_EXECUTION_INPUT_PATH/$SM_INIT_SCRIPT" && exec "$0" "$@"', *command]
    job.execute(
        command,
        {
            **environment,
            "SM_EXECUTION_INPUT_PATH": str(inputs),
            "SM_PAPERMILL_PARAMS_PATH": str(parameters),
            "TRAINING_OUTPUT_PATH": str(output),
            "TRAINING_FAILURE_PATH": str(job.path("/opt/ml/output/failure")),
        },
        request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds"),
    )
    output_path = request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    put_bytes(job, f"{output_path}/{job.name}/output/output.tar.gz", tar_gz(output))
    return {**request, "TrainingJobName": job.name, "TrainingJobStatus": "Completed"}
