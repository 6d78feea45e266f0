"""The questions: every answer is validated, and a bad one names the question and the rule."""

import ast
import subprocess
import sys

import jinja2
import pytest
import yaml
from conftest import QUESTIONS, ROOT, render

# The platform package's metrics per problem type: the one list the gate_metric menu must offer.
CONFIG_PY = (ROOT / "sagemaker-gitops" / "src" / "sagemaker_gitops" / "config.py").read_text()
METRICS_BY_PROBLEM = next(
    ast.literal_eval(node.value)
    for node in ast.parse(CONFIG_PY).body
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "METRICS_BY_PROBLEM"
)


def test_every_question_explains_itself():
    missing = [name for name, spec in QUESTIONS.items() if not spec.get("help")]
    assert not missing, f"questions without help: {missing}"


def test_every_free_text_answer_has_a_validator():
    unchecked = [
        name for name, spec in QUESTIONS.items() if "choices" not in spec and "validator" not in spec
    ]
    assert not unchecked, f"questions that accept anything: {unchecked}"


BAD_ANSWERS = [
    # (answers, question, the rule the message must state)
    ({"project_name": ""}, "project_name", "must start with a letter"),
    ({"project_name": "9 lives"}, "project_name", "must start with a letter"),
    ({"project_name": "M" * 51}, "project_name", "at most 50 characters"),
    ({"project_name": "My model!"}, "project_name", "only letters, digits, space, - _"),
    ({"project_slug": "my model"}, "project_slug", "only a-z, 0-9 and single '-'"),
    ({"project_slug": "My-Model"}, "project_slug", "must start with a lowercase letter"),
    ({"project_slug": "a" * 33}, "project_slug", "at most 32 characters"),
    ({"project_slug": "my--model"}, "project_slug", "single '-'"),
    ({"description": ""}, "description", "one non-empty line"),
    ({"description": "two\nlines"}, "description", "one non-empty line"),
    ({"description": "d" * 201}, "description", "at most 200 characters"),
    ({"aws_region": "mars-1"}, "aws_region", "Invalid choice"),
    ({"github_repository": "owner"}, "github_repository", "must be owner/name"),
    ({"github_repository": "own er/repo"}, "github_repository", "owner: a-z A-Z 0-9, single -"),
    ({"github_repository": "owner/my repo"}, "github_repository", "name: letters, digits, . _ -"),
    ({"github_repository": "owner/.."}, "github_repository", "name may not be . or .."),
    ({"model_package_group_name": "my_models"}, "model_package_group_name", "only a-z, 0-9 and '-'"),
    ({"model_package_group_name": "MyModels"}, "model_package_group_name", "must be lowercase"),
    ({"model_package_group_name": "m" * 64}, "model_package_group_name", "1 to 63 characters"),
    ({"model_package_group_name": "-models"}, "model_package_group_name", "no '-' at either end"),
    ({"problem_type": "ranking"}, "problem_type", "Invalid choice"),
    ({"framework": "pytorch"}, "framework", "Invalid choice"),
    (
        {"split_strategy": "stratified"},
        "split_strategy",
        "'stratified' is not in ['random', 'key', 'ordered']",
    ),
    (
        {"split_strategy": "key", "split_key": "9lives"},
        "split_key",
        "a-z A-Z 0-9 _ . -, no digit first",
    ),
    ({"split_strategy": "key", "split_key": "target"}, "split_key", "must not be the target column"),
    ({"gate_metric": "auc"}, "gate_metric", "'auc' is not in ['r2', 'rmse', 'mae']"),
    (
        {"problem_type": "binary_classification", "gate_threshold": 1.5},
        "gate_threshold",
        "must be in (0, 1] for auc",
    ),
    ({"gate_metric": "rmse", "gate_threshold": -1.0}, "gate_threshold", "must be > 0 for rmse"),
    ({"gate_threshold": "high"}, "gate_threshold", "must be a number, such as 0.9"),
    ({"gate_metric": "r2", "gate_threshold": 1.2}, "gate_threshold", "must be at most 1 for r2"),
    ({"gate_margin": "1"}, "gate_margin", "must be in [0, 1)"),
    ({"gate_margin": "some"}, "gate_margin", "must be a number, such as 0.9"),
    ({"enable_step_caching": "maybe"}, "enable_step_caching", "must be yes or no"),
    ({"enable_tuning": "maybe"}, "enable_tuning", "must be yes or no"),
    ({"enable_tuning": "2"}, "enable_tuning", "must be yes or no"),
    ({"enable_tuning": True, "tuning_strategy": "Evolutionary"}, "tuning_strategy", "Invalid choice"),
    ({"enable_tuning": True, "tuning_max_jobs": 0}, "tuning_max_jobs", "must be 1 to 500"),
    ({"enable_tuning": True, "tuning_max_jobs": "many"}, "tuning_max_jobs", "must be a whole number"),
    (
        {"enable_tuning": True, "tuning_max_parallel_jobs": 101},
        "tuning_max_parallel_jobs",
        "must be 1 to 100",
    ),
    (
        {"enable_tuning": True, "tuning_max_jobs": 4, "tuning_max_parallel_jobs": 5},
        "tuning_max_parallel_jobs",
        "at most max_jobs (4)",
    ),
    ({"processing_instance_type": "m5.large"}, "processing_instance_type", "use e.g. ml.m5.large"),
    ({"training_instance_type": "ml.m5"}, "training_instance_type", "use e.g. ml.m5.large"),
    ({"staging_endpoint": "lambda"}, "staging_endpoint", "Invalid choice"),
    ({"prod_instance_type": "large"}, "prod_instance_type", "use e.g. ml.m5.large"),
    ({"prod_deployment_strategy": "rolling"}, "prod_deployment_strategy", "Invalid choice"),
    ({"enable_batch": "maybe"}, "enable_batch", "must be yes or no"),
    ({"enable_notebooks": "maybe"}, "enable_notebooks", "must be yes or no"),
    ({"enable_monitoring": "maybe"}, "enable_monitoring", "must be yes or no"),
    (
        {"aws_region": "il-central-1", "enable_notebooks": True},
        "enable_notebooks",
        "no notebook image in region",
    ),
]


