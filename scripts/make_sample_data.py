"""Write the bundled sample data sets (template/data/_datasets/<problem_type>.csv).

Maintainer tool: run it only to change the bundled data. Generated projects never
download data; they get one of these files as data/sample.csv.

    uv run --with scikit-learn python scripts/make_sample_data.py
"""

from pathlib import Path

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

OUT = Path(__file__).resolve().parents[1] / "template" / "data" / "_datasets"

# scikit-learn's bundled real data sets: small, licence-free, one per problem type.
LOADERS = {
    "regression": lambda: load_diabetes(as_frame=True, scaled=False),
    "binary_classification": lambda: load_breast_cancer(as_frame=True),
    "multiclass_classification": lambda: load_wine(as_frame=True),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for problem_type, load in LOADERS.items():
        # scikit-learn ships some sets sorted by class; shuffle once (seeded) so that file
        # order carries no label order and an `ordered` split still sees every class.
        frame = load().frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
        frame.columns = [c.replace(" ", "_").replace("/", "_") for c in frame.columns]
        path = OUT / f"{problem_type}.csv"
        frame.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
        print(f"{path.relative_to(OUT.parents[2])}: {len(frame)} rows, {frame.shape[1] - 1} features")


if __name__ == "__main__":
    main()
