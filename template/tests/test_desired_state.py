"""deploy/<stage>.yml as the team keeps them: valid, and naming models of this project's group
(sagemaker_gitops/desired_state.py holds the rules)."""

import pytest
from sagemaker_gitops.testing import STAGES, load_stage, project


@pytest.mark.parametrize("stage", STAGES)
def test_the_stage_files_are_valid(stage):
    arn = load_stage(stage).model_package_arn  # raises, naming the field, when a rule is broken
    assert arn == "" or f"/{project().model_package_group.lower()}/" in arn.lower(), (
        f"{stage}: another group's model"
    )
