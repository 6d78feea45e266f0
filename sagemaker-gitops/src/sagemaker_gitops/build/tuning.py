"""build/config.yml's `tuning` as the SageMaker SDK's tuner arguments.

Also the one place that says how training's log lines ("validation-rmse:52.1", the shape the
built-in XGBoost algorithm logs and build/steps/train.py prints) are read as metrics
("validation:rmse"): the metric definitions SageMaker applies, and the local runner too.
"""

import re

from sagemaker.core.parameter import CategoricalParameter, ContinuousParameter, IntegerParameter
from sagemaker.core.shapes import (
    HyperbandStrategyConfig,
    HyperParameterTuningJobStrategyConfig,
    HyperParameterTuningJobWarmStartConfig,
    ParentHyperParameterTuningJob,
)
from sagemaker.core.workflow.parameters import ParameterString

from ..config import BuildConfig, CategoricalRange, ContinuousRange, Tuning

DATASETS = ("train", "validation")
VALUE = r"([-+0-9.eE]+|nan|inf)"


def metric_definitions(names: tuple[str, ...]) -> list[dict[str, str]]:
    """Name "validation:rmse" read from lines "validation-rmse:52.1", for every dataset and name."""
    return [
        {"Name": f"{dataset}:{name}", "Regex": f"{dataset}-{re.escape(name)}:{VALUE}"}
        for dataset in DATASETS
        for name in names
    ]


def parameter_ranges(tuning: Tuning) -> dict:
    ranges = {}
    for name, spec in tuning.ranges.items():
        if isinstance(spec, CategoricalRange):
            ranges[name] = CategoricalParameter([str(value) for value in spec.values])
        elif isinstance(spec, ContinuousRange):
            ranges[name] = ContinuousParameter(spec.min, spec.max, scaling_type=spec.scaling)
        else:
            ranges[name] = IntegerParameter(spec.min, spec.max, scaling_type=spec.scaling)
    return ranges


def strategy_config(tuning: Tuning) -> HyperParameterTuningJobStrategyConfig | None:
    if tuning.hyperband is None:
        return None
    return HyperParameterTuningJobStrategyConfig(
        hyperband_strategy_config=HyperbandStrategyConfig(
            min_resource=tuning.hyperband.min_resource, max_resource=tuning.hyperband.max_resource
        )
    )


def warm_start_parent(tuning: Tuning) -> ParameterString | None:
    """The pipeline parameter WarmStartParent, only when build/config.yml warm-starts: the first
    parent, which one run can swap for another job (`--param WarmStartParent=<tuning job>`)."""
    if tuning.warm_start is None:
        return None
    return ParameterString("WarmStartParent", default_value=tuning.warm_start.parents[0])


def warm_start_config(
    tuning: Tuning, first_parent: ParameterString | None
) -> HyperParameterTuningJobWarmStartConfig | None:
    if tuning.warm_start is None:
        return None
    parents = [first_parent or tuning.warm_start.parents[0], *tuning.warm_start.parents[1:]]
    return HyperParameterTuningJobWarmStartConfig(
        warm_start_type=tuning.warm_start.type,
        parent_hyper_parameter_tuning_jobs=[
            ParentHyperParameterTuningJob(hyper_parameter_tuning_job_name=name) for name in parents
        ],
    )


def custom_metric_definitions(config: BuildConfig) -> list[dict[str, str]] | None:
    """Our training script's metrics need definitions; the built-in XGBoost image has its own."""
    return None if config.framework == "xgboost" else metric_definitions(config.emitted_metrics())
