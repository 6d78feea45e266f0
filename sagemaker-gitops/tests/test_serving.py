"""The emulator's endpoints serve as SageMaker does: the model package's image's serving stack, in
that image's libraries, with the package's Environment exactly. So a model that AWS would fail to
serve fails `mlops deploy` locally, with the serving error, and `mlops invoke` asks the same
endpoint that the smoke test asked."""

import contextlib
import gzip
import http.client
import io
import json
import re
import tarfile

import boto3
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import PRESET, any_shape
from sagemaker_gitops import aws
from sagemaker_gitops.config import load_config
from sagemaker_gitops.desired_state import set_model_package
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.local import endpoints, image_envs
from sagemaker_gitops.project import load_step, project
from sagemaker_gitops.stages import deploy, smoke

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS")  # moto skips alarms and autoscaling
XGBOOST_ONLY = pytest.mark.skipif(PRESET != "xgboost", reason="the built-in XGBoost image's serving")


def test_staging_is_answered_by_a_container_in_the_images_environment(
    repo, registry, record, local_runtime, registered_container
):
    arn = registry()
    record("staging", arn)
    done = deploy.deploy("staging", repo=repo)
    assert done.smoke_test.endswith("answered as build/steps/inference.py predicts")
    container = endpoints.describe(aws.region(), done.endpoint)
    assert container.image == registered_container["Image"]
    served = local_runtime.running[endpoints.fingerprint(aws.region(), container)]
    python = served.process.args[0]
    assert python.startswith(str(image_envs.cache_folder())), "the image's environment, not the project's"


def test_a_container_no_endpoint_serves_any_more_is_stopped(repo, registry, record, local_runtime):
    containers = []
    for name in ("first", "second"):  # an Environment of their own: a container of their own
        record("staging", registry(environment={"MLOPS_TEST_CONTAINER": name}))
        endpoint = deploy.deploy("staging", repo=repo).endpoint
        identity = endpoints.fingerprint(aws.region(), endpoints.describe(aws.region(), endpoint))
        containers.append(local_runtime.running[identity].process)
    first, second = containers
    assert first.poll() is not None, "staging serves the second model: the first container stopped"
    assert second.poll() is None


@any_shape
def test_an_endpoint_that_captures_writes_each_request_and_answer_where_and_as_sagemaker_does(
    repo, registry, git, local_runtime
):
    """deploy/<stage>.yml's data_capture: every invocation sampled is a JSON line under
    <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/, SageMaker's capture record (the request and
    the answer with their content types and encodings, the event's id and time, and the
    InferenceId its caller gave, which labels name the request by)."""
    stage_file = repo / "deploy" / "staging.yml"
    stage = yaml.safe_load(stage_file.read_text())
    stage.pop("serverless", None)
    stage |= {"instance_type": "ml.t2.medium", "initial_instance_count": 1}
    stage["data_capture"] = {"enabled": True, "sampling_percentage": 100, "destination": ""}
    stage_file.write_text(yaml.safe_dump(stage))
    set_model_package(stage_file, registry())
    git("commit", "--quiet", "--all", "-m", "staging serves, capturing")
    done = deploy.deploy("staging", repo=repo)  # its smoke test is the first invocation
    rows = "\n".join(smoke.test_rows().splitlines()[:2]) + "\n"
    answer = smoke.invoke(done.endpoint, rows, "order-1")

    target = aws.resolve_target()
    s3 = boto3.client("s3", region_name=target.region)
    prefix = f"{project().slug}/data-capture/staging/{done.endpoint}/main/"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=target.bucket, Prefix=prefix)["Contents"])
    assert len(keys) == 2 and all(
        re.fullmatch(r"\d{4}/\d{2}/\d{2}/\d{2}/[^/]+\.jsonl", k[len(prefix) :]) for k in keys
    )
    records = [json.loads(s3.get_object(Bucket=target.bucket, Key=key)["Body"].read()) for key in keys]
    sent = next(r for r in records if r["captureData"]["endpointInput"]["data"] == rows)
    assert sent["captureData"]["endpointInput"] == {
        "observedContentType": "text/csv",
        "mode": "INPUT",
        "data": rows,
        "encoding": "CSV",
    }
    output = sent["captureData"]["endpointOutput"]
    assert (output["mode"], output["data"], output["encoding"]) == ("OUTPUT", answer, "CSV")
    assert sent["eventVersion"] == "0" and sent["eventMetadata"]["inferenceId"] == "order-1"
    smoke_test = next(r for r in records if r is not sent)
    assert "inferenceId" not in smoke_test["eventMetadata"], "sent without one"
    assert re.fullmatch(
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", sent["eventMetadata"]["inferenceTime"]
    )


