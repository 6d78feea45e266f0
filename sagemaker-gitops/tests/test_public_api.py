"""What a project may import: sagemaker_gitops's `__all__` (its pipelines) and
sagemaker_gitops.testing's (its tests), each name there and documented in the package's README.
(That generated projects import nothing else: the template's render matrix. That importing the
package loads no AWS SDK: test_cli_help.py, whose `mlops --help` imports it.)"""

import re
from pathlib import Path

import pytest
import sagemaker_gitops
import sagemaker_gitops.testing
from conftest import any_shape

README = (Path(__file__).parents[1] / "README.md").read_text()
pytestmark = any_shape


@pytest.mark.parametrize("module", [sagemaker_gitops, sagemaker_gitops.testing], ids=lambda m: m.__name__)
def test_every_public_name_is_there_and_in_the_readme(module):
    for name in module.__all__:
        assert getattr(module, name) is not None
    row = next(line for line in README.splitlines() if line.startswith(f"| `{module.__name__}` |"))
    assert set(re.findall(r"`(\w+)`", row.rsplit("|", 2)[1])) == set(module.__all__)


def test_the_package_exports_the_function_project_not_the_module():
    assert callable(sagemaker_gitops.project) and sagemaker_gitops.project is sagemaker_gitops.testing.project


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'deploy_everything'"):
        sagemaker_gitops.deploy_everything  # noqa: B018
