"""deploy/<stage>.yml: every malformed one is refused in one line, naming the file, field and rule."""

import pytest
from sagemaker_gitops.desired_state import load_stage, stage_file
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.project import project

ARN = f"arn:aws:sagemaker:{project().region}:123456789012:model-package/{project().model_package_group}/3"
INSTANCES = "instance_type: ml.m5.large\ninitial_instance_count: 2\n"
CAPTURE_OFF = "data_capture: {enabled: false, sampling_percentage: 100}\n"
CAPTURE_ON = "data_capture: {enabled: true, sampling_percentage: 10}\n"


SERVERLESS = "serverless: {memory_size_mb: 2048, max_concurrency: 5}\n"
SCALING = "autoscaling: {min_capacity: %d, max_capacity: %d, target_invocations_per_instance: 10}\n"
MONITORING = (
    "monitoring: {lookback_hours: %d, instance_type: ml.m5.large,"
    " schedule: {expression: rate(1 hour), timezone: UTC, enabled: true}}\n"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_package_arn: " + ARN + "/x\n" + INSTANCES, "model_package_arn: String should match"),
        (INSTANCES + SERVERLESS, "give either serverless or instance_type"),
        (
            "instance_type: ml.m5.large\n",
            "give instance_type and initial_instance_count, or a serverless block",
        ),
        (SERVERLESS.replace("2048", "1000"), "serverless.memory_size_mb: Input should be"),
        (SERVERLESS + CAPTURE_ON, "serverless endpoints do not support data capture"),
        (SERVERLESS + SCALING % (1, 2), "a serverless endpoint scales by itself"),
        (INSTANCES + SCALING % (3, 2), "min_capacity 3 is above max_capacity 2"),
        (INSTANCES + SCALING % (3, 4), "initial_instance_count 2 is outside autoscaling [3, 4]"),
        (INSTANCES + "deployment: {strategy: rolling}\n", "deployment.strategy: Input should be"),
        (INSTANCES + CAPTURE_OFF + "instance_count: 3\n", "instance_count: Extra inputs are not permitted"),
        (
            INSTANCES + "data_capture: {enabled: true, sampling_percentage: 0}\n",
            "data_capture.sampling_percentage: Input should be greater than or equal to 1",
        ),
        (SERVERLESS + MONITORING % 24, "monitoring reads the endpoint's captured requests: it needs"),
        (SERVERLESS + MONITORING % 24, "(a serverless endpoint captures nothing)"),
        (INSTANCES + CAPTURE_OFF + MONITORING % 24, "it needs data_capture.enabled: true"),
        (INSTANCES + CAPTURE_ON + MONITORING % 0, "monitoring.lookback_hours: Input should be greater than"),
        (
            INSTANCES + CAPTURE_ON + MONITORING.replace("}}", "}, retrain_on_drift: sometimes}") % 24,
            "monitoring.retrain_on_drift: Input should be a valid boolean",
        ),
        (
            INSTANCES + CAPTURE_ON + MONITORING.replace("}}", "}, ground_truth: labels/prod}") % 24,
            "monitoring.ground_truth: String should match",
        ),
        (
            INSTANCES + CAPTURE_ON + MONITORING.replace("}}", "}, min_labelled_rows: 0}") % 24,
            "monitoring.min_labelled_rows: Input should be greater than or equal to 1",
        ),
        ("instance_type: [\n", "not valid YAML"),
        (INSTANCES.replace("ml.m5.large", "m5.large"), "instance_type: String should match"),
    ],
)
def test_a_malformed_stage_file_is_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "prod.yml"
    path.write_text(text)
    with pytest.raises(MlopsError) as refused:
        load_stage("prod", path)
    assert message in str(refused.value)
    assert str(refused.value).startswith(f"{path}: ") and "\n" not in str(refused.value)


def test_a_missing_stage_file_is_named(tmp_path):
    with pytest.raises(MlopsError, match="not found"):
        load_stage("prod", tmp_path / "prod.yml")
    assert stage_file("prod").name == "prod.yml"
