"""Score the trained model on the test split and write evaluation.json.

Runs as a SageMaker Processing job (sklearn image) and on a laptop. Container layout:
  model       {base}/model/model.tar.gz      the training job's artifact
  test        {base}/test/*.csv              no header, label first, the features as sent to an endpoint
              {base}/test/features.json      how the features become numbers (features.py)
              {base}/test/labels.json        classification: the classes in code order
  inference   {base}/inference/inference.py  the serving code (beside this file locally)
  features    {base}/features/features.py    (beside this file locally)
  model_quality {base}/model_quality/model_quality.py (beside this file locally)
  write_once  {base}/write_once/write_once.py (beside this file locally)
  output      {base}/evaluation/evaluation.json
              {base}/evaluation/constraints.json  the gate, as Model Monitor's model-quality constraints
  work        {base}/work/model.tar.gz       the model served: the artifact, features.json, code/
The model scored is the one an endpoint serves: the training job's archive with features.json
added (so a request's raw columns become the numbers the model was trained on) and the serving
code (inference.py, features.py) under code/, scored through inference.py's model_fn, input_fn
and predict_fn. The "model" block holds its sha256, which the
registered version records, and its URL: given --keep-model-under (the pipeline always gives it),
the copy a version is registered with: <under>/<sha256>/model.tar.gz, written once
(If-None-Match), which infra/bootstrap.yml's bucket policy lets no one replace or delete (the
training job's own output stays writable); else the file it scored (a file:// URL). Every model
scored is kept, whether or not it passes: whether a version is registered is the ConditionStep's
decision alone.
The metrics (model_quality.py's, which training logs and the monitor checks too) use SageMaker's
model-quality layout ({"<problem>_metrics": {name: {"value": x}}}) so the Model Registry shows
them. The "gate" block holds what the gate requires (the strictest of the threshold; with
--beat-baseline-by, a share of the way from the naive answer on the same test rows to a perfect
score; with --champion-model-url, the score of the model prod serves, on the same rows, by its
own serving code) and its verdict, for people and reports; the pipeline's ConditionStep compares
the metric with `gate.required` itself, and that decides.
"""

import argparse
import csv
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

# MLOPS_PROCESSING_DIR: where `mlops local run` puts the container's /opt/ml/processing.
BASE_DIR = os.environ.get("MLOPS_PROCESSING_DIR", "/opt/ml/processing")
# write_once.py, features.py and model_quality.py: the job's inputs of those names (beside this
# file when a test imports it).
sys.path[:0] = [
    str(Path(__file__).resolve().parent),
    *(f"{BASE_DIR}/{name}" for name in ("write_once", "features", "model_quality")),
]
import features  # noqa: E402
from model_quality import compute_metrics, quality_constraints  # noqa: E402
from write_once import fetch, put_once, sha256_of  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-dir", default=BASE_DIR)
    parser.add_argument(
        "--problem-type",
        required=True,
        choices=["regression", "binary_classification", "multiclass_classification"],
    )
    parser.add_argument("--gate-metric", required=True)
    # Which side passes, as build/config.yml's gate says (the pipeline's ConditionStep compares the
    # same way): "<=" for an error, ">=" for a score.
    parser.add_argument("--gate-direction", choices=["<=", ">="], required=True)
    parser.add_argument("--gate-threshold", type=float, required=True)
    # How much of the way from the naive answer to a perfect score the model must go (skill).
    parser.add_argument("--beat-baseline-by", type=float)
    # The model prod serves (its kept archive), which the new one must not score worse than.
    parser.add_argument("--champion-model-url", default="")
    parser.add_argument("--keep-model-under", help="s3://bucket/prefix to keep the scored model under")
    return parser.parse_args(argv)


def load_inference_module(base: Path):
    # inference.py is the serving code; import it rather than re-implement prediction.
    sys.path[:0] = [str(Path(__file__).resolve().parent), str(base / "inference")]
    import inference

    return inference


def shown(value: float) -> str:
    """A number as a person reads it: four significant digits, no exponent (56696.93 -> "56700")."""
    rounded = float(f"{value:.4g}")
    return np.format_float_positional(rounded, trim="-")


