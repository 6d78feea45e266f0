"""A batch transform step whose instance count is a pipeline parameter.

SDK v3's Transformer declares `instance_count: int | PipelineVariable`, but the request it
builds (`TransformResources`) types the count as a plain int: a ParameterInteger fails with
"Input should be a valid integer" while the definition is built. A schedule that sends
TransformInstanceCount must reach the job, so this step writes the parameter into the request
the SDK built with a placeholder count.
"""

from sagemaker.mlops.workflow.steps import TransformStep


class ScaledTransformStep(TransformStep):
    """TransformStep(name, step_args=transformer.transform(...)) with `instance_count` (an int or a
    ParameterInteger) replacing the count the Transformer was built with."""

    def __init__(self, name: str, step_args, instance_count, **kwargs):
        super().__init__(name, step_args=step_args, **kwargs)
        self.instance_count = instance_count

    @property
    def arguments(self) -> dict:
        request = super().arguments
        request["TransformResources"]["InstanceCount"] = self.instance_count
        return request
