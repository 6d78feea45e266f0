"""`mlops pipeline definition|validate`: building a project's definition is offline, and the
checks `validate` runs (each step's request against SageMaker's API, each step's imports against
its image's packages) find what AWS would refuse."""

import json
import shutil
import sys
import threading
from unittest.mock import patch

from botocore.client import BaseClient
from conftest import any_shape
from sagemaker_gitops.build.pipelines import build
from sagemaker_gitops.definition import api_requests
from sagemaker_gitops.images import problems
from sagemaker_gitops.project import project


def test_validate_passes_the_project_as_generated(mlops):
    code, out, err = mlops("pipeline", "validate")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{project().pipeline_name_of(kind)}: the definition is valid" for kind in project().pipelines
    ]


@any_shape
def test_the_definition_prints_as_json(mlops):
    code, out, _ = mlops("pipeline", "definition")
    assert code == 0 and json.loads(out)["Version"] == "2020-12-01"


def test_the_request_check_finds_a_value_the_api_refuses(definition):
    planted = json.loads(json.dumps(definition).replace('"VolumeSizeInGB": 30', '"VolumeSizeInGB": 99999'))
    planted["Parameters"][1]["DefaultValue"] = "ml.fake.large"  # ProcessingInstanceType
    found = api_requests.problems(planted, {})
    assert planted["Parameters"][1]["Name"] == "ProcessingInstanceType"
    instance_type = "Preprocess: CreateProcessingJob ProcessingResources.ClusterConfig.InstanceType"
    assert found[0].startswith(f"{instance_type}: 'ml.fake.large' is not one of ml.t3.medium")
    assert any("VolumeSizeInGB: 99999 is above the maximum" in problem for problem in found)
    missing = [p for p in found if p.startswith("CreatePipeline Missing required parameter")]
    assert [p.rsplit(" ", 1)[-1] for p in missing] == ['"PipelineName"', '"ClientRequestToken"', '"RoleArn"']


def test_the_image_check_finds_a_library_an_image_lacks(definition, tmp_path):
    """Preprocess runs in the scikit-learn image, which has no matplotlib (the XGBoost one has)."""
    steps = tmp_path / "steps"
    shutil.copytree(project().steps_dir, steps)
    with (steps / "preprocess.py").open("a") as script:
        script.write("\n\ndef plot():\n    import matplotlib.pyplot\n")
    assert problems(definition, steps) == [
        "Preprocess: preprocess.py imports matplotlib, which sagemaker-scikit-learn:1.9-0-cpu-py3 does not"
        " ship (ModuleNotFoundError in SageMaker): run the step in an image that has it"
    ]


def test_building_the_definition_makes_no_network_call():
    """No AWS call and no connection attempt, DNS included: the SDK's telemetry threads
    (sts:GetCallerIdentity and an SDK host) and botocore's instance-role lookup are off."""
    attempts, api_calls = [], []

    def audit(event, args):
        if event in {"socket.getaddrinfo", "socket.connect"} and auditing:
            attempts.append((event, str(args[:2])))

    def count(self, operation, params):
        api_calls.append(operation)
        raise OSError("no AWS call in this test")

    auditing = True
    sys.addaudithook(audit)  # hooks cannot be removed: `auditing` switches it off after
    before = set(threading.enumerate())
    with patch.object(BaseClient, "_make_api_call", count):
        try:
            build(offline=True).definition()
            for thread in set(threading.enumerate()) - before:
                thread.join(timeout=10)  # a telemetry thread makes its calls after the build
        finally:
            auditing = False
    assert (attempts, api_calls) == ([], [])


def test_a_projects_own_image_is_checked_against_the_list_the_project_gives(
    definition, tmp_path, use_project
):
    """[tool.mlops] image-packages: the extension point for images the package has no list of."""
    ours = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-image:1"
    planted = json.loads(json.dumps(definition))
    preprocess = next(step for step in planted["Steps"] if step["Name"] == "Preprocess")
    preprocess["Arguments"]["AppSpecification"]["ImageUri"] = ours
    assert problems(planted, project().steps_dir) == [
        "Preprocess: no package list for image team-image:1: list what it ships in the file"
        " [tool.mlops] image-packages names before running preprocess.py in it"
    ]

    listed = tmp_path / "image_packages.json"
    shipped = {"numpy": "2.3.0", "pandas": "2.3.0", "boto3": "1.40.0", "botocore": "1.40.0"}
    listed.write_text(json.dumps({"images": {"team-image:1": {"packages": shipped}}}))
    use_project(image_packages=listed)
    assert problems(planted, project().steps_dir) == [
        "Preprocess: preprocess.py imports sklearn, which team-image:1 does not ship (ModuleNotFoundError in"
        " SageMaker): run the step in an image that has it"
    ]
