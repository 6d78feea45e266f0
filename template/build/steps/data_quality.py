"""Data quality in SageMaker Model Monitor's documented formats, computed with pandas: a table's
statistics (statistics.json), the constraints they suggest (constraints.json), and what another
table violates of them (constraint_violations.json). Preprocess baselines the training split's
features with it, and checks them against the baseline of the model prod serves.

Where this differs from Model Monitor's analyzer (Deequ on Spark), docs/quality.md says why:
distributions are exact, not KLL sketches (a feature's "sketch" holds at most SKETCH_POINTS of its
quantiles); drift is the largest gap between two cumulative distributions (numbers) or two sets
of category shares (text), compared with the comparison thresholds, and with comparison_method
Robust (the default) also with what two samples of these sizes from one distribution differ by
(the two-sample Kolmogorov-Smirnov bound, for the whole table at 99 %: each of its k features at
1 - 0.01/k), so that a new sample of the same data is not drift; is_non_negative is suggested
and, as in Model Monitor's six checks, not checked.
"""

import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

BUCKETS = 10  # Model Monitor materializes each distribution in 10 buckets
SKETCH_POINTS = 2048  # KLL's default k: the most quantiles a feature's sketch keeps
MAX_DOMAIN = 20  # a text feature with at most this many values must keep to them
MONITORING_CONFIG = {  # Model Monitor's fields and example thresholds; Robust: see above
    "evaluate_constraints": "Enabled",
    "emit_metrics": "Enabled",
    "datatype_check_threshold": 0.1,
    "domain_content_threshold": 0.1,
    "distribution_constraints": {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.1,
        "comparison_method": "Robust",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    },
}
NUMERIC = ("Integral", "Fractional")
FALSE_ALARMS = 0.01  # Robust: how often a table drawn like the baseline may be called drifted


def inferred_type(values: pd.Series) -> str:
    """Integral, Fractional or String as Model Monitor names them; Unknown when nothing is present."""
    present = values.dropna()
    if present.empty:
        return "Unknown"
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any():
        return "String"
    return "Integral" if (numbers == numbers.round()).all() else "Fractional"


def statistics(frame: pd.DataFrame) -> dict:
    """statistics.json of a table: its row count and each column's."""
    return {
        "version": 0,
        "dataset": {"item_count": len(frame)},
        "features": [_feature(str(name), frame[name]) for name in frame.columns],
    }


def _feature(name: str, values: pd.Series) -> dict:
    kind = inferred_type(values)
    present = values.dropna()
    common = {"num_present": int(present.size), "num_missing": int(values.size - present.size)}
    if kind not in NUMERIC:
        counts = present.astype(str).value_counts()
        buckets = [{"value": value, "count": int(count)} for value, count in counts.items()]
        string = {"common": common, "distinct_count": float(counts.size)}
        return {
            "name": name,
            "inferred_type": kind,
            "string_statistics": {**string, "distribution": {"categorical": {"buckets": buckets}}},
        }
    numbers = np.sort(pd.to_numeric(present).to_numpy(dtype=float))
    edges = np.linspace(numbers[0], numbers[-1], BUCKETS + 1)
    counts = np.histogram(numbers, bins=edges)[0] if numbers[0] < numbers[-1] else [numbers.size]
    buckets = [
        {"lower_bound": float(low), "upper_bound": float(high), "count": float(count)}
        for low, high, count in zip(edges, edges[1:], counts, strict=False)
    ]
    points = numbers
    if numbers.size > SKETCH_POINTS:
        points = np.quantile(numbers, np.linspace(0, 1, SKETCH_POINTS))
    sketch = {"parameters": {"c": 0.64, "k": float(SKETCH_POINTS)}, "data": [points.tolist()]}
    return {
        "name": name,
        "inferred_type": kind,
        "numerical_statistics": {
            "common": common,
            "mean": float(numbers.mean()),
            "sum": float(numbers.sum()),
            "std_dev": float(numbers.std()),  # of the population, as Deequ's
            "min": float(numbers[0]),
            "max": float(numbers[-1]),
            "distribution": {"kll": {"buckets": buckets, "sketch": sketch}},
        },
    }


def suggest_constraints(stats: dict) -> dict:
    """constraints.json for data like the data of `stats`: each feature's type and completeness,
    numbers non-negative where they were, text kept to the values seen where there are few."""
    features = []
    for feature in stats["features"]:
        suggested = {
            "name": feature["name"],
            "inferred_type": feature["inferred_type"],
            "completeness": _completeness(feature),
        }
        if feature["inferred_type"] in NUMERIC:
            suggested["num_constraints"] = {"is_non_negative": feature["numerical_statistics"]["min"] >= 0}
        elif feature["inferred_type"] == "String":
            buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
            if len(buckets) <= MAX_DOMAIN:
                suggested["string_constraints"] = {"domains": sorted(b["value"] for b in buckets)}
        features.append(suggested)
    return {"version": 0, "features": features, "monitoring_config": MONITORING_CONFIG}


def violations(stats: dict, constraints: dict, baseline: dict, frame: pd.DataFrame) -> list[dict]:
    """What the table `frame` (its statistics: `stats`) violates of `constraints`, comparing its
    distributions with those of `baseline` (the statistics the constraints were suggested from):
    constraint_violations.json's entries, one per feature and check."""
    config = constraints.get("monitoring_config", MONITORING_CONFIG)
    found = {feature["name"]: feature for feature in stats["features"]}
    expected = {feature["name"]: feature for feature in constraints["features"]}
    before = {feature["name"]: feature for feature in baseline["features"]}
    out = [
        _violation(name, "missing_column_check", "not in the data") for name in expected if name not in found
    ]
    out += [
        _violation(name, "extra_column_check", "not in the baseline")
        for name in found
        if name not in expected
    ]
    compared = [name for name in expected if name in found]
    miss = FALSE_ALARMS / max(1, len(compared))  # each feature's share of the table's false alarms
    for name in compared:
        out += _feature_violations(expected[name], found[name], before.get(name), frame[name], config, miss)
    return out


