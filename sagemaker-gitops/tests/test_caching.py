"""Step caching as SageMaker does it: a re-run whose cached steps hand on an earlier run's
properties must still read every model from where a job wrote it.

moto runs no pipeline and `mlops local run` does not cache, so two executions are resolved here
with the local interpreter, under AWS's documented cache-key rules (local/caching.py): each step
is a hit when its key matches the first execution's, and then hands on that execution's
properties, as SageMaker does.
"""

import pytest
from conftest import TUNING
from sagemaker_gitops.local.caching import cache_key, cacheable
from sagemaker_gitops.local.definition import parse
from sagemaker_gitops.local.expressions import Scope


class Execution:
    """One execution resolved step by step: what each job writes, and each step's cache key."""

    def __init__(self, definition: dict, execution_id: str, overrides: dict, earlier=None):
        self.id, self.keys, self.written, self.properties = execution_id, {}, set(), {}
        graph = parse(definition)
        parameters = {p["Name"]: p.get("DefaultValue") for p in graph.parameters} | overrides
        # Registration reads the model's checksum from evaluation.json; what it is does not matter here.
        evaluation = {"model": {"sha256": "0" * 64}}
        self.scope = Scope(
            parameters,
            {"PipelineExecutionId": execution_id},
            self.properties,
            read_property_file=lambda step, name: evaluation,
        )
        for step in graph.steps:
            if step.type in {"Condition", "Fail"}:
                continue  # the gate passes: registration is what reads the model
            request = self.scope.resolve(step.arguments, step.name)
            if step.type not in {"Processing", "Training", "Tuning"}:
                self.properties[step.name] = request
                continue
            self.keys[step.name] = cache_key(step.type, request)
            hit = (
                earlier is not None
                and cacheable(step.type, step.document)
                and earlier.keys.get(step.name) == self.keys[step.name]
            )
            if hit:
                self.properties[step.name] = earlier.properties[step.name]
            else:
                self.properties[step.name] = self._run(step.name, step.type, request)

    def _run(self, step: str, kind: str, request: dict) -> dict:
        """The Describe* properties of the job this request starts, and the objects it writes."""
        if kind == "Processing":
            self.written |= {o["S3Output"]["S3Uri"] for o in request["ProcessingOutputConfig"]["Outputs"]}
            return request
        if kind == "Training":
            job = f"pipelines-{self.id}-{step}"
            artifact = f"{request['OutputDataConfig']['S3OutputPath']}/{job}/output/model.tar.gz"
            self.written.add(artifact)
            return {"TrainingJobName": job, "ModelArtifacts": {"S3ModelArtifacts": artifact}}
        tuning_job, best = f"{self.id}-tune", f"{self.id}-tune-001-0a1b2c3d"
        output = request["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]
        self.written.add(f"{output}/{best}/output/model.tar.gz")
        best_summary = {"TrainingJobName": best}
        return {
            "HyperParameterTuningJobName": tuning_job,
            "BestTrainingJob": best_summary,
            "TrainingJobSummaries": [best_summary],  # best first: get_top_model_s3_uri reads [0]
        }

    def models_read(self) -> list[tuple[str, str]]:
        """(step, URL) of every model the execution reads: Evaluate's input and the registered one."""
        evaluate = self.properties["Evaluate"]["ProcessingInputs"]
        read = [("Evaluate", i["S3Input"]["S3Uri"]) for i in evaluate if i["InputName"] == "model"]
        register = self.properties["RegisterModel"]["InferenceSpecification"]["Containers"]
        return read + [("RegisterModel", container["ModelDataUrl"]) for container in register]


@pytest.mark.parametrize(
    "second_run",
    [{}, {"GateThreshold": "LOWERED"}],
    ids=["unchanged", "only-the-gate-threshold-changed"],
)
def test_every_model_a_re_run_reads_was_written_by_a_job(definition, config, second_run):
    overrides = {name: config.gate.threshold * 0.9 for name in second_run}
    first = Execution(definition, "aaaaaaaaaaaa", {})
    second = Execution(definition, "bbbbbbbbbbbb", overrides, earlier=first)
    written = first.written | second.written
    for step, url in second.models_read():
        assert url in written, f"{step} reads {url}, which no job of either execution wrote"


def test_the_simulation_sees_a_cache_hit_when_caching_is_on(definition, config):
    """What makes the test above able to fail: with caching on, the re-run reuses the training."""
    first = Execution(definition, "aaaaaaaaaaaa", {})
    second = Execution(definition, "bbbbbbbbbbbb", {}, earlier=first)
    training = "Tune" if TUNING else "Train"
    reused = second.properties[training] is first.properties[training]
    assert reused is config.caching.enabled