def with_garbage_model(model: bytes) -> bytes:
    """The model archive with every file's bytes replaced: a valid tar.gz whose model cannot load."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(model)) as source, tarfile.open(fileobj=out, mode="w") as archive:
        for member in source.getmembers():
            data = b"not a model" if member.isfile() else b""
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return gzip.compress(out.getvalue())


def raising_predict_fn() -> str:
    source = (project().steps_dir / "inference.py").read_text()
    return source + '\n\ndef predict_fn(features, model):\n    raise RuntimeError("planted in predict_fn")\n'


@pytest.mark.parametrize(
    ("defect", "error"),
    [
        pytest.param(
            lambda model: {"artifact": b"not a model archive"},
            "Failed to extract model data archive from URL s3://",
            id="corrupted model archive",
        ),
        pytest.param(
            lambda model: {"artifact": with_garbage_model(model)},
            "did not pass the ping health check",
            id="model that does not load",
        ),
        pytest.param(
            lambda model: {
                "environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                "steps": {"inference.py": raising_predict_fn()},
            },
            re.escape("Received server error (500) from primary") + ".*planted in predict_fn",
            id="inference.py that raises",
        ),
        pytest.param(
            # What SDK v3's ModelBuilder writes for the XGBoost image (images.served_by_built_in_algorithm
            # removes it): the image reads a set SAGEMAKER_PROGRAM, even empty, as a user module.
            lambda model: {"environment": {"SAGEMAKER_PROGRAM": "", "SAGEMAKER_SUBMIT_DIRECTORY": ""}},
            "did not pass the ping health check: ValueError: Empty module name",
            id="empty SAGEMAKER_PROGRAM",
            marks=XGBOOST_ONLY,
        ),
    ],
)
def test_a_model_aws_could_not_serve_fails_the_staging_deploy(
    repo, registry, record, model_tarball, defect, error
):
    record("staging", registry(**defect(model_tarball.read_bytes())))
    with pytest.raises(MlopsError, match=error):
        deploy.deploy("staging", repo=repo)


def post(url: str, body: str, content_type: str | None) -> tuple[int, str]:
    """One request straight to a serving container, as SageMaker's front end forwards it."""
    connection = http.client.HTTPConnection(url, timeout=60)
    try:
        headers = {"Content-Type": content_type} if content_type else {}
        # Refused from its Content-Length, a body is cut off: the answer was sent before it was read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request("POST", "/invocations", body=body.encode(), headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def container_url(local_runtime, endpoint: str) -> str:
    return local_runtime.running[
        endpoints.fingerprint(aws.region(), endpoints.describe(aws.region(), endpoint))
    ].url


# A version served by the algorithm itself, without SAGEMAKER_PROGRAM: what projects registered
# before their models carried features.json (and what a version registered by hand may be).
BUILT_IN_SCORING = {"SAGEMAKER_PROGRAM": None, "SAGEMAKER_SUBMIT_DIRECTORY": None}