def _feature_violations(rule: dict, feature: dict, before: dict | None, values, config, miss) -> list:
    name, wanted = rule["name"], rule["inferred_type"]
    mismatched = _mismatched(values, wanted)
    if mismatched > config["datatype_check_threshold"]:
        return [_violation(name, "data_type_check", f"{_percent(mismatched)} of values are not {wanted}")]
    out = []
    completeness = _completeness(feature)
    if completeness < rule.get("completeness", 0) - 1e-9:
        out.append(
            _violation(
                name,
                "completeness_check",
                f"{_percent(completeness)} of values present, the baseline has"
                f" {_percent(rule['completeness'])}",
            )
        )
    domain = rule.get("string_constraints", {}).get("domains")
    present = values.dropna().astype(str)
    if domain is not None and present.size:
        unknown = ~present.isin(domain)
        if unknown.mean() > config["domain_content_threshold"]:
            example = present[unknown].iloc[0]
            out.append(
                _violation(
                    name,
                    "categorical_values_check",
                    f"{_percent(unknown.mean())} of values are not among the baseline's (e.g. {example!r})",
                )
            )
    drift = config.get("distribution_constraints", {})
    if before is not None and drift.get("perform_comparison") == "Enabled" and present.size:
        distance, threshold = _distance(before, feature, values), _threshold(before, feature, drift, miss)
        if distance is not None and distance > threshold:
            out.append(
                _violation(
                    name,
                    "baseline_drift_check",
                    f"distance {distance:.3g} from the baseline's distribution exceeds {threshold:.3g}",
                )
            )
    return out


def _distance(before: dict, feature: dict, values: pd.Series) -> float | None:
    """The largest gap between the two cumulative distributions (numbers), or between the shares
    of any one category (text); None when the two cannot be compared."""
    if before["inferred_type"] in NUMERIC and feature["inferred_type"] in NUMERIC:
        sketch = before["numerical_statistics"]["distribution"]["kll"]["sketch"]
        baseline = np.sort(np.asarray(sketch["data"][0], dtype=float))
        current = np.sort(pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float))
        points = np.concatenate([baseline, current])
        gaps = np.searchsorted(baseline, points, "right") / baseline.size
        gaps -= np.searchsorted(current, points, "right") / current.size
        return float(np.abs(gaps).max())
    if "string_statistics" in before and "string_statistics" in feature:
        shares = [_shares(side) for side in (before, feature)]
        values_seen = shares[0].keys() | shares[1].keys()
        return max(abs(shares[0].get(v, 0) - shares[1].get(v, 0)) for v in values_seen)
    return None


def _mismatched(values: pd.Series, wanted: str) -> float:
    """The share of present values that are not of the wanted type (none for String)."""
    present = values.dropna()
    if wanted not in NUMERIC or present.empty:
        return 0.0
    numbers = pd.to_numeric(present, errors="coerce")
    wrong = numbers.isna()
    if wanted == "Integral":
        wrong |= numbers != numbers.round()
    return float(wrong.mean())


def _percent(share: float) -> str:
    return f"{100 * share:.1f} %"


def _shares(feature: dict) -> dict[str, float]:
    buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
    total = sum(b["count"] for b in buckets) or 1
    return {b["value"]: b["count"] / total for b in buckets}


def _threshold(before: dict, feature: dict, drift: dict, miss: float) -> float:
    """The distance beyond which a distribution has drifted: the configured threshold and, with
    comparison_method Robust, no less than what chance alone gives two samples of these sizes but
    for a share `miss` of them."""
    numeric = before["inferred_type"] in NUMERIC
    threshold = drift.get("comparison_threshold" if numeric else "categorical_comparison_threshold", 0.1)
    if drift.get("comparison_method", "Robust") != "Robust":
        return threshold
    n, m = _common(before)["num_present"], _common(feature)["num_present"]
    if not (n and m):
        return threshold
    coefficient = math.sqrt(-math.log(miss / 2) / 2)
    return max(threshold, coefficient * math.sqrt((n + m) / (n * m)))


def _common(feature: dict) -> dict:
    part = feature.get("numerical_statistics") or feature.get("string_statistics") or {}
    return part.get("common", {"num_present": 0, "num_missing": 0})


def _completeness(feature: dict) -> float:
    """The share of a feature's values that are present (1 for a table without rows)."""
    common = _common(feature)
    total = common["num_present"] + common["num_missing"]
    return common["num_present"] / total if total else 1.0


def _violation(name: str, check: str, description: str) -> dict:
    return {"feature_name": name, "constraint_check_type": check, "description": description}


def read_baseline(
    folder: str, fetch: Callable[[str, Path], Path], names: tuple[str, ...] = ("statistics", "constraints")
) -> dict[str, dict]:
    """The statistics.json and constraints.json (or the other `names`) of a baseline folder at an
    s3:// or file:// URL, each saved with `fetch(url, path)` (write_once.fetch: this module itself
    reads no bucket)."""
    with tempfile.TemporaryDirectory() as scratch:
        return {
            name: json.loads(fetch(f"{folder.rstrip('/')}/{name}.json", Path(scratch) / name).read_text())
            for name in names
        }


def write(document: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
