"""What each step's script imports, against what its SageMaker image really ships.

A job runs in its image's Python environment, not in this project's virtualenv, which holds
every library: a script that imports one its image lacks passes every local test and dies in
SageMaker with ModuleNotFoundError, after the steps before it have run and billed.
image_packages.json lists each image's packages as AWS publishes them (the file and commit are
recorded beside each list). This reads every job's image and script from the definition, follows
the script's imports into the build/steps modules the job receives, and checks each library
against that list.
"""

import ast
import importlib.metadata
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.utils import canonicalize_name

from .definition.graph import Step, parse
from .definition.step_kinds import KINDS
from .errors import MlopsError
from .project import project

PACKAGES_FILE = Path(__file__).with_name("image_packages.json")
# Local wheels that are the same library as an image's package under another name.
SAME_LIBRARY = {"xgboost-cpu": "xgboost"}
# Where a framework image's toolkit downloads the serving code from (an s3:// URL), and the two
# variables that make it serve the user's module.
SERVING_CODE = "SAGEMAKER_SUBMIT_DIRECTORY"
SCRIPT_MODE_VARIABLES = ("SAGEMAKER_PROGRAM", SERVING_CODE)


@dataclass(frozen=True)
class StepScript:
    step: str
    image: str  # the image URI, as the definition gives it
    script: str  # the file in build/steps the job runs
    receives: frozenset[str] | None  # the build/steps files the job gets; None = all of them


def image_name(uri: str) -> str:
    """ECR repository and tag without the registry: "sagemaker-xgboost:3.2-0"."""
    return uri.rsplit("/", 1)[-1]


def image_packages() -> dict[str, dict]:
    """Each image's packages: SageMaker's, as AWS publishes them, and the project's own images'
    ([tool.mlops] image-packages, in the same format), which win for an image both list."""
    own = project().image_packages_path
    return _listed(PACKAGES_FILE) | (_listed(own) if own else {})


@cache
def _listed(path: Path) -> dict[str, dict]:
    try:
        return json.loads(path.read_text())["images"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise MlopsError(f"{path}: not an image package list ({error})") from None


def canonical(distribution: str) -> str:
    name = canonicalize_name(distribution)
    return SAME_LIBRARY.get(name, name)


@cache
def _installed_providers() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def providers(module: str) -> set[str]:
    """The distributions that provide a top-level module: as installed here, else by its name."""
    return {canonical(d) for d in _installed_providers().get(module, [module])}


def imported_modules(source: str) -> set[str]:
    """Top-level names of every absolute import, wherever it is in the file."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def step_scripts(definition: dict) -> Iterator[StepScript]:
    """Every (step, image, script) the definition runs, the Condition steps' branches included."""
    for step in parse(definition).steps:
        yield from _scripts_of(step)


def _scripts_of(step: Step) -> Iterator[StepScript]:
    for image, script, receives in KINDS[step.type].scripts(step.arguments):
        yield StepScript(step.name, image, script, receives)


def shipped_by(image_uri: str) -> set[str] | None:
    """The (canonical) names of the distributions an image ships; None when no list has the image."""
    listed = image_packages().get(image_name(image_uri))
    if listed is None:
        return None
    return {canonical(name) for name in [*listed["packages"], *listed.get("also_installed", {})]}


def missing_from(shipped: set[str], module: str) -> bool:
    """Whether importing `module` fails in an image shipping `shipped` (the standard library never does)."""
    if module in sys.stdlib_module_names or module == "__future__":
        return False
    return not providers(module) & shipped


def problems(definition: dict, steps_dir: Path) -> list[str]:
    """One line per import a step's image cannot satisfy (empty when every step can run)."""
    return [problem for found in step_scripts(definition) for problem in _check(found, steps_dir)]


def _check(found: StepScript, steps_dir: Path) -> Iterator[str]:
    if not isinstance(found.image, str):
        yield f"{found.step}: its image is set at run time, so what {found.script} imports cannot be checked"
        return
    image = image_name(found.image)
    shipped = shipped_by(found.image)
    if shipped is None:
        yield (
            f"{found.step}: no package list for image {image}: list what it ships in the file"
            f" [tool.mlops] image-packages names before running {found.script} in it"
        )
        return
    pending, seen = [(found.script, found.script)], set()
    while pending:
        name, importer = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = steps_dir / name
        if not path.is_file():
            yield f"{found.step}: runs {name}, which is not in {steps_dir.name}/"
            continue
        by = "" if name == found.script else f" (imported by {importer})"
        for module in sorted(imported_modules(path.read_text())):
            if module in sys.stdlib_module_names or module == "__future__":
                continue
            if (steps_dir / f"{module}.py").is_file():
                if found.receives is not None and f"{module}.py" not in found.receives:
                    yield f"{found.step}: {name} imports {module}, but the job is not given {module}.py"
                else:
                    pending.append((f"{module}.py", name))
            elif missing_from(shipped, module):
                yield (
                    f"{found.step}: {name}{by} imports {module}, which {image} does not ship "
                    "(ModuleNotFoundError in SageMaker): run the step in an image that has it"
                )


def served_by_built_in_algorithm(registration):
    """A model registration (ModelBuilder(...).register()) served by the image's own algorithm.

    SDK v3 writes SAGEMAKER_PROGRAM="" and SAGEMAKER_SUBMIT_DIRECTORY="" into the container of
    any framework image. The built-in XGBoost image reads a SAGEMAKER_PROGRAM that is set, even
    empty, as "serve the user's module" and fails its first /ping with `Empty module name`: the
    endpoint never becomes healthy. SDK v2 wrote neither; this removes them.
    """
    for container in registration.create_model_package_request["InferenceSpecification"]["Containers"]:
        environment = container.get("Environment", {})
        for name in SCRIPT_MODE_VARIABLES:
            if environment.get(name) == "":
                del environment[name]
    return registration
