"""`mlops pipeline validate`: what SageMaker would refuse or fail on, found offline.

Each check returns one line per problem; no check calls AWS.
"""

from . import images
from .project import STEPS_DIR


def problems(definition: dict) -> list[str]:
    """Every problem found in a pipeline definition, one line each (empty when it is sound)."""
    return images.problems(definition, STEPS_DIR)
