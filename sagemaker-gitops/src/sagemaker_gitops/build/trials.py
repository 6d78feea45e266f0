"""`mlops pipeline attach-trials`: put a tuning step's trials in their execution's run group.

SageMaker records each pipeline execution as a run group (trial) named after the execution id in
the project's experiment, and each job the pipeline creates as a run in it. A tuning step's
trials are created by the tuning job instead, and CreateHyperParameterTuningJob takes no
experiment configuration, so their runs (the trial components SageMaker makes for every training
job, named `<training job>-aws-training-job`, with its hyperparameters and metrics) belong to no
run group. This associates them, once per execution: a second call changes nothing.
"""

from dataclasses import dataclass

from botocore.exceptions import ClientError

from .. import aws
from ..errors import MlopsError
from ..project import project
from .pipelines import newest_executions, tuning_jobs

FINISHED = ("Succeeded", "Failed", "Stopped")


@dataclass(frozen=True)
class Attached:
    execution_id: str
    tuning_job: str
    added: int  # trial components newly associated
    present: int  # already in the run group
    missing: int  # trials SageMaker made no trial component for (e.g. failed before starting)


def attach_trials(last: int) -> list[Attached]:
    """For the newest `last` executions that have ended, every tuning step's trials."""
    sagemaker = aws.client("sagemaker")
    try:
        return [
            _attach(sagemaker, execution["PipelineExecutionArn"].rsplit("/", 1)[-1], tuning_job)
            for execution in newest_executions(sagemaker, last)
            if execution["PipelineExecutionStatus"] in FINISHED
            for tuning_job in tuning_jobs(sagemaker, execution["PipelineExecutionArn"])
        ]
    except ClientError as error:
        where = f"pipeline {project().pipeline_name!r} in {aws.region()}"
        raise MlopsError(f"cannot attach the trials of {where}: {aws.explain(error)}") from None


def _attach(sagemaker, trial: str, tuning_job: str) -> Attached:
    pages = sagemaker.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
        HyperParameterTuningJobName=tuning_job
    )
    # SageMaker names the trial component of every training job it runs <job>-aws-training-job.
    jobs = [summary["TrainingJobName"] for page in pages for summary in page["TrainingJobSummaries"]]
    components = [f"{job}-aws-training-job" for job in jobs]
    grouped = sagemaker.get_paginator("list_trial_components").paginate(TrialName=trial)
    present = {c["TrialComponentName"] for p in grouped for c in p["TrialComponentSummaries"]}
    added = missing = 0
    for component in components:
        if component in present:
            continue
        try:
            sagemaker.associate_trial_component(TrialComponentName=component, TrialName=trial)
            added += 1
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFound":
                raise
            missing += 1
    return Attached(trial, tuning_job, added, len(components) - added - missing, missing)
