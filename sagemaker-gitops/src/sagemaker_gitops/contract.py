"""What a project and the platform both rely on, named once.

The metadata a registered model version carries (its CustomerMetadataProperties): the project's
build/pipeline.py writes these keys at registration, and the registry listing, the deploy checks,
the staging evidence and the reports read them. (Issue 31 brings the rest of the contract here: the
parameter names, the step names the tests and reports read, evaluation.json's layout.)
"""

GIT_COMMIT = "git_commit"  # the commit the version was built from, "-dirty" when uncommitted
EXECUTION_ID = "pipeline_execution_id"
GATE_METRIC = "gate_metric"  # the metric its gate compared
MODEL_SHA256 = "model_sha256"  # the sha256 of the archive Evaluate scored and kept
DATA_SHA256 = "data_sha256"  # the sha256 of the data Preprocess read
METADATA_KEYS = (GIT_COMMIT, EXECUTION_ID, GATE_METRIC, MODEL_SHA256, DATA_SHA256)


def metadata(package: dict) -> dict[str, str]:
    """A described model package's metadata ({} for a version registered without any)."""
    return package.get("CustomerMetadataProperties", {})