def baseline_metrics(problem_type: str, labels: np.ndarray, predictions: np.ndarray) -> dict:
    """The metrics of the naive answer on the same test rows: their mean for a regression, their
    class shares for a classifier (so it names the most frequent class): a model that cannot beat
    it has learnt nothing from the features."""
    if problem_type == "multiclass_classification":
        shares = np.bincount(labels.astype(int), minlength=predictions.shape[1]) / len(labels)
        return compute_metrics(problem_type, labels, np.tile(shares, (len(labels), 1)))
    return compute_metrics(problem_type, labels, np.full(len(labels), labels.mean()))


def gate_verdict(
    name: str,
    direction: str,
    value: float,
    threshold: float,
    baseline: float | None = None,
    by=None,
    champion=None,
) -> dict:
    """Pass when the metric is on the right side of the threshold; given `by`, when it goes that
    share of the way from the baseline to a perfect score (0 for errors, 1 for scores); given the
    champion's value, when it is no worse. Required is the strictest of them: what the pipeline's
    ConditionStep compares against."""
    lower_is_better = direction == "<="
    stricter = min if lower_is_better else max
    required = threshold
    if by is not None:
        perfect = 0.0 if lower_is_better else 1.0
        required = stricter(required, baseline + by * (perfect - baseline))
    if champion is not None:
        required = stricter(required, champion)
    passed = value <= required if lower_is_better else value >= required
    # How far the metric is on the wrong side of what is required (0 when it passes).
    shortfall = round(max(0.0, value - required if lower_is_better else required - value), 6)
    return {
        "metric": name,
        "value": value,
        "threshold": threshold,
        **({"baseline": {"value": baseline, "beat_by": by}} if by is not None else {}),
        "required": required,
        "direction": direction,
        "passed": passed,
        "shortfall": shortfall,
        # What the failed gate's message shows (GateFailed in build/pipeline.py).
        "shown": {"value": shown(value), "required": shown(required), "shortfall": shown(shortfall)},
    }


# The champion is scored by its own serving code, in a process of its own: its inference.py and
# features.py, not this run's (a module, once imported, stays the one imported).
SCORE_WITH_ITS_OWN_CODE = """
import json, sys
sys.path.insert(0, sys.argv[1] + "/code")
import inference
print(json.dumps(inference.predict_fn(json.load(sys.stdin), inference.model_fn(sys.argv[1])).tolist()))
"""


def score_champion(url: str, problem_type: str, metric: str, labels, rows: list, work: Path) -> dict:
    """The model prod serves, scored on the same test rows by its own serving code: its URL and
    metric value; or, when it cannot be (an archive from before models carried their code, rows
    it cannot read after a change of columns), its URL and why it was not compared."""
    work.mkdir(parents=True, exist_ok=True)
    archive = fetch(url, work / "champion.tar.gz")
    with archive.open("rb") as file:
        sha256 = sha256_of(file)
    if f"/{sha256}/" not in url:  # kept models are named by their sha256 (keep_model)
        raise SystemExit(f"evaluate: the champion {url} is not the model its name says (sha256 {sha256})")
    with tarfile.open(archive) as opened:
        opened.extractall(work / "champion", filter="data")
    if not (work / "champion" / "code" / "inference.py").exists():
        return {"url": url, "compared": False, "why": "its archive has no serving code (made before 0.4)"}
    scoring = [sys.executable, "-c", SCORE_WITH_ITS_OWN_CODE, str(work / "champion")]
    done = subprocess.run(scoring, input=json.dumps(rows), capture_output=True, text=True, check=False)
    if done.returncode:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return {"url": url, "compared": False, "why": f"it cannot score these test rows: {why}"}
    predictions = np.array(json.loads(done.stdout))
    return {"url": url, "value": compute_metrics(problem_type, labels, predictions)[metric]}


def keep_model(artifact: Path, sha256: str, under: str) -> str:
    """Copy the model just scored to <under>/<sha256>/model.tar.gz, written once, and return its URL
    (the same model trained again finds its copy there)."""
    url = f"{under.rstrip('/')}/{sha256}/model.tar.gz"
    put_once(artifact, url)
    return url


