"""Copier migration after every `copier update`: bring what the project derives up to date.

Runs in the project's folder once the template's changes and the project's are merged:
  0. modules the team changed in src/, set aside before an update to 0.3.0 or later
     (keep_changed_modules.py), are put back, with a note;
  1. uv lock, which keeps every pinned version and adds what the new template needs;
  2. the pipeline-definition snapshot, rewritten so the update's own diff shows how the
     definition changed (review it with the rest of the update);
  3. the update marked finished (update_started.py's marker removed).
A conflict left by the merge (or no PyPI) stops here with what to run once it is resolved, and the
marker stays: `mlops` refuses other verbs until `make setup snapshot` finishes the update.
"""

import subprocess
import sys
from pathlib import Path

from keep_changed_modules import note, put_back
from post_copy import lock_and_snapshot
from update_started import MARKER


def conflicted() -> list[str]:
    """Files the merge left with conflict markers (unmerged in git's index) or .rej hunks."""
    unmerged = subprocess.run(
        ["git", "diff", "--name-only", "--diff-filter=U"], capture_output=True, text=True
    ).stdout.split()
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], capture_output=True, text=True
    ).stdout.split()
    return sorted(set(unmerged) | {name for name in listed if name.endswith(".rej")})


def main() -> int:
    kept = put_back(Path.cwd())
    if kept:
        print(note(kept))
    conflicts = conflicted()
    if conflicts:
        print(
            "The update left conflicts in " + ", ".join(conflicts) + ": resolve them (`make conflicts`"
            " lists the markers), then run `make setup snapshot` and review the snapshot's diff."
        )
        return 0
    if lock_and_snapshot():
        MARKER.unlink(missing_ok=True)
        print("Updated: uv.lock and the pipeline snapshot. Review `git diff`, then make test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