def refusal(tmp_path, answers) -> str:
    destination = tmp_path / "project"
    with pytest.raises(ValueError) as raised:
        render(destination, answers, skip_tasks=True)
    assert not destination.exists()
    return str(raised.value)


@pytest.mark.parametrize(
    ("answers", "question", "rule"), BAD_ANSWERS, ids=[f"{q}={a[q]!r}"[:60] for a, q, _ in BAD_ANSWERS]
)
def test_a_bad_answer_is_refused_and_nothing_is_written(tmp_path, answers, question, rule):
    message = refusal(tmp_path, answers)
    assert question in message
    assert rule in message
    assert "\n" not in message.strip(), "the message must be one line"


VALIDATED = [(answers, q) for answers, q, _ in BAD_ANSWERS if "choices" not in QUESTIONS[q]]


@pytest.mark.parametrize(("answers", "question"), VALIDATED, ids=[q for _, q in VALIDATED])
def test_a_rule_fits_copiers_one_line_toolbar(tmp_path, answers, question):
    """Typed at the prompt, the message shows in a one-row toolbar: 80 columns, then cut."""
    message = refusal(tmp_path, answers)
    assert len(message) <= 80, f"{len(message)} columns: {message}"


HELP_CONTEXTS = [
    {"problem_type": problem, "gate_metric": metric}
    for problem, metrics in METRICS_BY_PROBLEM.items()
    for metric in metrics
]


def rendered(text: str, context: dict) -> str:
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(context)


