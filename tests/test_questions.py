"""The questions: every answer is validated, and a bad one names the question and the rule."""

import subprocess
import sys

import pytest
from conftest import QUESTIONS, ROOT, render


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
    ({"project_slug": "my model"}, "project_slug", "lowercase letters, digits and single '-'"),
    ({"project_slug": "My-Model"}, "project_slug", "lowercase letters, digits and single '-'"),
    ({"project_slug": "a" * 33}, "project_slug", "must be 1-32 characters"),
    ({"project_slug": "my--model"}, "project_slug", "single '-'"),
    ({"description": ""}, "description", "one non-empty line"),
    ({"description": "two\nlines"}, "description", "one non-empty line"),
    ({"aws_region": "mars-1"}, "aws_region", "Invalid choice"),
    ({"github_repository": "owner"}, "github_repository", "must be owner/name"),
    ({"github_repository": "own er/repo"}, "github_repository", "must be owner/name"),
    ({"github_repository": "owner/.."}, "github_repository", "must be owner/name"),
    ({"model_package_group_name": "my_models"}, "model_package_group_name", "1-63 lowercase letters"),
    ({"model_package_group_name": "MyModels"}, "model_package_group_name", "1-63 lowercase letters"),
    ({"model_package_group_name": "m" * 64}, "model_package_group_name", "1-63 lowercase letters"),
    ({"problem_type": "ranking"}, "problem_type", "Invalid choice"),
    ({"framework": "pytorch"}, "framework", "Invalid choice"),
    ({"split_strategy": "stratified"}, "split_strategy", "'stratified' needs classes"),
    ({"gate_metric": "auc"}, "gate_metric", "must be one of rmse, mae, r2 for regression"),
    (
        {"problem_type": "binary_classification", "gate_threshold": 1.5},
        "gate_threshold",
        "must be in (0, 1] for auc",
    ),
    ({"gate_threshold": -1.0}, "gate_threshold", "must be greater than 0 for rmse"),
    ({"gate_metric": "r2", "gate_threshold": 1.2}, "gate_threshold", "must be at most 1 for r2"),
    ({"enable_step_caching": "maybe"}, "enable_step_caching", "must be true or false"),
    ({"enable_tuning": "maybe"}, "enable_tuning", "must be true or false"),
    ({"enable_tuning": True, "tuning_strategy": "Evolutionary"}, "tuning_strategy", "Invalid choice"),
    ({"enable_tuning": True, "tuning_max_jobs": 0}, "tuning_max_jobs", "between 1 and 500"),
    (
        {"enable_tuning": True, "tuning_max_parallel_jobs": 101},
        "tuning_max_parallel_jobs",
        "between 1 and 100",
    ),
    (
        {"enable_tuning": True, "tuning_max_jobs": 4, "tuning_max_parallel_jobs": 5},
        "tuning_max_parallel_jobs",
        "must not exceed tuning_max_jobs (4)",
    ),
    ({"processing_instance_type": "m5.large"}, "processing_instance_type", "such as ml.m5.large"),
    ({"training_instance_type": "ml.m5"}, "training_instance_type", "such as ml.m5.large"),
    ({"staging_endpoint": "lambda"}, "staging_endpoint", "Invalid choice"),
    ({"prod_instance_type": "large"}, "prod_instance_type", "such as ml.m5.large"),
    ({"prod_deployment_strategy": "rolling"}, "prod_deployment_strategy", "Invalid choice"),
]


@pytest.mark.parametrize(
    ("answers", "question", "rule"), BAD_ANSWERS, ids=[f"{q}={a[q]!r}"[:60] for a, q, _ in BAD_ANSWERS]
)
def test_a_bad_answer_is_refused_and_nothing_is_written(tmp_path, answers, question, rule):
    destination = tmp_path / "project"
    with pytest.raises(ValueError) as raised:
        render(destination, answers, skip_tasks=True)
    message = str(raised.value)
    assert question in message
    assert rule in message
    assert "\n" not in message.strip(), "the message must be one line"
    assert not destination.exists()


def test_a_float_question_refuses_text(tmp_path):
    with pytest.raises(ValueError, match="could not convert string to float"):
        render(tmp_path / "project", {"gate_threshold": "high"}, skip_tasks=True)


@pytest.mark.parametrize("value", [True, False, "true", "false"])
def test_the_caching_switch_takes_true_or_false(tmp_path, value):
    project = render(tmp_path / "project", {"enable_step_caching": value}, skip_tasks=True)
    expected = "true" if value in (True, "true") else "false"
    assert f"  enabled: {expected}\n" in (project / "build" / "config.yml").read_text()


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
        " (owner: letters, digits, single '-'; name: letters, digits, '.', '_', '-', not '.' or '..')"
    )
    assert not (tmp_path / "p").exists()
