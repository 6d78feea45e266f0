"""The model-quality metrics and constraints: what Evaluate scores a model by and writes its gate
as, what training logs for tuning, and what the monitor checks an endpoint's labelled answers by.

Runs in the step's image (scikit-learn or XGBoost: both ship scikit-learn and numpy), as a job's
input `model_quality` beside the script that imports it, and on a laptop. The formats are SageMaker
Model Monitor's model-quality statistics ({"<problem>_metrics": {name: {"value": x}}}),
constraints ({"<problem>_constraints": {name: {"threshold", "comparison_operator"}}}) and
violations.
"""

import numpy as np
from sklearn import metrics


def compute_metrics(problem_type: str, labels: np.ndarray, predictions: np.ndarray) -> dict:
    """The metrics of answers (the model's output per row: a value, class 1's probability, or one
    probability per class) against labels (a classifier's codes): the gate's and the others."""
    if problem_type == "regression":
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(labels, predictions))),
            "mae": float(metrics.mean_absolute_error(labels, predictions)),
            "r2": float(metrics.r2_score(labels, predictions)),
        }
    if problem_type == "binary_classification":
        return {
            "auc": float(metrics.roc_auc_score(labels, predictions)),
            "accuracy": float(metrics.accuracy_score(labels, predictions >= 0.5)),
            # zero_division: a model (or the naive answer) that never predicts the class scores 0.
            "f1": float(metrics.f1_score(labels, predictions >= 0.5, zero_division=0)),
        }
    if predictions.ndim != 2:
        raise SystemExit(
            "evaluate: the model answers one value per row, not one probability per class: a"
            " multiclass model must be trained with every class (and, in XGBoost, multi:softprob)"
        )
    predicted_classes = np.argmax(predictions, axis=1)
    return {
        "accuracy": float(metrics.accuracy_score(labels, predicted_classes)),
        "f1_macro": float(metrics.f1_score(labels, predicted_classes, average="macro", zero_division=0)),
    }


def quality_constraints(problem_type: str, metric: str, direction: str, required: float) -> dict:
    """The gate as model-quality constraints, in Model Monitor's format (registered with the
    version beside evaluation.json, its statistics): the metric is violated on the wrong side of
    what this version was required to reach."""
    operator = "GreaterThanThreshold" if direction == "<=" else "LessThanThreshold"
    rule = {metric: {"threshold": required, "comparison_operator": operator}}
    return {"version": 0.0, f"{problem_type}_constraints": rule}


def violations(scores: dict[str, float], constraints: dict) -> list[dict]:
    """Model Monitor's model-quality violations: each metric of `<problem>_constraints` on the
    wrong side of its threshold."""
    found = []
    for name, rule in constraints.items():
        value, threshold, check = scores[name], rule["threshold"], rule["comparison_operator"]
        if (value < threshold) if check == "LessThanThreshold" else (value > threshold):
            description = f"Metric {name} with {value:.4g} was {check} '{threshold:.4g}'"
            found.append({"metric_name": name, "constraint_check_type": check, "description": description})
    return found