@XGBOOST_ONLY
def test_the_local_xgboost_container_reads_requests_as_the_image_does(
    repo, registry, record, local_runtime, model_tarball
):
    """Facts from the built-in XGBoost image's source (sagemaker-xgboost-container:
    algorithm_mode/serve.py, serve_utils.py, encoder.py), each request sent to the local container."""
    record("staging", registry(artifact=model_tarball.read_bytes(), environment=BUILT_IN_SCORING))
    url = container_url(local_runtime, deploy.deploy("staging", repo=repo).endpoint)
    rows = [line.split(",") for line in smoke.test_rows(3).splitlines()]
    body = "\n".join(",".join(row) for row in rows)

    status, answer = post(url, body, "text/csv")
    # An endpoint's answer: the predictions joined by commas, on one line, text/csv.
    assert status == 200 and len(answer.split(",")) == 3 and "\n" not in answer
    # The delimiter is sniffed from the first line; a request without a content type is CSV.
    assert post(url, body.replace(",", ";"), "text/csv") == (200, answer)
    assert post(url, body.replace(",", "\t"), "text/csv") == (200, answer)
    assert post(url, body, None) == (200, answer)
    # LIBSVM, its label optional (never read).
    libsvm = ["\x20".join(f"{index}:{value}" for index, value in enumerate(row)) for row in rows]
    assert post(url, "\n".join(libsvm), "text/libsvm") == (200, answer)
    assert post(url, "\n".join(f"7 {line}" for line in libsvm), "text/x-libsvm") == (200, answer)
    # An empty field is a missing value, and scored.
    status, scored = post(url, ",".join(["", *rows[0][1:]]), "text/csv")
    assert status == 200 and float(scored) == float(scored)
    # An empty body is 204; a body of whitespace is not empty, and unreadable: 415.
    assert post(url, "", "text/csv") == (204, "")
    assert post(url, " \n ", "text/csv")[0] == 415
    assert post(url, body, "application/json")[0] == 415
    # A trailing comma is one column more than the model has: 400.
    assert post(url, body.splitlines()[0] + ",", "text/csv")[0] == 400
    # Flask's MAX_CONTENT_LENGTH, 6 MiB: 413.
    assert post(url, "1," * (3 * 1024 * 1024 + 1), "text/csv")[0] == 413


@XGBOOST_ONLY
def test_in_batch_the_local_xgboost_container_answers_a_line_per_record(
    repo, registry, record, local_runtime, model_tarball
):
    """SAGEMAKER_BATCH (batch transform sets it): one prediction per line."""
    built_in = {**BUILT_IN_SCORING, "SAGEMAKER_BATCH": "true"}
    record("staging", registry(artifact=model_tarball.read_bytes(), environment=built_in))
    url = container_url(local_runtime, deploy.deploy("staging", repo=repo).endpoint)
    status, answer = post(url, smoke.test_rows(3), "text/csv")
    assert status == 200 and answer.endswith("\n") and len(answer.splitlines()) == 3
    assert all(float(line) == float(line) for line in answer.splitlines())


def test_mlops_invoke_prints_the_endpoints_answer(mlops, repo, registry, record, use_project, tmp_path):
    record("staging", registry())
    deploy.deploy("staging", repo=repo)
    use_project(root=repo)
    rows = smoke.test_rows(3)
    code, out, err = mlops("invoke", "staging", "--body", rows)
    assert code == 0, err
    assert smoke.answered_rows(out, 3).shape[0] == 3  # the endpoint's own CSV, as it answered
    (tmp_path / "rows.csv").write_text(rows)
    assert mlops("invoke", "staging", "--file", str(tmp_path / "rows.csv"), "--inference-id", "o-1")[1] == out
    code, _, err = mlops("invoke", "staging", "--body", rows, "--inference-id", "x" * 65)
    (line,) = err.strip().splitlines()
    assert code == 1 and re.fullmatch(
        r"error: not sent to \S+: InferenceId: 65 characters, at most 64 allowed", line
    ), err


def test_a_text_feature_is_sent_raw_and_read_through_the_models_features_json(
    mlops, repo, registry, record, use_project, model_tarball, tmp_path
):
    """A caller sends a row as the team's data has it; the serving image's inference.py turns
    the text into the code features.json gives it (an unseen category: a missing value), as
    Evaluate packed it. Here the sample's model, one of its columns declared a text feature:
    one whose code (0) and missing value the model answers differently, for one of the test rows."""
    features, evaluate, inference = (load_step(name) for name in ("features", "evaluate", "inference"))
    with tarfile.open(model_tarball) as archive:
        archive.extractall(tmp_path / "bare", filter="data")
    bare = inference.model_fn(str(tmp_path / "bare")).model

    def scored(row: list[float], column: int, value: float) -> np.ndarray:
        return inference.predict(bare, np.array([[*row[:column], value, *row[column + 1 :]]]))

    rows = [[float(v) for v in line.split(",")] for line in smoke.test_rows(5).splitlines()]
    row, column = next(
        (row, column)
        for row in rows
        for column in range(len(row))
        if not np.allclose(scored(row, column, 0.0), scored(row, column, np.nan))
    )
    header = pd.read_csv(project().root / "data" / "sample.csv", nrows=0).columns
    rule = features.learn(
        {name: [] for name in header.drop(load_config(project().config_path).target_column)}, []
    )
    rule["categories"][rule["columns"][column]] = ["low", "high"]
    features.write(rule, tmp_path)
    code = [project().steps_dir / name for name in ("inference.py", "features.py")]
    served = evaluate.served_model(model_tarball, tmp_path / "features.json", code, tmp_path / "served.tgz")
    record("staging", registry(artifact=served.read_bytes()))
    deploy.deploy("staging", repo=repo)
    use_project(root=repo)
    fields = [str(value) for value in row]
    sent = "\n".join(",".join([*fields[:column], word, *fields[column + 1 :]]) for word in ("low", "ancient"))
    code, out, err = mlops("invoke", "staging", "--body", sent)
    assert code == 0, err
    expected = np.vstack([np.atleast_2d(scored(row, column, value).T).T for value in (0.0, np.nan)])
    assert smoke.answered_rows(out, 2) == pytest.approx(expected, rel=smoke.RELATIVE_TOLERANCE)


