"""MkDocs hook: the reference pages that must not drift, written at build time from their sources.

- reference/questions.md from copier.yml: every question, its type, default, choices, when it is
  asked, and the rules its validator enforces (the messages it fails with).
- reference/cli.md from the `mlops` CLI itself: the platform package's CLI imported from this
  checkout, and typer's command tree walked (every verb, argument and option with its help).
"""

import html
import importlib
import itertools
import re
import sys
from pathlib import Path

import typer
import yaml
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_SOURCE = ROOT / "sagemaker-gitops" / "src"
JINJA_TAG = re.compile(r"\{%.*?%\}", re.DOTALL)
TYPER_OWN = ("help", "install_completion", "show_completion")  # every typer app has them


def on_files(files, config):
    files.append(File.generated(config, "reference/questions.md", content=questions_page()))
    files.append(File.generated(config, "reference/cli.md", content=cli_page()))
    return files


# --- copier.yml ----------------------------------------------------------------------------------


def questions_page() -> str:
    spec = yaml.safe_load((ROOT / "copier.yml").read_text())
    lines = [
        "# Copier questions",
        "",
        "Written from `copier.yml` when this site is built, so it cannot drift. Answer them with",
        "`copier copy --trust <template> <folder>` (or `--data name=value`, `--defaults`). A bad answer",
        "fails with `Validation error for question '<name>': <rule>` and nothing is written.",
        "",
    ]
    for name, question in spec.items():
        if name.startswith("_") or question.get("when") is False:  # settings and computed values
            continue
        lines += [f"## `{name}`", "", question.get("help", "").strip(), ""]
        lines += [f"- **type**: `{question.get('type', 'str')}`", f"- **default**: {_default(question)}"]
        if "choices" in question:
            choices = question["choices"]
            shown = choices.values() if isinstance(choices, dict) else choices
            lines.append("- **choices**: " + ", ".join(f"`{choice}`" for choice in shown))
        if "when" in question:
            lines.append(f"- **asked when**: `{_jinja(question['when'])}`")
        rules = _rules(question.get("validator", ""))
        if rules:
            lines.append("- **rules**: " + "; ".join(rules))
        lines.append("")
    return "\n".join(lines)


def _default(question: dict) -> str:
    default = question.get("default")
    if isinstance(default, str) and "{{" in default:
        return f"computed: `{_jinja(default)}`"
    return f"`{yaml.safe_dump(default, default_flow_style=True).strip().removesuffix('...').strip()}`"


def _jinja(expression) -> str:
    return str(expression).replace("{{", "").replace("}}", "").strip()


def _rules(validator: str) -> list[str]:
    """The messages a validator fails with: its text between the Jinja tags."""
    pieces = (piece.strip() for piece in JINJA_TAG.split(validator))
    return [f"{piece.replace('{{ ', '`').replace(' }}', '`')}" for piece in pieces if piece]


# --- the mlops CLI ---------------------------------------------------------------------------------


def cli_page() -> str:
    sys.path.insert(0, str(PACKAGE_SOURCE))
    try:
        command = typer.main.get_command(importlib.import_module("sagemaker_gitops.cli").app)
    finally:
        sys.path.remove(str(PACKAGE_SOURCE))
    lines = [
        "# The `mlops` CLI",
        "",
        "Written from the CLI's own help when this site is built. Every workflow and Makefile target",
        "calls these verbs; `uv run mlops <verb> --help` says the same in a terminal.",
        "",
    ]
    lines += _command(command, ["mlops"])
    return "\n".join(lines)


def _command(command, path: list[str]) -> list[str]:
    # Duck-typed: typer builds on its own copy of click's classes.
    if not hasattr(command, "commands"):
        return _verb(command, path)
    visible = {name: child for name, child in command.commands.items() if not child.hidden}
    verbs = {name: child for name, child in visible.items() if not hasattr(child, "commands")}
    lines = [f"## `{' '.join(path)}`", "", prose(command.help), ""]
    lines += _options(command)
    for name, child in verbs.items():
        lines += _verb(child, [*path, name])
    for name, child in visible.items():
        if name not in verbs:
            lines += _command(child, [*path, name])
    return lines


def _verb(command, path: list[str]) -> list[str]:
    return [f"### `{' '.join(path)}`", "", prose(command.help), "", *_options(command)]


def prose(text: str | None) -> str:
    """Help text as Markdown: `<stage>` and the like escaped (HTML would swallow them as tags),
    except inside code spans, which show their text as it is."""
    parts = (text or "").strip().split("`")
    return "`".join(
        part if inside else html.escape(part, quote=False)
        for inside, part in zip(itertools.cycle((False, True)), parts)
    )


def _options(command) -> list[str]:
    lines = []
    for parameter in command.params:
        if parameter.param_type_name == "argument":
            lines.append(f"- `{parameter.name.upper()}` (argument): {prose(getattr(parameter, 'help', ''))}")
        elif not parameter.hidden and parameter.name not in TYPER_OWN:
            shown = parameter.default not in (None, False, (), "")
            default = f" (default: `{parameter.default}`)" if shown else ""
            lines.append(f"- `{', '.join(parameter.opts)}`: {prose(parameter.help)}{default}")
    return [*lines, ""] if lines else []
