"""How `mlops --help` reads: verbs in the order a newcomer uses them, prose that flows to the
terminal's width, and no type labels where they say nothing.

typer 0.29 prints a type beside every option, `<bool>` even for a flag, which takes no value, and
`<str>` for free text; and in its Rich help it keeps a docstring's single line breaks, so text
wrapped at the source's width breaks mid-sentence at any other. These are presentation choices of
typer's, adjusted here in one place rather than worked around at every command.
"""

import inspect
import re

import typer
from typer.core import TyperGroup, TyperOption

# The order of `mlops --help`: build and run first, then the registry, then the deploy half.
VERB_ORDER = (
    "pipeline",
    "local",
    "models",
    "promote",
    "deploy",
    "invoke",
    "schedule",
    "status",
    "report",
    "bootstrap",
    "changed-stages",
    "template-update",
)


class NewcomerOrder(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        known = super().list_commands(ctx)
        return [name for name in VERB_ORDER if name in known] + [n for n in known if n not in VERB_ORDER]


_typer_type = TyperOption.display_type_rich


def _type_label(self: TyperOption, ctx) -> str | None:
    """No label for a flag; free text named after its option (--reason REASON), as click does."""
    if self.is_flag:
        return None
    shown = _typer_type(self, ctx)
    return (self.name or "").upper() if shown == "<str>" else shown


TyperOption.display_type_rich = _type_label

# A line break inside a paragraph, unless the next line starts a list item.
_SOFT_BREAK = re.compile(r"(?<!\n)\n[ \t]*(?![-*] |\n)")


def flowing(text: str) -> str:
    """Paragraphs joined into single lines (blank lines and list items kept)."""
    return _SOFT_BREAK.sub(" ", text.strip())


def unwrap_docstrings(app: typer.Typer) -> None:
    """Every command's docstring (the help typer shows) as flowing paragraphs, in every group."""
    for command in app.registered_commands:
        if command.callback and command.callback.__doc__:
            command.callback.__doc__ = flowing(inspect.cleandoc(command.callback.__doc__))
    for group in app.registered_groups:
        unwrap_docstrings(group.typer_instance)
