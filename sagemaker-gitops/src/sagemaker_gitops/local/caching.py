"""SageMaker Pipelines' step cache: which arguments decide whether a step is a cache hit, and
the earlier run a local run reuses.

AWS documents, per step type, the request attributes its cache key covers ("Caching pipeline
steps" in the SageMaker developer guide): a step whose CacheConfig is enabled is a hit when an
earlier execution of the same pipeline ran it successfully with the same key, no longer ago than
its ExpireAfter. A hit hands on the earlier run's properties, so an S3 path built from the
*current* execution id and a *cached* step's output name points at nothing.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from ..definition.step_kinds import KINDS

# pydantic also reads "30 days" as a timedelta; SageMaker takes ISO 8601 only (P30D, PT1H).
ISO_DURATION = re.compile(r"^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")


def cacheable(step_type: str, document: dict) -> bool:
    """Whether SageMaker may reuse an earlier run of this step (RegisterModel never is)."""
    cached = KINDS[step_type].cache_key if step_type in KINDS else ()
    return bool(cached) and document.get("CacheConfig", {}).get("Enabled") is True


def cache_key(step_type: str, request: dict) -> str:
    """The part of a step's resolved request that decides a hit, as canonical JSON."""
    kind = KINDS[step_type]
    key = {name: request.get(name) for name in kind.cache_key}
    if kind.cache_key_of_definition:  # a tuning step's: only part of its TrainingJobDefinition counts
        definition = request.get("TrainingJobDefinition", {})
        key["TrainingJobDefinition"] = {name: definition.get(name) for name in kind.cache_key_of_definition}
    return json.dumps(key, sort_keys=True)


@dataclass
class Hit:
    execution_id: str  # the execution whose run of the step is reused
    properties: dict  # that run's Describe* properties, handed on


def expiry(document: dict) -> timedelta | None:
    """CacheConfig.ExpireAfter (an ISO 8601 duration such as P30D); None: the cache never expires."""
    expire_after = document["CacheConfig"].get("ExpireAfter")
    if expire_after is None:
        return None
    try:
        if not ISO_DURATION.match(expire_after):
            raise ValueError
        return TypeAdapter(timedelta).validate_python(expire_after)
    except (ValueError, ValidationError):
        raise ValueError(f"CacheConfig ExpireAfter {expire_after!r} is not an ISO 8601 duration") from None


def earlier_run(
    runs: Path, pipeline_arn: str, step: str, key: str, expire_after: timedelta | None, now: datetime
) -> Hit | None:
    """The newest earlier local execution (.mlops/runs/<id>/execution.json) of the same pipeline
    (its name, account and region) whose run of `step` succeeded with this cache key within
    expire_after of now."""
    found = []
    for record_file in runs.glob("*/execution.json"):
        try:
            record = json.loads(record_file.read_text())
            started = datetime.fromisoformat(record["CreationTime"])
            same_pipeline = record["PipelineExecutionArn"].startswith(f"{pipeline_arn}/execution/")
        except (OSError, ValueError, KeyError, AttributeError):
            continue  # a run cut off before it was recorded: nothing to reuse
        if not same_pipeline or (expire_after is not None and now - started > expire_after):
            continue
        for earlier in record.get("Steps", []):
            if (earlier.get("StepName"), earlier.get("StepStatus"), earlier.get("CacheKey")) == (
                step,
                "Succeeded",
                key,
            ):
                found.append((started, record_file.parent.name, earlier["Properties"]))
    if not found:
        return None
    _, execution_id, properties = max(found, key=lambda hit: hit[0])
    return Hit(execution_id, properties)
