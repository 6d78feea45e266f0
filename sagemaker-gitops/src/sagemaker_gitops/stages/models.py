"""The project's model package group in the SageMaker Model Registry: list, approve, reject."""

import json

from botocore.exceptions import ClientError

from .. import aws, contract
from ..contract import DATA_SHA256, GIT_COMMIT, metadata
from ..errors import MlopsError
from ..project import project
from ..repository import short_commit


def versions(status: str | None = None) -> list[dict]:
    """Every version in the group (only those with approval `status` if given), newest first, all pages."""
    pages = aws.client("sagemaker").get_paginator("list_model_packages")
    only = {"ModelApprovalStatus": status} if status else {}
    try:
        listed = [
            summary
            for page in pages.paginate(
                ModelPackageGroupName=project().model_package_group,
                SortBy="CreationTime",
                SortOrder="Descending",
                **only,
            )
            for summary in page["ModelPackageSummaryList"]
        ]
    except ClientError as error:
        raise MlopsError(
            f"cannot list model group {project().model_package_group!r}: {aws.explain(error)}"
        ) from None
    return sorted(listed, key=lambda p: p.get("ModelPackageVersion", 0), reverse=True)


def describe(version: int) -> dict:
    """One version, described; a clear error when the group has no such version."""
    listed = versions()
    match = next((p for p in listed if p.get("ModelPackageVersion") == version), None)
    if match is None:
        latest = f"the latest is {listed[0]['ModelPackageVersion']}" if listed else "it has none yet"
        raise MlopsError(f"model group {project().model_package_group!r} has no version {version} ({latest})")
    return aws.client("sagemaker").describe_model_package(ModelPackageName=match["ModelPackageArn"])


# Any version's ARN: the approval's request is checked for its reason, not for which version.
SAMPLE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/group/1"


def set_approval(version: int, status: str, reason: str) -> dict:
    """Approve or reject a version; returns it as it was before. Metadata is kept as it is."""
    if not reason.strip():
        raise MlopsError("--reason must say why (it is kept with the version)")
    from ..definition.api_requests import check  # botocore's model: only approving needs it

    refused = check("UpdateModelPackage", {"ModelPackageArn": SAMPLE_ARN, "ApprovalDescription": reason})
    if refused:
        raise MlopsError(f"--reason: {refused[0]}")
    described = describe(version)
    if described.get("ModelApprovalStatus") == status:
        return described
    # UpdateModelPackage is sent the metadata again: some implementations (moto) reset
    # the fields a call leaves out, and the git commit and execution id must survive.
    aws.client("sagemaker").update_model_package(
        ModelPackageArn=described["ModelPackageArn"],
        ModelApprovalStatus=status,
        ApprovalDescription=reason,
        CustomerMetadataProperties=metadata(described),
    )
    return described


def provenance(package: dict) -> str:
    """The commit a version was built from, as registration recorded it: "<sha, 8>", "<sha, 8>-dirty"
    (built from uncommitted changes), or "unknown" (built outside a git checkout)."""
    return short_commit(metadata(package).get(GIT_COMMIT) or "unknown")


def trained_on(package: dict) -> str:
    """The sha256 of the data a version was trained on, as registration recorded it (what the build
    pipeline's Preprocess read); "" for a version registered before it was recorded."""
    return metadata(package).get(DATA_SHA256, "")


def uncommitted_source(package: dict) -> str:
    """Why git cannot say what code a version runs ("" when it can)."""
    found = provenance(package)
    if found == "unknown":
        return "outside a git checkout (commit unknown)"
    return f"uncommitted changes (commit {found})" if found.endswith("-dirty") else ""


def described(arn: str) -> dict:
    """The version's DescribeModelPackage; {} for none ("") or one that cannot be read."""
    if not arn:
        return {}
    try:
        return aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    except ClientError:
        return {}


def details(package: dict, serves: list[str]) -> list[tuple[str, str]]:
    """A described version in full, as (what, value) lines: what `mlops models list` cannot fit in
    80 columns (its approval's reason, every metric, its quality baselines' files)."""
    found = [
        ("version", str(package.get("ModelPackageVersion", ""))),
        ("arn", package["ModelPackageArn"]),
        ("status", package.get("ModelApprovalStatus", "")),
        ("approval reason", package.get("ApprovalDescription", "")),
        ("created", str(package.get("CreationTime", ""))),
        ("git commit", provenance(package)),
        ("pipeline execution", metadata(package).get(contract.EXECUTION_ID, "")),
        ("trained on data sha256", trained_on(package)),
        ("model sha256", metadata(package).get(contract.MODEL_SHA256, "")),
        ("gate metric", metadata(package).get(contract.GATE_METRIC, "")),
        *((f"metric {name}", f"{value:.6g}") for name, value in package_metrics(package).items()),
    ]
    for kind in ("ModelDataQuality", "ModelQuality"):
        for part, source in package.get("ModelMetrics", {}).get(kind, {}).items():
            found.append((f"{kind} {part.lower()}", source.get("S3Uri", "")))
    found.append(("serves", ", ".join(serves) or "no stage"))
    return [(what, value) for what, value in found if value]


def package_metrics(package: dict) -> dict[str, float]:
    """The model-quality metrics registered with a described version (its evaluation.json); {} if
    none."""
    return contract.model_metrics(evaluation_report(package))


def classes(package: dict) -> list:
    """A classifier's labels in the order of its codes, as preprocessing found them in the data
    (evaluation.json's "labels"); [] for a regression model or a version registered without them."""
    labels = evaluation_report(package).get(contract.LABELS)
    return labels.get("classes", []) if isinstance(labels, dict) else []


def features(package: dict) -> dict | None:
    """The rule a version's requests are read by (evaluation.json's "features": the columns in
    order, each text column's categories); None for a version registered without it."""
    rule = evaluation_report(package).get(contract.FEATURES)
    return rule if isinstance(rule, dict) and isinstance(rule.get("columns"), list) else None


def evaluation_report(package: dict) -> dict:
    """The evaluation.json registered with a described version; {} if it has none or cannot be read."""
    try:
        report = json.loads(aws.read_s3(package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]))
    except (ClientError, KeyError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}
