"""The features as the model reads them: the columns in order, and each text column's categories.

One rule for training, evaluation and serving. Preprocess learns it from the training split
(`learn`) and writes it as features.json beside the test split; Evaluate puts that file into the
model archive it scores and keeps, and the endpoint's inference.py reads it from there. So a caller
sends the columns as the team's data has them, text included, and every row becomes numbers the
same way (`encode`) wherever it is scored:
  a number column  the number; an empty field is a missing value
  a text column    the code of its category, 0 for the most frequent in the training split, 1
                   for the next, ... (ties by name), MAX_CATEGORIES at most. Any other value (a
                   category never seen in training, or one too rare to be kept) and an empty field
                   are a missing value, which the trees send the way they learned for missing
                   values: a defined answer, never an error.
Shipped beside preprocess.py and evaluate.py (the `features` input of their jobs) and with the
serving code (build/steps/).
"""

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

FILE = "features.json"
# A column with more categories keeps its most frequent ones: trees split on codes, and a code
# seen a handful of times teaches them nothing but noise.
MAX_CATEGORIES = 100


def learn(columns: dict[str, Sequence], text_columns: Iterable[str]) -> dict:
    """The rule for these feature columns (name -> training values, in the model's order), the
    named ones being text: their categories, most frequent first."""
    categories = {}
    for name in text_columns:
        counts = Counter(str(value).strip() for value in columns[name] if not _missing(value))
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        categories[name] = [category for category, _ in ranked[:MAX_CATEGORIES]]
    return {"columns": list(columns), "categories": categories}


def encode(rule: dict | None, rows: Sequence[Sequence]) -> np.ndarray:
    """Rows of raw values (the fields of CSV lines) as the model's numbers, one row each (rule
    None: a model without features.json, numbers only). ValueError, in one line, for a row of
    another length or text in a number column."""
    if rule is None:
        rule = {"columns": [f"column {n + 1}" for n in range(len(rows[0]) if rows else 0)], "categories": {}}
    names = rule["columns"]
    for number, row in enumerate(rows, 1):
        if len(row) != len(names):
            raise ValueError(
                f"row {number} has {len(row)} fields; the model reads {len(names)}: {', '.join(names)}"
            )
    return encode_columns(rule, list(zip(*rows, strict=True)) or [()] * len(names))


def encode_columns(rule: dict, columns: Sequence[Sequence]) -> np.ndarray:
    """The same for a table given column by column, in the rule's order (a row per value)."""
    encoded = [
        _codes(values, rule["categories"][name]) if name in rule["categories"] else _numbers(name, values)
        for name, values in zip(rule["columns"], columns, strict=True)
    ]
    return np.array(encoded, dtype=float).reshape(len(encoded), -1).T


def write(rule: dict, folder: Path) -> None:
    (folder / FILE).write_text(json.dumps(rule, indent=1) + "\n")


def read(folder: Path) -> dict | None:
    """The rule in a folder (a model's), or None: a model from before features.json reads numbers."""
    path = Path(folder) / FILE
    return json.loads(path.read_text()) if path.exists() else None


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def _codes(values: Sequence, categories: list[str]) -> list[float]:
    code = {category: float(n) for n, category in enumerate(categories)}
    return [math.nan if _missing(value) else code.get(str(value).strip(), math.nan) for value in values]


def _numbers(name: str, values: Sequence) -> list[float]:
    try:
        return [math.nan if _missing(value) else float(value) for value in values]
    except ValueError as error:
        raise ValueError(f"column {name!r} reads numbers: {error}") from None
