"""What SageMaker's built-in XGBoost algorithm accepts, from its container's source
(aws/sagemaker-xgboost-container): each hyperparameter's range, the objective each problem type
trains with, the largest request it serves. build/config.yml is checked against these on load
(config.py), so a value the algorithm refuses fails before a training job starts."""

# The built-in XGBoost algorithm's own ranges (sagemaker-xgboost-container,
# algorithm_mode/hyperparameter_validation.py): name -> (type, low, low included, high, high
# included). A value outside fails the training job with a UserError, minutes into a run.
XGBOOST_RANGES: dict[str, tuple[type, float | None, bool, float | None, bool]] = {
    "num_round": (int, 1, True, None, False),
    "early_stopping_rounds": (int, 1, True, None, False),
    "max_depth": (int, 0, True, None, False),
    "max_leaves": (int, 0, True, None, False),
    "max_bin": (int, 0, True, None, False),
    "num_class": (int, 2, True, None, False),
    "num_parallel_tree": (int, 1, True, None, False),
    "nthread": (int, 1, True, None, False),
    "verbosity": (int, 0, True, 3, True),
    "eta": (float, 0, True, 1, True),
    "gamma": (float, 0, True, None, False),
    "min_child_weight": (float, 0, True, None, False),
    "max_delta_step": (float, 0, True, None, False),
    "subsample": (float, 0, False, 1, True),
    "colsample_bytree": (float, 0, False, 1, True),
    "colsample_bylevel": (float, 0, False, 1, True),
    "colsample_bynode": (float, 0, False, 1, True),
    "lambda": (float, 0, True, None, False),
    "alpha": (float, 0, True, None, False),
    "scale_pos_weight": (float, 0, False, None, False),
    "base_score": (float, 0, True, None, False),
    "rate_drop": (float, 0, True, 1, True),
    "skip_drop": (float, 0, True, 1, True),
    "tweedie_variance_power": (float, 1, False, 2, False),
}
# What the built-in XGBoost trains for each problem type: problem_type decides it, and
# build/config.yml's hyperparameters only override it. The objectives are the ones whose output
# build/steps/evaluate.py and inference.py read: a value (regression), the probability of the
# second class (binary), one probability per class (multiclass).
XGBOOST_BY_PROBLEM: dict[str, dict[str, str]] = {
    "regression": {"objective": "reg:squarederror", "eval_metric": "rmse"},
    "binary_classification": {"objective": "binary:logistic", "eval_metric": "auc"},
    "multiclass_classification": {"objective": "multi:softprob", "eval_metric": "mlogloss"},
}
XGBOOST_OBJECTIVES = {
    "regression": ("reg:", "count:poisson"),  # any reg:* answers a value
    "binary_classification": ("binary:logistic",),
    "multiclass_classification": ("multi:softprob",),
}
# The largest request body the built-in XGBoost container takes (its MAX_CONTENT_LENGTH, 6 MiB).
XGBOOST_MAX_PAYLOAD_MB = 6


def xgboost_range_problem(name: str, value: object) -> str:
    """Why the built-in XGBoost algorithm refuses `value` for hyperparameter `name`, or ""."""
    if name not in XGBOOST_RANGES:
        return ""
    kind, low, low_in, high, high_in = XGBOOST_RANGES[name]
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return f"{name}={value!r}: XGBoost takes {'a whole number' if kind is int else 'a number'}"
    if kind is int and number != float(value):
        return f"{name}={value!r}: XGBoost takes a whole number"
    below = low is not None and (number < low or (number == low and not low_in))
    above = high is not None and (number > high or (number == high and not high_in))
    if below or above:
        opening, closing = "[" if low_in else "(", "]" if high_in else ")"
        shown = f"{opening}{low}, {high if high is not None else 'inf'}{closing}"
        return f"{name}={value}: XGBoost takes values in {shown}"
    return ""


def problem_type_problem(hyperparameters: dict, problem_type: str) -> str:
    """Why the objective or num_class contradicts the problem type, or "": the objectives whose
    output the steps read, and num_class exactly for multiclass."""
    objective = str(hyperparameters["objective"])
    fitting = XGBOOST_OBJECTIVES[problem_type]
    if not objective.startswith(fitting):
        return (
            f"hyperparameters.objective {objective!r} does not fit problem_type {problem_type}"
            f" (it takes {' or '.join(f'{o}*' if o.endswith(':') else o for o in fitting)}): leave"
            " objective out, problem_type decides it"
        )
    multiclass = problem_type == "multiclass_classification"
    if multiclass and "num_class" not in hyperparameters:
        return (
            "hyperparameters.num_class: problem_type multiclass_classification needs the number"
            " of classes in the data"
        )
    if not multiclass and "num_class" in hyperparameters:
        return (
            f"hyperparameters.num_class is for problem_type multiclass_classification, not"
            f" {problem_type}: remove it"
        )
    return ""
