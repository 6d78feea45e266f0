"""CloudFormation stacks: create or update one idempotently, wait for it, read what it says.

Every stack a project deploys is one kind of thing, a DesiredStack (its name, its template and the
parameters git gives it, or none when git asks for no stack), made so by `reconcile` and compared
with git by `against_git`: each stage's endpoint (endpoint_stack.py) and its schedules, batch
scoring and monitoring (stage_schedules.py), and the schedules of the build/ pipelines
(pipeline_schedules.py). `mlops
bootstrap` (infra/bootstrap.yml) goes through apply_stack too.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml
from botocore.exceptions import ClientError

from .. import aws
from ..errors import MlopsError

POLL_SECONDS = 10
TIMEOUT_SECONDS = 3600
DONE = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
FAILED = {
    "CREATE_FAILED",
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
}


class CloudFormationLoader(yaml.SafeLoader):
    """Reads a template's YAML with the short-form tags (!Ref, !Sub, !If...) in their long forms."""


def _intrinsic(loader: yaml.SafeLoader, tag: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag in ("Ref", "Condition"):
        return {tag: value}
    if tag == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag}": value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def read_template(path: Path) -> dict:
    """A CloudFormation template as data, its short-form tags in their long forms."""
    return yaml.load(path.read_text(), Loader=CloudFormationLoader)


# A parameter value meaning "what the deployed stack has": a secret never read back, an option not given.
KEEP = object()


@dataclass(frozen=True)
class DesiredStack:
    """One stack as git asks for it: parameters None when git asks for none (then `without` says
    what git lacks, e.g. "deploy/prod.yml has no batch block")."""

    name: str
    template: Path
    parameters: dict[str, str | object] | None
    without: str = ""


def reconcile(desired: DesiredStack, on_status: Callable[[str], None]) -> str:
    """Make the stack what git asks for: "created", "updated", "unchanged" or "deleted"; "" when
    there is none and git asks for none."""
    if desired.parameters is None:
        return delete_stack(desired.name, on_status) if describe_stack(desired.name) else ""
    return apply_stack(desired.name, desired.template, desired.parameters, on_status)


def against_git(desired: DesiredStack, stack: dict | None) -> list[str]:
    """How the deployed stack (described, or None) differs from what git asks for; empty when it
    matches."""
    found = unwanted_or_missing(desired.name, desired.parameters is not None, stack, desired.without)
    return drift(stack, desired.template, desired.parameters) if found is None else found


def unwanted_or_missing(name: str, wanted: bool, stack: dict | None, without: str) -> list[str] | None:
    """The difference when git asks for a stack that does not exist, or for none while one does;
    [] when neither exists; None when both do (compare them: against_git)."""
    if not wanted:
        return [f"stack {name} exists, but {without}"] if stack else []
    return None if stack else [f"stack {name} does not exist"]


def apply_stack(
    name: str,
    template_path: Path,
    parameters: dict[str, str | object],
    on_status: Callable[[str], None],
    capabilities: tuple[str, ...] = (),
) -> str:
    """Create or update the stack; "unchanged" (and no change made) when it already matches."""
    cloudformation = aws.client("cloudformation")
    current = describe_stack(name)
    request = {
        "StackName": name,
        "TemplateBody": template_path.read_text(),
        "Parameters": [
            {"ParameterKey": key, "UsePreviousValue": True}
            if value is KEEP
            else {"ParameterKey": key, "ParameterValue": value}
            for key, value in parameters.items()
        ],
        "Capabilities": list(capabilities),
    }
    if current is None:
        cloudformation.create_stack(**request)
        action = "created"
    else:
        status = current["StackStatus"]
        if status == "ROLLBACK_COMPLETE":
            raise MlopsError(
                f"stack {name} is {status} after a failed first deploy: delete it"
                f" (aws cloudformation delete-stack --stack-name {name}) and deploy again"
            )
        if status.endswith("_IN_PROGRESS"):
            raise MlopsError(f"stack {name} is busy ({status}): wait for it to finish, then deploy again")
        if not differences(current, template_path, parameters):
            return "unchanged"
        try:
            cloudformation.update_stack(**request)
        except ClientError as error:
            # A secret given again with the value it already has: only CloudFormation can tell.
            if "No updates are to be performed" in str(error):
                return "unchanged"
            raise
        action = "updated"
    wait_for_stack(name, on_status)
    return action


def delete_stack(name: str, on_status: Callable[[str], None]) -> str:
    """Delete the stack and wait until it is gone; "deleted"."""
    aws.client("cloudformation").delete_stack(StackName=name)
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while (stack := describe_stack(name)) is not None and stack["StackStatus"] != "DELETE_COMPLETE":
        on_status(f"stack {name}: {stack['StackStatus']}")
        if stack["StackStatus"] == "DELETE_FAILED":
            raise MlopsError(f"stack {name} ended DELETE_FAILED: {failure_reason(name)}")
        if time.monotonic() > deadline:
            raise MlopsError(f"stack {name} still {stack['StackStatus']} after {TIMEOUT_SECONDS} s")
        time.sleep(POLL_SECONDS)
    return "deleted"


def deployed_parameters(stack: dict) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}


def differences(stack: dict, template_path: Path, parameters: dict[str, str | object]) -> list[str]:
    """How a deployed stack differs from what git asks for; empty when it matches."""
    deployed = deployed_parameters(stack)
    found = [
        f"{key}: deployed {deployed.get(key, '(unset)')!r}, git says {value!r}"
        for key, value in parameters.items()
        if value is not KEEP and deployed.get(key) != value
    ]
    body = aws.client("cloudformation").get_template(StackName=stack["StackName"])["TemplateBody"]
    if body != template_path.read_text():
        found.append(f"{template_path.parent.name}/{template_path.name} changed since the last deploy")
    return found


def drift(stack: dict, template_path: Path, parameters: dict[str, str | object]) -> list[str]:
    """differences(), and a stack not in a finished state (being changed, or rolled back)."""
    found = differences(stack, template_path, parameters)
    if stack["StackStatus"] not in DONE:
        found.append(f"stack {stack['StackName']} is {stack['StackStatus']}")
    return found


def describe_stack(name: str) -> dict | None:
    try:
        return aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def wait_for_stack(name: str, on_status: Callable[[str], None]) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        status = describe_stack(name)["StackStatus"]
        on_status(f"stack {name}: {status}")
        if status in DONE:
            return
        if status in FAILED:
            raise MlopsError(f"stack {name} ended {status}: {failure_reason(name)}")
        if time.monotonic() > deadline:
            raise MlopsError(f"stack {name} still {status} after {TIMEOUT_SECONDS} s")
        time.sleep(POLL_SECONDS)


def failure_reason(name: str) -> str:
    events = aws.client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    failed = [
        e for e in events if e.get("ResourceStatus", "").endswith("FAILED") and e.get("ResourceStatusReason")
    ]
    return failed[-1]["ResourceStatusReason"] if failed else "no reason given (see the stack's events)"


def outputs(name: str) -> dict[str, str]:
    return outputs_of(describe_stack(name))


def outputs_of(stack: dict) -> dict[str, str]:
    """A described stack's outputs, by key."""
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_output(name: str, key: str) -> str:
    return outputs(name)[key]
