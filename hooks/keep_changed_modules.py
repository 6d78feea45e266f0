"""Copier migration to 0.3.0: the modules a team changed in `src/<package>/` survive the update.

Before 0.3.0 every project carried the `mlops` CLI in `src/<package>/`; from 0.3.0 it is the
sagemaker-gitops package, and the update removes those modules. One the team never changed goes
quietly. One the team changed would go too (copier drops a change to a file the template
deleted), so before the update it is set aside in .git/, and after it (post_update.py) put back
where it was, with a note saying what to do with it: the team decides.

    python keep_changed_modules.py before    # in the project, before copier applies the update
    python keep_changed_modules.py after     # after it: the removed modules' bytecode, empty folders
"""

import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from copier import run_copy

SET_ASIDE = Path(".git") / "sagemaker-gitops-kept"


def changed_modules(project: Path) -> list[str]:
    """Files under src/ that differ from what the project's release rendered (its answers, its
    `_commit`), or that the team added there."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        as_generated = Path(scratch) / "project"
        run_copy(
            answers["_src_path"],
            as_generated,
            data={k: v for k, v in answers.items() if not k.startswith("_")},
            vcs_ref=answers["_commit"],
            defaults=True,
            quiet=True,
            skip_tasks=True,
        )
        return [
            str(path.relative_to(project))
            for path in sorted((project / "src").rglob("*"))
            if path.is_file()
            and "__pycache__" not in path.parts
            and not _same(path, as_generated / path.relative_to(project))
        ]


def _same(ours: Path, generated: Path) -> bool:
    return generated.is_file() and generated.read_bytes() == ours.read_bytes()


def set_aside(project: Path) -> list[str]:
    kept = changed_modules(project) if (project / "src").is_dir() else []
    for name in kept:
        (project / SET_ASIDE / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(project / name, project / SET_ASIDE / name)
    return kept


def put_back(project: Path) -> list[str]:
    """Restore what set_aside() kept; the files, relative to the project."""
    folder = project / SET_ASIDE
    if not folder.is_dir():
        return []
    kept = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    for name in kept:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(folder / name, project / name)
    shutil.rmtree(folder)
    return kept


def tidy(project: Path) -> None:
    """What the removed modules leave in a project that ran them: their bytecode caches, and the
    folders they emptied (src/ itself, when nothing of the team's is left in it)."""
    src = project / "src"
    if not src.is_dir():
        return
    for cache in list(src.rglob("__pycache__")):
        shutil.rmtree(cache)
    for folder in [*sorted((p for p in src.rglob("*") if p.is_dir()), reverse=True), src]:
        if not any(folder.iterdir()):
            folder.rmdir()


def note(kept: list[str]) -> str:
    return (
        "Kept " + ", ".join(kept) + ": you changed them, and from 0.3.0 the `mlops` CLI is the"
        " sagemaker-gitops package, which no longer reads them. Move each change into build/ or"
        " pyproject.toml's [tool.mlops] (or ask for an extension point), then delete src/."
    )


def main() -> int:
    if sys.argv[1:] == ["before"]:
        kept = set_aside(Path.cwd())
        if kept:
            print(f"Setting aside {len(kept)} changed module(s) under src/ while the update runs.")
    elif sys.argv[1:] == ["after"]:
        tidy(Path.cwd())
    return 0


if __name__ == "__main__":
    sys.exit(main())