def test_mlops_invoke_checks_rows_against_the_models_features_before_sending(
    mlops, repo, registry, record, use_project, processing_dir, tmp_path
):
    """The version's evaluation.json holds the rule its requests are read by: a row the model
    cannot read is one line naming the model's columns, and is not sent."""
    rule = json.loads((processing_dir / "test" / "features.json").read_text())
    record("staging", registry(features=rule))
    deploy.deploy("staging", repo=repo)
    use_project(root=repo)
    row = smoke.test_rows(1).strip()
    short = row.rsplit(",", 1)[0]
    code, _, err = mlops("invoke", "staging", "--body", short)
    names = ", ".join(rule["columns"])
    width = len(rule["columns"])
    assert (
        code == 1
        and err.strip()
        == f"error: not sent to staging: row 1 has {width - 1} fields; the model reads {width}: {names}"
    )
    code, _, err = mlops("invoke", "staging", "--body", f"{row}\nhigh,{row.split(',', 1)[1]}")
    assert code == 1 and f"column {rule['columns'][0]!r} reads numbers" in err
    assert mlops("invoke", "staging", "--body", row)[0] == 0


def test_mlops_invoke_says_what_a_classifiers_answers_stand_for(mlops, repo, registry, record, use_project):
    """The labels preprocessing coded (Yes/No) are registered with the version (evaluation.json):
    invoke names them on stderr, so stdout stays the endpoint's CSV."""
    labels = ["No", "Yes"] if load_config(project().config_path).problem_type != "regression" else None
    record("staging", registry(labels=labels))
    deploy.deploy("staging", repo=repo)
    use_project(root=repo)
    code, out, err = mlops("invoke", "staging", "--body", smoke.test_rows(2))
    assert code == 0, err
    assert smoke.answered_rows(out, 2).shape[0] == 2
    if labels:
        assert err.strip() == "(each answer is the probability of 'Yes' (against 'No'))"
    else:
        assert "probability" not in err


@any_shape
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "give the rows to send with --body or --file (one of them)"),
        (("--body", " \n"), "nothing to send: give CSV rows, features only, no header"),
        (("--body", "1,2"), "prod has no endpoint: deploy it first (`mlops deploy prod`)"),
    ],
)
def test_mlops_invoke_refuses_in_one_line(mlops, repo, registry, use_project, arguments, message):
    use_project(root=repo)
    code, _, err = mlops("invoke", "prod", *arguments)
    assert code == 1
    assert err.strip().splitlines() == [f"error: {message}"]


def test_a_serving_error_is_one_line_from_mlops_invoke(mlops, repo, registry, record, use_project):
    record("staging", registry())
    deploy.deploy("staging", repo=repo)
    use_project(root=repo)
    code, _, err = mlops("invoke", "staging", "--body", "not,numbers")
    assert code == 1
    (line,) = err.strip().splitlines()
    # The XGBoost algorithm answers 415; a scikit-learn module's input_fn raising answers 500.
    assert re.match(r"error: endpoint \S+: Received (client|server) error \(\d{3}\) from primary", line)


@any_shape
def test_a_verb_told_to_use_an_emulator_that_is_not_running_is_refused_in_one_line(mlops, repo, use_project):
    use_project(root=repo)
    code, out, err = mlops("deploy", "staging", "--aws", "emulator")
    assert code == 1 and not out
    assert err.strip().splitlines() == [
        "error: the local AWS emulator is not running: start it with `mlops local up`"
    ]