def offered(question: str, context: dict) -> dict:
    """label -> value of a choice question, as copier renders them for these answers."""
    spec = QUESTIONS[question]["choices"]
    if isinstance(spec, str):
        return yaml.safe_load(rendered(spec, context))
    return spec if isinstance(spec, dict) else {choice: choice for choice in spec}


@pytest.mark.parametrize("context", HELP_CONTEXTS, ids=[c["gate_metric"] for c in HELP_CONTEXTS])
def test_help_lines_and_choices_fit_80_columns(context):
    """A help line follows copier's "🎤 " (3 columns); a choice follows " » " (3 columns)."""
    too_wide = [
        line
        for name, spec in QUESTIONS.items()
        for line in rendered(spec["help"], context).splitlines()
        + list(offered(name, context) if "choices" in spec else [])
        if 3 + len(line) > 80
    ]
    assert not too_wide, too_wide


def test_yes_no_questions_are_yes_no_prompts():
    """type bool: a (Y/n) prompt; the validator still sees the text given with -d."""
    switches = [name for name in QUESTIONS if name.startswith("enable_")]
    assert switches and all(QUESTIONS[name]["type"] == "bool" for name in switches)


@pytest.mark.parametrize("value", [True, False, "true", "false", "yes", "No", "y"])
def test_the_caching_switch_takes_yes_or_no(tmp_path, value):
    project = render(tmp_path / "project", {"enable_step_caching": value}, skip_tasks=True)
    expected = "true" if str(value).lower() in ("true", "yes", "y") else "false"
    assert f"  enabled: {expected}\n" in (project / "build" / "config.yml").read_text()


@pytest.mark.parametrize("problem", METRICS_BY_PROBLEM)
def test_the_gate_metric_menu_offers_what_the_evaluation_reports(problem):
    """The metrics each problem type offers are the platform package's, in its order."""
    assert tuple(offered("gate_metric", {"problem_type": problem}).values()) == METRICS_BY_PROBLEM[problem]


@pytest.mark.parametrize("problem", METRICS_BY_PROBLEM)
def test_the_split_menu_fits_the_problem_type(tmp_path, problem):
    strategies = list(offered("split_strategy", {"problem_type": problem}).values())
    project = render(tmp_path / "project", {"problem_type": problem}, skip_tasks=True)
    chosen = yaml.safe_load((project / "build" / "config.yml").read_text())["split"]["strategy"]
    if problem == "regression":
        assert "stratified" not in strategies and chosen == "random"
    else:
        assert strategies[0] == chosen == "stratified"


def test_a_number_answer_is_written_as_a_number(tmp_path):
    answers = {
        "gate_metric": "rmse",
        "gate_threshold": " 7e1 ",
        "enable_tuning": True,
        "tuning_max_jobs": "12",
    }
    config = yaml.safe_load(
        (render(tmp_path / "p", answers, skip_tasks=True) / "build" / "config.yml").read_text()
    )
    assert config["gate"]["threshold"] == 70.0
    assert config["tuning"]["max_jobs"] == 12


def run_copier_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--skip-tasks", "--vcs-ref", "HEAD", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )


def test_without_defaults_a_non_interactive_shell_gets_copiers_message(tmp_path):
    result = run_copier_cli(str(ROOT), str(tmp_path / "project"))
    assert result.returncode == 1
    assert "Interactive session required" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "project").exists()


def test_the_cli_ends_a_bad_answer_with_our_one_line_rule(tmp_path):
    result = run_copier_cli("--defaults", "-d", "github_repository=owner", str(ROOT), str(tmp_path / "p"))
    assert result.returncode == 1
    # copier prints its own traceback first (copier's CLI does so for every ValueError);
    # the last line is ours: the question and the rule.
    assert result.stderr.strip().splitlines()[-1] == (
        "ValueError: Validation error for question 'github_repository': must be owner/name"
    )
    assert not (tmp_path / "p").exists()
