"""What a project and the platform both rely on, named once: the project's build/pipeline.py and
tests use these names (sagemaker_gitops.contract is public), and the platform reads them.

- The pipeline parameters the platform fills in or checks: a run's data (`--data`), the gate a
  run may tighten but never loosen (checked against build/config.yml's gate before anything runs),
  and what a run compares with in prod (its model, its data-quality baseline).
- The steps the project's tests, its rules and the platform read by name.
- The metadata a registered model version carries (its CustomerMetadataProperties), which the
  registry listing, the deploy checks, the staging evidence and the reports read.
- evaluation.json, which Evaluate writes and the version registers as its model quality:
  `{"<problem>_metrics": {name: {"value": x}}, "gate": {...}, "labels": {"classes": [...]},
  "features": {"columns": [...], ...}}`.
"""

# Pipeline parameters.
INPUT_DATA_URL = "InputDataUrl"
GATE_THRESHOLD = "GateThreshold"
# What the runs compare with in prod, filled in from deploy/prod.yml's version: its kept model
# (gate.not_worse_than_prod) and the folder of its data-quality baseline (quality.compare_with_prod).
CHAMPION_MODEL_URL = "ChampionModelUrl"
DATA_BASELINE_URL = "DataBaselineUrl"
APPROVAL_STATUS = "ModelApprovalStatus"  # never a parameter: a person approves (refused by name)

# Steps.
PREPROCESS = "Preprocess"
TRAIN = "Train"  # in a project that trains once; in one that tunes:
TUNE = "Tune"
# The monitoring pipeline's step a run ends at when it found drift and its stage retrains on drift:
# build/retraining.yml's rule starts the build pipeline on its status change (the emulator: mlops).
DRIFT_RETRAINS = "DriftedRetrain"

# A registered version's metadata.
GIT_COMMIT = "git_commit"  # the commit the version was built from, "-dirty" when uncommitted
EXECUTION_ID = "pipeline_execution_id"
GATE_METRIC = "gate_metric"  # the metric its gate compared
MODEL_SHA256 = "model_sha256"  # the sha256 of the archive Evaluate scored and kept
DATA_SHA256 = "data_sha256"  # the sha256 of the data Preprocess read
METADATA_KEYS = (GIT_COMMIT, EXECUTION_ID, GATE_METRIC, MODEL_SHA256, DATA_SHA256)

# evaluation.json's sections.
METRICS_SECTION = "_metrics"  # the suffix of "<problem>_metrics"
LABELS = "labels"
FEATURES = "features"


def metadata(package: dict) -> dict[str, str]:
    """A described model package's metadata ({} for a version registered without any)."""
    return package.get("CustomerMetadataProperties", {})


def model_metrics(evaluation: object) -> dict[str, float]:
    """evaluation.json's model-quality metrics by name ({} for anything that is not one)."""
    if not isinstance(evaluation, dict):
        return {}
    return {
        name: value["value"]
        for section, metrics in evaluation.items()
        if section.endswith(METRICS_SECTION) and isinstance(metrics, dict)
        for name, value in metrics.items()
    }


def data_baseline(package: dict) -> str:
    """The folder of a described model package's data-quality baseline (its statistics.json and
    constraints.json, registered as ModelMetrics.ModelDataQuality); "" for a version without one."""
    return _baseline_folder(package, "ModelDataQuality")


def model_baseline(package: dict) -> str:
    """The folder of a described model package's model-quality baseline (Evaluate's evaluation.json
    and constraints.json, registered as ModelMetrics.ModelQuality); "" for a version without one."""
    return _baseline_folder(package, "ModelQuality")


def _baseline_folder(package: dict, kind: str) -> str:
    constraints = package.get("ModelMetrics", {}).get(kind, {}).get("Constraints", {})
    uri = constraints.get("S3Uri", "")
    return uri.rsplit("/", 1)[0] + "/" if uri else ""
