"""Every verb that calls AWS, against AWS saying no: one line naming the operation, the code and
the fix, exit code 1, never a traceback, and AccessDenied never reported as "not found".

The stand-in is an HTTP server on 127.0.0.1 that answers every request as AWS does when a policy
or the credentials refuse it, in each protocol the verbs meet: JSON (SageMaker, Application Auto
Scaling), query XML (STS, CloudFormation, IAM) and S3's REST XML.
"""

import json
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import pytest
from conftest import serving, tuning_only
from sagemaker_gitops.project import project

MESSAGE = "refused by the test's stand-in"
# (code AWS sends in each protocol, the words the CLI must say)
REFUSALS = {
    "AccessDenied": ({"json": "AccessDeniedException", "xml": "AccessDenied"}, "lack this permission"),
    "ExpiredToken": ({"json": "ExpiredTokenException", "xml": "ExpiredToken"}, "credentials have expired"),
}
VERBS = [
    ["pipeline", "upsert"],
    ["pipeline", "start"],
    ["pipeline", "status"],
    ["models", "list"],
    ["models", "approve", "1", "--reason", "checked"],
    ["models", "reject", "1", "--reason", "checked"],
    ["deploy", "staging"],
    ["status"],
    ["bootstrap"],
    ["report", "experiments"],
    ["local", "run", "--aws", "real"],
    ["pipeline", "attach-trials"],
    ["report", "tuning", "my-model-tune-0001"],
]
# A tuning project has every verb above; the rest do the same whatever the project's shape.
pytestmark = tuning_only


class Refusing(BaseHTTPRequestHandler):
    code: ClassVar[dict[str, str]] = {}  # set per refusal, on a subclass

    def do_POST(self):  # http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-Amz-Target"):  # the JSON protocol
            body = json.dumps({"__type": self.code["json"], "message": MESSAGE})
            kind = "application/x-amz-json-1.1"
        else:
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{self.code['xml']}</Code>"
                f"<Message>{MESSAGE}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
            )
            kind = "text/xml"
        self._send(body, kind)

    def do_GET(self):  # S3's REST XML (and HEAD, which has no body)
        body = f"<Error><Code>{self.code['xml']}</Code><Message>{MESSAGE}</Message></Error>"
        self._send(body, "application/xml")

    do_PUT = do_HEAD = do_DELETE = do_GET

    def _send(self, body: str, kind: str) -> None:
        data = body.encode()
        self.send_response(403 if "Denied" in body else 400)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(params=list(REFUSALS))
def refusing_aws(request, monkeypatch, repo, record, use_project):
    # The stage files of a project that has promoted a model, so deploy and status reach AWS.
    group = project().model_package_group.lower()
    record("staging", f"arn:aws:sagemaker:{project().region}:123456789012:model-package/{group}/1")
    use_project(root=repo, github_repository=f"acme-data/{project().slug}")  # not the placeholder
    codes, words = REFUSALS[request.param]
    handler = type("Handler", (Refusing,), {"code": codes})
    with serving(handler) as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("MLOPS_AWS_ACCOUNT_ID", "123456789012")  # else STS is asked first, every time
        yield request.param, words


@pytest.mark.parametrize("args", VERBS, ids=[" ".join(verb[:2]) for verb in VERBS])
def test_a_refusal_by_aws_is_one_line_with_the_fix(mlops, refusing_aws, args):
    code_name, words = refusing_aws
    code, out, err = mlops(*args)
    assert code == 1, out + err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert code_name in err and words in err, err
    assert "not found" not in err


def test_a_message_is_printed_as_text_not_markup(mlops):
    """A message quoting the user's input keeps its brackets (and "[/x]" crashed Rich markup)."""
    code, _, err = mlops("pipeline", "diff", "--base", "[/x]")
    assert code == 1
    assert "'[/x]'" in err and len(err.strip().splitlines()) == 1, err
