"""The smoke test after a deploy: the endpoint answers, and answers what the model's own
inference code (build/steps/inference.py) predicts for the same rows of the test split."""

import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from .. import aws
from ..config import load_config
from ..errors import MlopsError
from ..project import load_step, project

if TYPE_CHECKING:  # numpy is imported where a smoke test runs: every `mlops` verb imports this module
    import numpy as np

ROWS = 5
# The runtime's errors that are about the endpoint or its model, not about the caller.
SERVING_ERRORS = {"ModelError", "ValidationError", "ModelNotReadyException"}
# The endpoint serialises with the same output_fn, so only float formatting may differ.
RELATIVE_TOLERANCE = 1e-4


def read_data(data: Path, config):
    """The CSV files in `data` as build/steps/preprocess.py reads and checks them under
    build/config.yml (its read_data): (table with the target first, each row's key or None, the
    classes or None), and the module. SystemExit with preprocessing's one-line reason."""
    preprocess = load_step("preprocess")
    split = config.split
    options = ["--problem-type", config.problem_type, "--target-column", config.target_column]
    options += ["--split-strategy", split.strategy, "--max-key-share", str(split.max_key_share)]
    options += ["--split-key", split.key] if split.key else []
    if config.framework == "xgboost" and "num_class" in config.hyperparameters:
        options += ["--num-class", str(config.hyperparameters["num_class"])]
    return preprocess.read_data(data, preprocess.parse_args(options)), preprocess


def test_rows(count: int = ROWS) -> str:
    """The first rows of the test split of data/sample.csv, as an endpoint takes them: the
    feature columns as the data has them (no target, no split key)."""
    config = load_config(project().config_path)
    (frame, keys, _), preprocess = read_data(project().root / "data", config)
    split = config.split
    _, _, test = preprocess.split(
        frame, split.strategy, split.validation_fraction, split.test_fraction, split.seed, keys
    )
    return test.iloc[:count, 1:].to_csv(header=False, index=False)


def artifact_of(package: dict) -> bytes:
    """The model package's model.tar.gz, read from S3."""
    return aws.read_s3(package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])


def local_predictions(artifact: bytes, body: str) -> str:
    """What inference.py answers for `body`, with a model.tar.gz's model."""
    inference = load_step("inference")
    with tempfile.TemporaryDirectory() as model_dir:
        with tarfile.open(fileobj=io.BytesIO(artifact)) as archive:
            archive.extractall(model_dir, filter="data")
        model = inference.model_fn(model_dir)
    predictions = inference.predict_fn(inference.input_fn(body, "text/csv"), model)
    answer, _ = inference.output_fn(predictions, "text/csv")
    return answer


def invoke(endpoint: str, body: str, inference_id: str = "") -> str:
    """The endpoint's answer to CSV rows, sent with `inference_id` when given (InvokeEndpoint's
    InferenceId: the data capture records it, and labels name the request by it); an error it
    answers (the model's, or a container that never became healthy) is one line naming the
    endpoint."""
    request = {"EndpointName": endpoint, "ContentType": "text/csv", "Accept": "text/csv"}
    request["Body"] = body.encode()
    if inference_id:
        request["InferenceId"] = inference_id
        # The service's rule (1-64 printable characters), from botocore's model: botocore itself
        # checks only the minimum, and the emulator's runtime none.
        from ..definition.api_requests import check

        if found := check("InvokeEndpoint", request, service="sagemaker-runtime"):
            raise MlopsError(f"not sent to {endpoint}: {found[0]}")
    try:
        response = aws.client("sagemaker-runtime").invoke_endpoint(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] not in SERVING_ERRORS:
            raise  # AccessDenied and the like: the CLI says what AWS said
        raise MlopsError(f"endpoint {endpoint}: {error.response['Error']['Message']}") from None
    return response["Body"].read().decode(errors="replace")


def answered_rows(answer: str, rows: int) -> "np.ndarray":
    """An endpoint's CSV answer to `rows` rows, one row of numbers per row. A serving module
    (inference.py's output_fn) answers a line per row; the built-in XGBoost algorithm answers its
    predictions joined by commas on one line, a multiclass model's each as "[p0, p1, p2]" (its
    serve.py: `",".join(map(str, predictions))`). ValueError for anything else."""
    import numpy as np

    text = answer.strip()
    if text.startswith("["):
        return np.array(json.loads("[" + ",".join(text.splitlines()) + "]"), dtype=float, ndmin=2)
    values = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
    return values.T if rows > 1 and values.shape == (1, rows) else values


def compare(answer: str, expected: str, rows: int) -> None:
    """MlopsError unless the endpoint's answer has one prediction row per input row, as expected."""
    import numpy as np

    try:
        answered = answered_rows(answer, rows)
    except ValueError:
        raise MlopsError(
            f"smoke test: the endpoint did not answer CSV predictions: {answer[:200]!r}"
        ) from None
    wanted = np.loadtxt(io.StringIO(expected), delimiter=",", ndmin=2)
    if answered.shape != wanted.shape or answered.shape[0] != rows:
        raise MlopsError(f"smoke test: {rows} rows sent, the endpoint answered shape {answered.shape}")
    if not np.allclose(answered, wanted, rtol=RELATIVE_TOLERANCE, atol=1e-6):
        raise MlopsError(
            "smoke test: the endpoint's predictions differ from build/steps/inference.py on the same"
            f" model: {answer.splitlines()[0]} vs {expected.splitlines()[0]}"
        )
