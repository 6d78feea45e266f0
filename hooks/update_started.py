"""Copier migration before every `copier update`: mark the update unfinished until it is.

Copier writes the new release into `.copier-answers.yml` before the post-update task refreshes
uv.lock and the pipeline snapshot; stopped in between (ctrl-C, no PyPI, a conflict), the project
claims a release it does not have yet. This writes `.copier-update-unfinished` (the release the
update moves to) in the project's folder; post_update.py removes it once the lock and snapshot
are refreshed, and `mlops pipeline snapshot` (`make setup snapshot`) once a person finished the
update by hand. Until then every other `mlops` verb and `make` target refuses, saying how to
finish the update or undo it. Not ignored by git: `git status` shows it, and `git clean` of an
undone update removes it.
"""

import os
from pathlib import Path

MARKER = Path(".copier-update-unfinished")


def main() -> None:
    # Copier gives migrations the release they move to in their environment.
    release = os.environ.get("VERSION_PEP440_TO") or os.environ.get("VERSION_TO") or "a newer release"
    MARKER.write_text(release + "\n")


if __name__ == "__main__":
    main()
