"""build/config.yml as the team keeps it: valid (sagemaker_gitops/config.py holds the rules)."""

import yaml
from sagemaker_gitops.testing import load_config, project


def test_the_config_is_valid():
    """Loading raises, naming the field and the rule, when a value breaks one."""
    loaded = load_config(project().config_path)
    assert loaded.gate.metric == yaml.safe_load(project().config_path.read_text())["gate"]["metric"]
