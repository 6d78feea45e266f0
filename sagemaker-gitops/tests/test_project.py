"""pyproject.toml's [tool.mlops]: what the CLI reads to know the project; a missing or malformed
table is one line naming the file, the key and the rule, and nothing runs."""

import hashlib
import importlib
import json

import pytest
from conftest import PROJECT, any_shape
from sagemaker_gitops import repository
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.images import image_packages

PYPROJECT = (PROJECT / "pyproject.toml").read_text()
# The module (the package's own `project` is the function it holds).
project_module = importlib.import_module("sagemaker_gitops.project")


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Work in `tmp_path`, with no project read yet: the CLI looks for one from there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(project_module, "_current", None)
    return tmp_path


def one_line_refusal(mlops, *args: str) -> str:
    code, out, err = mlops(*args)
    assert code == 1 and out == "" and err.strip().count("\n") == 0, err
    return err.strip()


@any_shape
def test_the_project_is_found_from_a_folder_inside_it(elsewhere, monkeypatch):
    (elsewhere / "pyproject.toml").write_text(PYPROJECT)
    (elsewhere / "build" / "steps").mkdir(parents=True)
    monkeypatch.chdir(elsewhere / "build" / "steps")
    assert project_module.project().root == elsewhere.resolve()
    assert project_module.project().config_path == elsewhere.resolve() / "build" / "config.yml"


@any_shape
def test_outside_any_project_the_cli_says_so(elsewhere, mlops):
    said = one_line_refusal(mlops, "pipeline", "definition")
    where = elsewhere.resolve()
    assert said == f"error: no project here: no pyproject.toml with a [tool.mlops] table at or above {where}"


@any_shape
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('slug = "', 'slugg = "'), "[tool.mlops]: slug: Field required"),
        (
            ("[tool.mlops]", '[tool.mlops]\nbucket = "mine"'),
            "[tool.mlops]: bucket: Extra inputs are not permitted",
        ),
        (('region = "', "region = 3 #"), "[tool.mlops]: region: Input should be a valid string"),
        (("[tool.mlops]", "[tool.mlops]\n= broken"), "pyproject.toml: cannot be read (Invalid statement"),
    ],
)
def test_a_malformed_table_is_refused_in_one_line(elsewhere, mlops, change, message):
    (elsewhere / "pyproject.toml").write_text(PYPROJECT.replace(*change, 1))
    said = one_line_refusal(mlops, "pipeline", "definition")
    assert said.startswith(f"error: {elsewhere.resolve() / 'pyproject.toml'}") and message in said, said


@any_shape
def test_a_malformed_image_package_list_is_refused_in_one_line(tmp_path, use_project):
    listed = tmp_path / "image_packages.json"
    listed.write_text(json.dumps({"team-image:1": {"packages": {}}}))  # no "images" level
    use_project(image_packages=listed)
    with pytest.raises(MlopsError) as refused:
        image_packages()
    assert str(refused.value).startswith(f"{listed}: not an image package list")
    assert "\n" not in str(refused.value)


@any_shape
def test_an_execution_says_what_it_was_started_from_and_reads_back():
    """PipelineExecutionDescription: what `mlops report experiments` shows as the run's provenance."""
    described = repository.run_description("deeper trees")
    found = repository.parse_run_description(described)
    assert found["label"] == "deeper trees"
    assert found["git"] == repository.git_commit()
    config = project_module.project().config_path.read_bytes()
    assert found["config"] == hashlib.sha256(config).hexdigest()[:12]
    assert "label" not in repository.parse_run_description(repository.run_description())


@any_shape
@pytest.mark.parametrize("label", ["a; b", "two\nlines", "x" * 201])
def test_a_label_that_would_not_read_back_is_refused_in_one_line(label):
    with pytest.raises(MlopsError, match=r"^--label: one line of at most 200 characters, without ';'$"):
        repository.run_description(label)


@any_shape
def test_an_unfinished_copier_update_is_named_until_the_snapshot_finishes_it(
    repo, use_project, mlops, monkeypatch
):
    """The template's update_started.py writes the marker before `copier update` changes anything;
    its post-update task removes it (with `mlops pipeline snapshot`). Stopped in between, the project
    claims a release whose lock and snapshot it does not have: every verb says so, and how to
    finish or undo the update."""
    use_project(root=repo)
    monkeypatch.delenv("MLOPS_LOCAL_DIR")  # as in a project: the emulator's state under .mlops/
    (repo / ".copier-update-unfinished").write_text("0.4.0\n")
    for verb in (["models", "list"], ["pipeline", "definition"], ["status"]):
        code, out, err = mlops(*verb)
        assert code == 1 and not out and len(err.strip().splitlines()) == 1, (verb, err)
        assert err.startswith("error: copier update to 0.4.0 did not finish") and "make setup snapshot" in err
        assert "git reset --hard && git clean -fd" in err
    code, _, err = mlops("pipeline", "snapshot")
    assert code == 0 and "the update to 0.4.0 is finished" in err, err
    assert not (repo / ".copier-update-unfinished").exists()
    assert (repo / "tests" / "snapshots" / "pipeline-definition.json").is_file()
    assert mlops("pipeline", "definition")[0] == 0
