"""Check the raw data against what training accepts, then split it into train, validation and test.

Runs as a SageMaker Processing job (sklearn image) and on a laptop. Container layout:
  input       {base}/input/*.csv         CSV files with one header (the same in each) and the target
  write_once  {base}/write_once/write_once.py (beside this file locally)
  features    {base}/features/features.py     (beside this file locally)
  data_quality {base}/data_quality/data_quality.py (beside this file locally)
  output      {base}/{train,validation,test}/{split}.csv
              {base}/test/features.json  the feature columns and each text column's categories
              {base}/test/labels.json    classification: the classes, in the order of their codes
              {base}/data/data.json      what was read and where the splits are kept
              {base}/data/quality/       the training features' statistics.json and constraints.json
                                         (Model Monitor's formats), and constraint_violations.json
                                         against --data-baseline-url's when it is given
Every split has no header and the target in the first column. Train and validation hold numbers
only, the layout the built-in XGBoost algorithm reads: a text column's values become the codes of
its categories, learnt from the training split (features.py says how, and what an unseen value
becomes). The test split keeps the features as the data has them, which is what an endpoint is
sent: evaluate.py scores it through the serving code and features.json, which travels with it.
Classification labels become codes 0..K-1 (text labels such as Yes/No too); labels.json maps them
back and travels with the test split to evaluate.py, which records it with the model version.
Data the training cannot read stops the job with one line naming the column and the rule.

The training split's features are the model's data-quality baseline (data_quality.py): registered
with the version, they are what later training data is checked against (--data-baseline-url, the
baseline of the model prod serves); a violation stops the job in one line naming the feature and
the check, unless --on-violation record.

The data's identity is its content: data.json records the sha256 of the files read (registered
with the model version) and, given --keep-splits-under (the pipeline always gives it), the splits
are put once under <under>/<sha256 of the splits>/<split>/, the URLs the later steps read. The
step itself is never cached (its request names a URL, and the objects behind a URL change); the
steps after it are cached exactly when the splits are the same.
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

# MLOPS_PROCESSING_DIR: where `mlops local run` puts the container's /opt/ml/processing.
BASE_DIR = os.environ.get("MLOPS_PROCESSING_DIR", "/opt/ml/processing")
# write_once.py and features.py: the job's inputs of those names (beside this file when a test
# imports it).
sys.path[:0] = [
    str(Path(__file__).resolve().parent),
    f"{BASE_DIR}/write_once",
    f"{BASE_DIR}/features",
    f"{BASE_DIR}/data_quality",
]
import data_quality  # noqa: E402
import features  # noqa: E402
from write_once import fetch, put_once  # noqa: E402

SPLITS = ("train", "validation", "test")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-dir", default=BASE_DIR)
    parser.add_argument("--target-column", default="target")
    parser.add_argument(
        "--problem-type",
        required=True,
        choices=["regression", "binary_classification", "multiclass_classification"],
    )
    # XGBoost's multi:softprob needs num_class to be the number of classes in the data.
    parser.add_argument("--num-class", type=int)
    strategies = ["random", "stratified", "ordered", "key"]
    parser.add_argument("--split-strategy", choices=strategies, default="random")
    # Strategy key: the column whose rows stay in one split; it is not a feature, and is dropped.
    parser.add_argument("--split-key")
    parser.add_argument("--max-key-share", type=float, default=0.05)
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep-splits-under", help="s3://bucket/prefix to keep the splits under")
    # A folder holding a baseline's statistics.json and constraints.json ("": none to check against).
    parser.add_argument("--data-baseline-url", default="")
    parser.add_argument("--on-violation", choices=["fail", "record"], default="fail")
    return parser.parse_args(argv)


def read_input(input_dir: Path, target_column: str) -> pd.DataFrame:
    files = sorted(input_dir.glob("*.csv"))
    if not files:
        raise SystemExit(f"preprocess: no CSV file in {input_dir}")
    frames = [pd.read_csv(file) for file in files]
    for file, other in zip(files[1:], frames[1:], strict=True):
        if list(other.columns) != list(frames[0].columns):
            raise SystemExit(f"preprocess: {file.name} has other columns than {files[0].name}")
    frame = pd.concat(frames, ignore_index=True)
    if target_column not in frame.columns:
        raise SystemExit(f"preprocess: column {target_column!r} not in {files[0].name}")
    # A True/False feature is a number to the model: 1/0.
    for column in frame.columns.drop(target_column):
        if frame[column].dtype == bool:
            frame[column] = frame[column].astype(int)
    # Target first: the built-in XGBoost algorithm reads the label from column 0.
    return frame[[target_column, *[c for c in frame.columns if c != target_column]]].copy()


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.drop_duplicates().head(3).tolist())


def text_columns(frame: pd.DataFrame) -> list[str]:
    """The features (all columns but the first) that hold text: categories, in features.py."""
    return [column for column in frame.columns[1:] if not pd.api.types.is_numeric_dtype(frame[column])]


def encode_target(frame: pd.DataFrame, problem_type: str, num_class: int | None) -> list | None:
    """Check the target column; for classification, replace its labels by codes 0..K-1 in place and
    return the labels in code order (None for regression)."""
    target = frame.columns[0]
    missing = frame[target].isna()
    if missing.any():
        rows = ", ".join(str(i + 2) for i in frame.index[missing][:3])  # +2: header, 1-based
        raise SystemExit(f"preprocess: {missing.sum()} rows have no {target!r} (file lines {rows}, ...)")
    if problem_type == "regression":
        if not pd.api.types.is_numeric_dtype(frame[target]):
            raise SystemExit(
                f"preprocess: {target!r} holds text ({_examples(frame[target])}): regression needs numbers"
            )
        return None
    classes = sorted(frame[target].unique().tolist(), key=lambda label: (str(type(label)), label))
    wanted = {"binary_classification": 2, "multiclass_classification": num_class}[problem_type]
    if wanted is not None and len(classes) != wanted:
        where = "binary classification" if wanted == 2 else "num_class in build/config.yml"
        raise SystemExit(
            f"preprocess: {where} needs {wanted} classes in {target!r}; the data has {len(classes)}"
            f" ({_examples(pd.Series(classes))}{', ...' if len(classes) > 3 else ''})"
        )
    frame[target] = frame[target].map({label: code for code, label in enumerate(classes)})
    return classes


def take_keys(frame: pd.DataFrame, column: str | None, max_share: float) -> pd.Series:
    """Remove the key column from the frame and return it, each key as text (a key read as 7 in one
    file and 7.0 in another is one key); warn about a key so large that it tilts the split."""
    if not column or column not in frame.columns:
        raise SystemExit(f"preprocess: the key column {column!r} (split.key) is not in the data")
    keys = frame.pop(column)
    missing = keys.isna()
    if missing.any():
        rows = ", ".join(str(i + 2) for i in frame.index[missing][:3])
        raise SystemExit(f"preprocess: {missing.sum()} rows have no {column!r} (file lines {rows}, ...)")
    keys = keys.map(lambda key: str(int(key)) if isinstance(key, float) and key.is_integer() else str(key))
    for key, share in keys.value_counts(normalize=True).items():
        if share > max_share:
            print(
                f"preprocess: warning: {column} {key!r} holds {share * 100:.0f}% of the rows"
                f" (split.max_key_share is {max_share * 100:.0f}%): they all go to one split, which tilts"
                " the fractions"
            )
    return keys


def split_by_key(frame: pd.DataFrame, keys: pd.Series, validation: float, test: float, seed: int):
    """Every row of a key in one split, chosen by a hash of the seed and the key alone: a key's split
    does not depend on the other rows, so rows that arrive later never move an existing key."""

    def draw(key: str) -> float:  # uniform in [0, 1), the same for a key wherever it is
        return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64

    draws = keys.map(draw)
    training = draws < 1 - validation - test
    validating = ~training & (draws < 1 - test)
    return frame[training], frame[validating], frame[~training & ~validating]


def split(frame: pd.DataFrame, strategy: str, validation: float, test: float, seed: int, keys=None):
    """Return (train, validation, test) frames; the same seed gives the same split (strategy key:
    keys holds each row's key)."""
    holdout = validation + test
    if not 0 < holdout < 1:
        raise SystemExit("preprocess: validation + test fractions must be between 0 and 1")
    if strategy == "key":
        return split_by_key(frame, keys, validation, test, seed)
    if strategy == "ordered":
        # Time-ordered data: train on the oldest rows, test on the newest, no shuffling.
        n_train = round(len(frame) * (1 - holdout))
        n_validation = round(len(frame) * validation)
        return (
            frame.iloc[:n_train],
            frame.iloc[n_train : n_train + n_validation],
            frame.iloc[n_train + n_validation :],
        )
    labels = frame.iloc[:, 0] if strategy == "stratified" else None
    try:
        train, rest = train_test_split(frame, test_size=holdout, random_state=seed, stratify=labels)
        rest_labels = rest.iloc[:, 0] if strategy == "stratified" else None
        validation_part, test_part = train_test_split(
            rest, test_size=test / holdout, random_state=seed, stratify=rest_labels
        )
    except ValueError as error:  # too few rows, or a class too rare to stratify
        raise SystemExit(f"preprocess: cannot split {len(frame)} rows ({strategy}): {error}") from None
    return train, validation_part, test_part


def digest(files: list[Path]) -> str:
    """The sha256 of the files' bytes, one after the other: `cat FILES | sha256sum`."""
    whole = hashlib.sha256()
    for path in files:
        with path.open("rb") as file:
            for chunk in iter(lambda: file.read(1024 * 1024), b""):
                whole.update(chunk)
    return whole.hexdigest()


def record_data(base: Path, rows: int, keep_under: str | None) -> dict:
    """data.json: the identity of the data read and of the splits made, and where the splits are:
    with keep_under, put once under <keep_under>/<splits sha256>/; else where they were written."""
    inputs = sorted((base / "input").glob("*.csv"))  # read in this order; their names are no data
    made = {path.relative_to(base).as_posix(): path for name in SPLITS for path in (base / name).iterdir()}
    listing = "".join(f"{name} {digest([path])}\n" for name, path in sorted(made.items()))
    splits = {"sha256": hashlib.sha256(listing.encode()).hexdigest()}
    kept = f"{keep_under.rstrip('/')}/{splits['sha256']}" if keep_under else base.resolve().as_uri()
    if keep_under:
        for name, path in made.items():
            put_once(path, f"{kept}/{name}")
    splits.update({name: f"{kept}/{name}/" for name in SPLITS})
    read = {"sha256": digest(inputs), "files": [path.name for path in inputs]}
    data = {"input": {**read, "rows": rows}, "splits": splits}
    (base / "data").mkdir(exist_ok=True)
    (base / "data" / "data.json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"preprocess: data sha256 {data['input']['sha256']}")
    return data


def check_training_classes(train: pd.DataFrame, classes: list, strategy: str) -> None:
    """Every class in the training split: a model that never saw one cannot predict it."""
    seen = set(train.iloc[:, 0])
    missing = [label for code, label in enumerate(classes) if code not in seen]
    if missing:
        hint = " (an ordered split of data sorted by class: sort it by time)" if strategy == "ordered" else ""
        raise SystemExit(f"preprocess: the training split has no rows of class {missing[0]!r}{hint}")


def read_data(input_dir: Path, args) -> tuple[pd.DataFrame, pd.Series | None, list | None]:
    """The CSV files read and checked as these arguments say: the table (target first), each
    row's key (strategy key) and the classes in code order (None for regression). SystemExit,
    in one line, for data the training cannot take."""
    frame = read_input(input_dir, args.target_column)
    keys = take_keys(frame, args.split_key, args.max_key_share) if args.split_strategy == "key" else None
    classes = encode_target(frame, args.problem_type, args.num_class)
    return frame, keys, classes


def learn_features(train: pd.DataFrame) -> dict:
    """features.py's rule for this data, learnt from the training split alone."""
    columns = {name: train[name].tolist() for name in train.columns[1:]}
    return features.learn(columns, text_columns(train))


def as_numbers(part: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """A split as the training reads it: each text column's values replaced by their codes."""
    text = list(rule["categories"])
    if not text:
        return part
    codes = features.encode_columns({**rule, "columns": text}, [part[name].tolist() for name in text])
    return part.assign(**dict(zip(text, codes.T, strict=True)))


def main(argv=None) -> None:
    args = parse_args(argv)
    base = Path(args.base_dir)
    frame, keys, classes = read_data(base / "input", args)
    fractions = (args.validation_fraction, args.test_fraction)
    parts = split(frame, args.split_strategy, *fractions, args.seed, keys)
    if classes is not None:
        check_training_classes(parts[0], classes, args.split_strategy)
    rule = learn_features(parts[0])
    for name, part in zip(SPLITS, parts, strict=True):
        out_dir = base / name
        out_dir.mkdir(parents=True, exist_ok=True)
        # The test split as an endpoint is sent it; train and validation as the training reads them.
        written = part if name == "test" else as_numbers(part, rule)
        written.to_csv(out_dir / f"{name}.csv", header=False, index=False)
        print(f"preprocess: {name}: {len(part)} rows")
    features.write(rule, base / "test")
    for column, categories in rule["categories"].items():
        print(f"preprocess: {column!r} is a text feature: {describe_categories(frame[column], categories)}")
    if classes is not None:
        labels = {"column": args.target_column, "classes": classes}
        (base / "test" / "labels.json").write_text(json.dumps(labels) + "\n")
        print("preprocess: classes " + ", ".join(f"{code} = {label!r}" for code, label in enumerate(classes)))
    record_data(base, len(frame), args.keep_splits_under)
    check_quality(parts[0].iloc[:, 1:], base / "data" / "quality", args)


def check_quality(train_features: pd.DataFrame, out: Path, args) -> None:
    """The training features' baseline, written to `out`; checked against --data-baseline-url's
    when it is given: its violations written, and unless --on-violation record, SystemExit naming
    the first."""
    stats = data_quality.statistics(train_features)
    data_quality.write(stats, out / "statistics.json")
    data_quality.write(data_quality.suggest_constraints(stats), out / "constraints.json")
    if not args.data_baseline_url:
        return
    folder = args.data_baseline_url.rstrip("/")
    baseline = data_quality.read_baseline(folder, fetch)
    found = data_quality.violations(stats, baseline["constraints"], baseline["statistics"], train_features)
    data_quality.write({"violations": found}, out / "constraint_violations.json")
    print(f"preprocess: {len(found)} violation{'' if len(found) == 1 else 's'} of the baseline at {folder}")
    if found and args.on_violation == "fail":
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise SystemExit(
            f"preprocess: the training data violates the data baseline at {folder}:"
            f" {first['feature_name']!r}: {first['constraint_check_type']}: {first['description']}{more}"
        )


def describe_categories(values: pd.Series, categories: list[str]) -> str:
    """How a text column is read, and what its rare values become when only the most frequent are kept."""
    found = values.dropna().astype(str).str.strip().nunique()
    if found <= len(categories):
        return f"{len(categories)} categories"
    return (
        f"{found} values; the {len(categories)} most frequent in training are its categories"
        f" (features.MAX_CATEGORIES), the others are read as missing"
    )


if __name__ == "__main__":
    main()
