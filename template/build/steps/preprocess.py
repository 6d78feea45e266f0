"""Split the raw data into train, validation and test sets.

Runs as a SageMaker Processing job (sklearn image) and on a laptop. Container layout:
  input   {base}/input/*.csv         one CSV with a header and the target column
  output  {base}/{train,validation,test}/{split}.csv
The outputs have no header and the target in the first column: the layout the
built-in XGBoost algorithm reads, and the one train.py and evaluate.py expect.
"""

import argparse
import os
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

SPLITS = ("train", "validation", "test")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # MLOPS_PROCESSING_DIR: where `mlops local run` puts the container's /opt/ml/processing.
    parser.add_argument("--base-dir", default=os.environ.get("MLOPS_PROCESSING_DIR", "/opt/ml/processing"))
    parser.add_argument("--target-column", default="target")
    parser.add_argument("--split-strategy", choices=["random", "stratified", "ordered"], default="random")
    parser.add_argument("--validation-fraction", type=float, default=0.15)
    parser.add_argument("--test-fraction", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def read_input(input_dir: Path, target_column: str) -> pd.DataFrame:
    files = sorted(input_dir.glob("*.csv"))
    if not files:
        raise SystemExit(f"preprocess: no CSV file in {input_dir}")
    frame = pd.read_csv(files[0])
    if target_column not in frame.columns:
        raise SystemExit(f"preprocess: column {target_column!r} not in {files[0].name}")
    # Target first: the built-in XGBoost algorithm reads the label from column 0.
    return frame[[target_column, *[c for c in frame.columns if c != target_column]]]


def split(frame: pd.DataFrame, strategy: str, validation: float, test: float, seed: int):
    """Return (train, validation, test) frames; the same seed gives the same split."""
    holdout = validation + test
    if not 0 < holdout < 1:
        raise SystemExit("preprocess: validation + test fractions must be between 0 and 1")
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
    train, rest = train_test_split(frame, test_size=holdout, random_state=seed, stratify=labels)
    rest_labels = rest.iloc[:, 0] if strategy == "stratified" else None
    validation_part, test_part = train_test_split(
        rest, test_size=test / holdout, random_state=seed, stratify=rest_labels
    )
    return train, validation_part, test_part


def main(argv=None) -> None:
    args = parse_args(argv)
    base = Path(args.base_dir)
    frame = read_input(base / "input", args.target_column)
    parts = split(frame, args.split_strategy, args.validation_fraction, args.test_fraction, args.seed)
    for name, part in zip(SPLITS, parts, strict=True):
        out_dir = base / name
        out_dir.mkdir(parents=True, exist_ok=True)
        part.to_csv(out_dir / f"{name}.csv", header=False, index=False)
        print(f"preprocess: {name}: {len(part)} rows")


if __name__ == "__main__":
    main()
