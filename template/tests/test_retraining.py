"""Scheduled retraining (build/retraining.yml, from build/config.yml's `retraining` block): the
schedule sends parameters the pipeline declares, each with the value git gives it. The emulator's
CloudFormation skips AWS::Scheduler::Schedule, so the schedule is read from the template here."""

import cfnlint.api
import pytest
import yaml
from sagemaker_gitops import pipeline_schedules
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.pipelines import build
from sagemaker_gitops.project import project
from sagemaker_gitops.schedules import RETRAINING

BLOCK = {
    "schedule": {"expression": "cron(0 3 ? * MON *)"},
    "parameters": {"InputDataUrl": "s3://fresh-data/churn/"},
}


@pytest.fixture
def retraining_config(tmp_path, use_project):
    """use(block): build/config.yml with this retraining block, for the rest of the test."""

    def use(block: dict) -> None:
        config = {**yaml.safe_load(project().config_path.read_text()), "retraining": block}
        path = tmp_path / "config.yml"
        path.write_text(yaml.safe_dump(config))
        use_project(config=path)

    return use


def test_the_schedule_template_passes_cfn_lint():
    assert cfnlint.api.lint_file(RETRAINING.template_path) == []


def test_the_schedule_sends_parameters_the_pipeline_declares(definition, read_template):
    template = read_template(RETRAINING.template_path)
    sent = template["Resources"]["Schedule"]["Properties"]["Target"]["SageMakerPipelineParameters"]
    pairs = sent["PipelineParameterList"]
    assert [p["Name"] for p in pairs] == pipeline_schedules.sent(template)
    assert all(p["Value"] == {"Ref": p["Name"]} for p in pairs)
    assert set(pipeline_schedules.sent(template)) <= {p["Name"] for p in definition["Parameters"]}


def test_no_block_means_no_schedule():
    assert pipeline_schedules.plan(RETRAINING, build(offline=True)).parameters is None


def test_each_run_gets_the_defaults_or_the_blocks_values(retraining_config, definition, read_template):
    retraining_config(BLOCK)
    given = pipeline_schedules.plan(RETRAINING, build(offline=True)).parameters
    defaults = {p["Name"]: str(p["DefaultValue"]) for p in definition["Parameters"] if "DefaultValue" in p}
    assert given["InputDataUrl"] == "s3://fresh-data/churn/"
    sent = pipeline_schedules.sent(read_template(RETRAINING.template_path))
    others = [name for name in sent if name != "InputDataUrl"]
    assert {name: given[name] for name in others} == {name: defaults[name] for name in others}
    assert (given["ScheduleExpression"], given["ScheduleState"]) == ("cron(0 3 ? * MON *)", "ENABLED")


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"Seed": "7"}, "retraining.parameters.Seed: build/retraining.yml does not send it"),
        ({"ProcessingInstanceType": "ml.fake.large"}, "retraining not scheduled: "),
        ({"TrainingInstanceCount": "two"}, "--param TrainingInstanceCount=two: expected an integer"),
    ],
)
def test_a_block_the_schedule_could_not_run_is_refused_before_anything_changes(
    retraining_config, parameters, message
):
    retraining_config({**BLOCK, "parameters": parameters})
    with pytest.raises(MlopsError) as refused:
        pipeline_schedules.plan(RETRAINING, build(offline=True))
    assert message in str(refused.value) and "\n" not in str(refused.value)
