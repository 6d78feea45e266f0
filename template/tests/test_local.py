"""`mlops local run`: this project's pipeline definition, run end to end on this machine against
the emulator, on data/sample.csv: a model is registered awaiting approval, or the gate stops it."""

import hashlib
import json

import pytest
from sagemaker_gitops.testing import project


@pytest.fixture(scope="module")
def passed(local_run):
    return local_run()


def test_the_pipeline_runs_end_to_end_and_registers_a_model_awaiting_approval(passed, emulated, config):
    assert passed.code == 0, passed.err
    assert len(passed.packages_after) == len(passed.packages_before) + 1
    arn = passed.packages_after[-1]["ModelPackageArn"]
    assert f"registered model package: {arn}" in passed.out

    described = emulated.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["CustomerMetadataProperties"]["pipeline_execution_id"] == passed.execution_id
    assert described["CustomerMetadataProperties"]["gate_metric"] == config.gate.metric
    report_uri = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    assert f"/executions/{passed.execution_id}/evaluate/" in report_uri
    report = json.loads(emulated.read_s3(report_uri))
    assert report["gate"]["metric"] == config.gate.metric and report["gate"]["passed"] is True
    # The model as Evaluate scored and kept it, write-once, under its sha256.
    model_data = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    sha256 = described["CustomerMetadataProperties"]["model_sha256"]
    assert model_data == f"s3://{emulated.bucket}/{project().kept_models_key}/{sha256}/model.tar.gz"
    assert hashlib.sha256(emulated.read_s3(model_data)).hexdigest() == sha256


def test_a_gate_that_cannot_pass_ends_in_the_fail_step_and_registers_nothing(
    local_run, gate_that_cannot_pass, config
):
    failed = local_run(*gate_that_cannot_pass)
    assert failed.code == 1
    last_line = failed.err.strip().splitlines()[-1]
    assert last_line.startswith("error: pipeline failed at step 'GateFailed': Quality gate failed:")
    assert f"{config.gate.metric} = " in last_line
    assert failed.packages_after == failed.packages_before
