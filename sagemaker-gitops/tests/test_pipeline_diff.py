"""`mlops pipeline diff`: what a change does to the pipeline, in words and a Mermaid graph."""

import copy
import json

import pytest
from conftest import TUNING
from sagemaker_gitops.build.pipelines import normalize
from sagemaker_gitops.definition import pipeline_diff
from sagemaker_gitops.definition.graph import parse
from sagemaker_gitops.errors import MlopsError
from sagemaker_gitops.project import project


@pytest.fixture
def head(definition):
    return normalize(definition)


def step(definition: dict, name: str) -> dict:
    return next(s for s in parse(definition).steps if s.name == name).document


def test_an_unchanged_pipeline_says_so(head):
    assert pipeline_diff.changes(head, copy.deepcopy(head)) == []
    assert "No change to the pipeline." in pipeline_diff.report("main", head, copy.deepcopy(head))


def test_each_changed_step_and_parameter_is_named_with_old_and_new_values(head):
    base = copy.deepcopy(head)
    stopping = step(head, "Preprocess")["Arguments"]["StoppingCondition"]
    old = stopping["MaxRuntimeInSeconds"]
    stopping["MaxRuntimeInSeconds"] = old * 2
    head["Parameters"].append({"Name": "Extra", "Type": "String", "DefaultValue": "x"})
    gate = next(s for s in head["Steps"] if s["Type"] == "Condition")
    failed = gate["Arguments"]["ElseSteps"].pop()
    found = {change.what: change.how for change in pipeline_diff.changes(base, head)}
    assert found == {
        "parameter Extra": "added",
        f"step {failed['Name']}": "removed",
        "step Preprocess": f"`Arguments.StoppingCondition.MaxRuntimeInSeconds` `{old}` → `{old * 2}`",
    }, "the condition itself is unchanged: its branches are compared as steps"


def test_long_values_are_cut_in_the_report(head):
    base = copy.deepcopy(head)
    head["Parameters"][0]["DefaultValue"] = "s3://bucket/" + "x" * 200
    report = pipeline_diff.report("main", base, head)
    changed = next(line for line in report.splitlines() if head["Parameters"][0]["Name"] in line)
    assert "…" in changed and len(changed) < 250


def test_the_graph_draws_every_step_and_labels_the_gate_branches(head):
    graph = pipeline_diff.mermaid(parse(head))
    assert graph.startswith("flowchart LR")
    for node in parse(head).steps:
        assert f'    {node.name}{"{" if node.type == "Condition" else "["}"{node.name}<br/>' in graph
    gate = next(s for s in head["Steps"] if s["Type"] == "Condition")
    for branch, label in (("IfSteps", "if true"), ("ElseSteps", "if false")):
        for inner in gate["Arguments"][branch]:
            assert f"{gate['Name']} -->|{label}| {inner['Name']}" in graph
    assert f"Preprocess --> {'Tune' if TUNING else 'Train'}" in graph


def test_the_base_side_is_the_snapshot_committed_at_that_commit(repo, git, head):
    assert pipeline_diff.snapshot_at("HEAD", repo=repo) is None, "that commit has no snapshot"
    snapshot = repo / project().snapshot_path.relative_to(project().root)
    snapshot.parent.mkdir(parents=True)
    snapshot.write_text(json.dumps(head))
    git("add", "--all")
    git("commit", "--quiet", "-m", "snapshot")
    snapshot.write_text("{}")  # the working tree does not count
    assert pipeline_diff.snapshot_at("HEAD", repo=repo) == head
    assert "the whole pipeline is new" in pipeline_diff.report("HEAD~1", None, head)
    with pytest.raises(MlopsError, match="no commit 'nope' in this repository"):
        pipeline_diff.snapshot_at("nope", repo=repo)
