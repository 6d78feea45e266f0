"""A SageMaker serving container's entry, run locally in its image's environment.

    <image env>/bin/python serving_host.py STACK PORT_FILE

STACK is the image's serving stack: "scikit-learn" or "xgboost". The environment is the
container's: the model's Environment exactly as SageMaker passes it, and SAGEMAKER_BASE_DIR, the
local stand-in for /opt/ml, where the emulator has unpacked the model data (model/) and the code of
SAGEMAKER_SUBMIT_DIRECTORY (code/). Once listening on 127.0.0.1, it writes its port to PORT_FILE.

Like the images (sagemaker_sklearn_container.serving and sagemaker_xgboost_container.serving, whose
logic this follows; neither package is published on PyPI), the application is built on the first
request, usually the /ping health check: the user module named by SAGEMAKER_PROGRAM is imported and
served through the sagemaker-containers toolkit the image ships; for XGBoost, an *absent*
SAGEMAKER_PROGRAM means the algorithm's own scoring, while a set one (even "") means a user module.
Errors are printed as tracebacks to stderr, as the images log them.

Runs on the image's Python with the image's libraries: the standard library and those only.
"""

import http.client
import importlib
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server


def sklearn_app():
    """sagemaker_sklearn_container.serving.main: always the user module, with the image's defaults."""
    import numpy as np
    from sagemaker_containers.beta.framework import content_types, encoders, env, worker

    def default_input_fn(input_data, content_type):
        array = encoders.decode(input_data, content_type)
        return array.astype(np.float32) if content_type in content_types.UTF8_TYPES else array

    def default_output_fn(prediction, accept):
        return worker.Response(encoders.encode(prediction, accept), accept, mimetype=accept)

    serving_env = env.ServingEnv()
    defaults = (default_input_fn, lambda data, model: model.predict(data), default_output_fn)
    return user_module_app(serving_env.module_name, defaults)


def xgboost_app():
    """sagemaker_xgboost_container.serving.main: built-in scoring unless SAGEMAKER_PROGRAM is set."""
    from sagemaker_containers.beta.framework import encoders, env, worker

    serving_env = env.ServingEnv()
    if serving_env.module_name is None:
        return xgboost_scoring_app()

    def default_output_fn(prediction, accept):
        return worker.Response(encoders.encode(prediction, accept), mimetype=accept)

    def default_predict_fn(data, model):
        return model.predict(data, validate_features=False)

    defaults = (xgboost_matrix, default_predict_fn, default_output_fn)
    return user_module_app(serving_env.module_name, defaults)


def user_module_app(module_name, defaults):
    """The images' _user_module_transformer and worker: the module's functions, else the image's."""
    from sagemaker_containers.beta.framework import transformer, worker

    module = importlib.import_module(module_name)
    default_input, default_predict, default_output = defaults
    transform_fn = getattr(module, "transform_fn", None)
    functions = [getattr(module, name, None) for name in ("input_fn", "predict_fn", "output_fn")]
    model_fn = getattr(module, "model_fn", transformer.default_model_fn)
    if transform_fn and any(functions):
        raise ValueError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
    if transform_fn:
        served = transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)
    else:
        input_fn, predict_fn, output_fn = functions
        served = transformer.Transformer(
            model_fn=model_fn,
            input_fn=input_fn or default_input,
            predict_fn=predict_fn or default_predict,
            output_fn=output_fn or default_output,
        )
    served.initialize()  # model_fn(model_dir): a model that cannot load fails the health check
    return worker.Worker(transform_fn=served.transform, module_name=module_name)


def media_type(content_type):
    """A request's media type as the XGBoost image reads it: parameters dropped, lowercase, and
    no content type at all read as CSV."""
    return (content_type or "text/csv").split(";")[0].strip().lower()


def xgboost_matrix(payload, content_type):
    """A request as the XGBoost image decodes it (sagemaker_xgboost_container's serve_utils and
    encoder, read at their source): CSV with the delimiter sniffed from the first line (`,`, `;`,
    tab) and empty fields as missing values; LIBSVM with or without a label, indices as given
    (0- or 1-based). No content type is CSV. Anything it cannot read raises."""
    import csv

    import numpy as np
    import xgboost as xgb

    kind = media_type(content_type)
    text = payload.strip().decode("utf-8") if isinstance(payload, bytes) else payload.strip()
    if kind == "text/csv":
        sniffed = csv.Sniffer().sniff(text.split("\n")[0][:512]).delimiter  # "" cannot be sniffed
        delimiter = "," if sniffed.isalnum() else sniffed
        rows = [[field or "nan" for field in line.split(delimiter)] for line in text.split("\n")]
        return xgb.DMatrix(np.array(rows).astype(float))
    if kind in ("text/libsvm", "text/x-libsvm"):
        from scipy.sparse import csr_matrix

        cells = [
            (row, *item.split(":")[:2])
            for row, line in enumerate(text.split("\n"))
            for item in line.split(" ")
            if ":" in item  # the label (no colon) is optional and never read
        ]
        rows, columns, values = zip(*cells, strict=True) if cells else ((), (), ())
        matrix = csr_matrix((np.array(values, dtype=float), (np.array(rows), np.array(columns, dtype=int))))
        return xgb.DMatrix(matrix)
    if kind == "application/x-recordio-protobuf":
        raise RuntimeError("application/x-recordio-protobuf is read by the image, not the local stand-in")
    raise RuntimeError(
        f"Content-type {kind} not supported. Supported content-type is text/csv, text/libsvm,"
        " application/x-recordio-protobuf"
    )


