"""Scheduled retraining (build/retraining.yml, from build/config.yml's `retraining` block): the
schedule sends parameters this pipeline declares, and the block, once the team adds one, is one it
can run. (How a block becomes a deployed schedule, and what it refuses, is the platform's: its own
tests. The emulator's CloudFormation skips AWS::Scheduler::Schedule, so the schedule is read from
the template here; `make lint` checks it with cfn-lint.)"""

from sagemaker_gitops.testing import RETRAINING, build, plan_schedule, sent_parameters


def test_the_schedule_sends_parameters_the_pipeline_declares(definition, read_template):
    template = read_template(RETRAINING.template_path)
    sent = template["Resources"]["Schedule"]["Properties"]["Target"]["SageMakerPipelineParameters"]
    pairs = sent["PipelineParameterList"]
    assert [p["Name"] for p in pairs] == sent_parameters(template)
    assert all(p["Value"] == {"Ref": p["Name"]} for p in pairs)
    assert set(sent_parameters(template)) <= {p["Name"] for p in definition["Parameters"]}


def test_the_retraining_block_is_one_the_schedule_can_run(config):
    """No block, no schedule. A block's values are checked as the pipeline, the gate and
    EventBridge Scheduler would check them: planning raises, in one line, naming the value."""
    planned = plan_schedule(RETRAINING, build(offline=True))
    assert (planned.parameters is None) == (config.retraining is None)