def served_model(artifact: Path, features_json: Path, code: list[Path], out: Path) -> Path:
    """The model as an endpoint gets it: the training job's archive, features.json, and the
    serving code under code/ (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code: the container needs
    no network to fetch it, and the code is as write-once as the model). Byte for byte the same
    for the same inputs (no times, one order), so the same model made again finds its kept copy."""
    files = {}
    with tarfile.open(artifact) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name != features.FILE and not member.name.startswith("code/"):
                files[member.name] = archive.extractfile(member).read()
    files[features.FILE] = features_json.read_bytes()
    files.update({f"code/{path.name}": path.read_bytes() for path in code})
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        out.open("wb") as file,
        gzip.GzipFile(filename="", fileobj=file, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name, data in sorted(files.items()):
            archive.addfile(_entry(name, len(data)), io.BytesIO(data))
    return out


def _entry(name: str, size: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.size, entry.mode = size, 0o644
    return entry


def read_test(test_dir: Path) -> tuple[np.ndarray, list[list[str]]]:
    """The test split: its labels, and its rows of features as an endpoint is sent them."""
    rows = []
    for path in sorted(test_dir.glob("*.csv")):
        with path.open(newline="") as file:
            rows += [row for row in csv.reader(file) if row]
    return np.array([float(row[0]) for row in rows]), [row[1:] for row in rows]


def main(argv=None) -> dict:
    args = parse_args(argv)
    base = Path(args.base_dir)
    inference = load_inference_module(base)
    artifact = next((base / "model").glob("*.tar.gz"))
    code = [Path(inference.__file__), Path(inference.features.__file__)]  # what it imports
    served = served_model(artifact, base / "test" / features.FILE, code, base / "work" / "model.tar.gz")
    with tempfile.TemporaryDirectory() as model_dir:
        with tarfile.open(served) as archive:
            archive.extractall(model_dir, filter="data")
        model = inference.model_fn(model_dir)
    labels_of_rows, rows = read_test(base / "test")
    predictions = inference.predict_fn(rows, model)
    scores = compute_metrics(args.problem_type, labels_of_rows, predictions)
    if args.gate_metric not in scores:
        raise SystemExit(f"evaluate: gate metric {args.gate_metric!r} not in {sorted(scores)}")
    labels = base / "test" / "labels.json"
    with served.open("rb") as file:
        sha256 = sha256_of(file)
    baseline = baseline_metrics(args.problem_type, labels_of_rows, predictions)[args.gate_metric]
    champion = {}
    if args.champion_model_url:
        champion = score_champion(
            args.champion_model_url, args.problem_type, args.gate_metric, labels_of_rows, rows, base / "work"
        )
        print(f"evaluate: champion {json.dumps(champion)}")
    gate = gate_verdict(
        args.gate_metric,
        args.gate_direction,
        scores[args.gate_metric],
        args.gate_threshold,
        baseline,
        args.beat_baseline_by,
        champion.get("value"),
    )
    if champion:
        gate["champion"] = champion
    report = {
        f"{args.problem_type}_metrics": {k: {"value": v} for k, v in scores.items()},
        # Classification: what each predicted code (or probability column) stands for.
        **({"labels": json.loads(labels.read_text())} if labels.exists() else {}),
        # What a request holds (features.py's rule): `mlops invoke` checks rows against it.
        "features": features.read(base / "test"),
        "gate": gate,
        # Registered with the version: a deploy refuses an artifact changed after evaluation.
        "model": {"sha256": sha256},
    }
    # Where the model is: kept (a version may be registered with it); else the file scored.
    if args.keep_model_under:
        report["model"]["url"] = keep_model(served, sha256, args.keep_model_under)
    else:
        report["model"]["url"] = served.as_uri()
    out_dir = base / "evaluation"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    required = gate["required"]
    constraints = quality_constraints(args.problem_type, args.gate_metric, args.gate_direction, required)
    (out_dir / "constraints.json").write_text(json.dumps(constraints, indent=2) + "\n")
    print(f"evaluate: {json.dumps(report['gate'])}")
    return report


if __name__ == "__main__":
    main()