def xgboost_scoring_app():
    """The built-in algorithm's scoring service (algorithm_mode/serve.py): the model loaded as a
    pickle, else in XGBoost's own format; /invocations answers an empty body 204, an unreadable
    one 415 and a request the model cannot score 400; bodies over MAX_CONTENT_LENGTH (6 MiB) 413.
    The answer is text/csv whatever Accept says: one prediction per row (a list for multiclass),
    joined by commas, or one per line when SAGEMAKER_BATCH is set (batch transform sets it)."""
    import pickle

    import flask
    import xgboost as xgb

    app = flask.Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(os.environ.get("MAX_CONTENT_LENGTH", 6 * 1024 * 1024))
    loaded = {}

    def booster():
        if "model" not in loaded:
            model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
            path = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))[0]
            try:
                with open(path, "rb") as file:
                    model, pickled = pickle.load(file), True
            except Exception:
                model, pickled = xgb.Booster(), False
                model.load_model(str(path))
            model.set_param("nthread", 1)
            loaded["model"], loaded["pickled"] = model, pickled
        return loaded["model"]

    def predict(matrix, kind):
        model = booster()
        if loaded["pickled"]:  # the image checks a pickled model's feature count only
            trained, given = len(model.feature_names or []), len(matrix.feature_names or [])
            if "libsvm" in kind and given > trained + 1:
                raise ValueError(f"Feature size of libsvm data {given} is larger than the model's {trained}")
            if "csv" in kind and given not in (trained, trained - 1):
                raise ValueError(f"Feature size of csv data {given} does not fit the model's {trained}")
        return model.predict(matrix, validate_features=False)

    @app.route("/ping", methods=["GET"])
    def ping():
        booster()
        return flask.Response(status=http.client.OK)

    @app.route("/execution-parameters", methods=["GET"])
    def execution_parameters():
        import json

        parameters = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
        return flask.Response(json.dumps(parameters), status=http.client.OK, mimetype="application/json")

    @app.route("/invocations", methods=["POST"])
    def invocations():
        payload = flask.request.data
        if len(payload) == 0:
            return flask.Response(response="", status=http.client.NO_CONTENT)
        kind = media_type(flask.request.content_type)
        try:
            matrix = xgboost_matrix(payload, kind)
        except Exception as error:
            return flask.Response(response=str(error), status=http.client.UNSUPPORTED_MEDIA_TYPE)
        try:
            predictions = predict(matrix, kind).tolist()
        except Exception as error:
            return flask.Response(
                response=f"Unable to evaluate payload provided: {error}", status=http.client.BAD_REQUEST
            )
        if "SAGEMAKER_INFERENCE_OUTPUT" in os.environ:
            message = "SAGEMAKER_INFERENCE_OUTPUT (selectable inference) is not emulated locally"
            return flask.Response(response=message, status=http.client.INTERNAL_SERVER_ERROR)
        if os.environ.get("SAGEMAKER_BATCH"):
            body = "\n".join(map(str, predictions)) + "\n"
        else:
            body = ",".join(map(str, predictions))
        return flask.Response(response=body, status=http.client.OK, mimetype="text/csv")

    return app


STACKS = {"scikit-learn": sklearn_app, "xgboost": xgboost_app}


class LazyApplication:
    """The images' main(environ, start_response): the application is built on the first request,
    and a failure to build it fails that request (and the next, which tries again)."""

    def __init__(self, build):
        self.build = build
        self.app = None

    def __call__(self, environ, start_response):
        if self.app is None:
            try:
                self.app = self.build()
            except Exception:
                traceback.print_exc()
                sys.stderr.flush()
                start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")])
                return [traceback.format_exc().strip().splitlines()[-1].encode()]
        return self.app(environ, start_response)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args) -> None:  # the emulator's log is for errors
        pass

    def get_environ(self) -> dict:
        environ = super().get_environ()
        # wsgiref fills in text/plain for a request without a content type; gunicorn, the images'
        # server, leaves it out (and the XGBoost image then reads CSV).
        if self.headers.get("Content-Type") is None:
            environ.pop("CONTENT_TYPE", None)
        return environ


def exit_with_parent() -> None:
    """Serve only as long as the emulator that started this (a killed emulator leaves no server)."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def main() -> None:
    stack, port_file = sys.argv[1], Path(sys.argv[2])
    sys.path.insert(0, os.path.join(os.environ["SAGEMAKER_BASE_DIR"], "code"))
    server = make_server("127.0.0.1", 0, LazyApplication(STACKS[stack]), handler_class=QuietHandler)
    threading.Thread(target=exit_with_parent, daemon=True).start()
    port_file.with_suffix(".tmp").write_text(str(server.server_port))
    port_file.with_suffix(".tmp").replace(port_file)
    server.serve_forever()


if __name__ == "__main__":
    del sys.path[0]  # this file's folder: the container's code comes first, nothing of ours
    main()
