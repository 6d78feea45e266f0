"""A team's own data in place of the bundled sample, put into four generated projects before their
`make test` (test_render.py), as a team would: its CSV over data/sample.csv, its target column in
build/config.yml, the snapshot refreshed, committed (a target in other units keeps the default
gate, which has none). Variations of the bundled samples (stdlib csv: the suite needs no data
library), each other than them in column names and in scale or label type, two with a text
feature (one of them also scored in batch, on the endpoint and by the smoke test: raw text rows
through the serving image); the projects' own tests must follow."""

import csv
import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml


def _rewrite(project: Path, target: str, row: Callable[[dict], dict], header: Callable[[str], str]) -> None:
    """data/sample.csv with each row changed and each column renamed; target_column set."""
    sample = project / "data" / "sample.csv"
    with sample.open(newline="") as file:
        rows = list(csv.DictReader(file))
    changed = [row(dict(r)) for r in rows]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = list(changed[0])
    writer.writerow([target if name == "target" else header(name) for name in names])
    writer.writerows([r[name] for name in names] for r in changed)
    sample.write_text(out.getvalue())
    config = project / "build" / "config.yml"
    config.write_text(config.read_text().replace("target_column: target\n", f"target_column: {target}\n"))


def progression_per_mille(project: Path) -> None:
    """Regression in other units (the target times 1,000) and column names with spaces and units.
    The gate is left as generated: the default (r2) has no units."""
    config = project / "build" / "config.yml"
    key = yaml.safe_load(config.read_text())["split"].get("key")  # the split key keeps its name
    _rewrite(
        project,
        "progression per mille",
        lambda r: {**r, "target": str(int(float(r["target"]) * 1000))},
        lambda name: name if name == key else f"{name} (measured)",
    )


def cultivar_names(project: Path) -> None:
    """Multiclass labels as text (the cultivars' names), upper-case column names."""
    names = {"0": "barbera", "1": "barolo", "2": "grignolino"}
    _rewrite(project, "cultivar", lambda r: {**r, "target": names[r["target"]]}, str.upper)


def clinic(radius: str) -> str:
    """A text feature that carries signal: where a case was seen, from its first feature (a comma
    inside one category, as real exports have)."""
    return "north, main site" if float(radius) < 12 else "south" if float(radius) < 15 else "east"


def diagnosis(project: Path) -> None:
    """Binary labels as text, the target column in the middle of the row, and a text feature
    (clinic, last) in the training data and in the batch rows the stages score."""
    labels = {"0": "malignant", "1": "benign"}

    def row(r: dict) -> dict:
        features = [name for name in r if name != "target"]
        middle = len(features) // 2
        return {
            **{name: r[name] for name in features[:middle]},
            "target": labels[r["target"]],
            **{name: r[name] for name in features[middle:]},
            "clinic": clinic(r[features[0]]),
        }

    _rewrite(project, "diagnosis", row, lambda name: name.replace("_", " "))
    batch = project / "data" / "batch" / "sample.csv"
    if batch.exists():  # rows: an ID, then the features in training order
        with batch.open(newline="") as file:
            rows = [[*r, clinic(r[1])] for r in csv.reader(file)]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        batch.write_text(out.getvalue())


def sex_as_text(project: Path) -> None:
    """The regression sample with its sex column as the words, a text feature."""
    _rewrite(project, "target", lambda r: {**r, "sex": {"1": "female", "2": "male"}[r["sex"]]}, str)


# Preset -> its team's data.
OWN_DATA = {
    "regression-xgboost": progression_per_mille,
    "multiclass_classification-xgboost": cultivar_names,
    "binary_classification-xgboost": diagnosis,
    "regression-sklearn": sex_as_text,
}


def use_own_data(project: Path, preset: str) -> None:
    """Put the preset's own data in place, refresh the snapshot (the target column is a Preprocess
    argument) and commit, as the team would; nothing for a preset on the bundled sample."""
    if preset not in OWN_DATA:
        return
    OWN_DATA[preset](project)
    for command in (
        ["make", "snapshot"],
        ["git", "add", "--all"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "Our data"],
    ):
        subprocess.run(command, cwd=project, check=True, capture_output=True)
