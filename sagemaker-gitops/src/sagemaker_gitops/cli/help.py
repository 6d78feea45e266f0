"""How `mlops --help` reads: verbs in the order a newcomer uses them, prose that flows to the
terminal's width, no type labels where they say nothing, and nothing cut off at 80 columns.

typer 0.29 prints a type beside every option, `<bool>` even for a flag, which takes no value, and
`<str>` for free text; and in its Rich help it keeps a docstring's single line breaks, so text
wrapped at the source's width breaks mid-sentence at any other. Its Rich help also lays options out
as a table of four name columns, which at 80 columns cuts long names and words with an ellipsis
(`--approval-dispa…`, `MLOPS_PIPELINE_PARAMETE…`): so help is click's plain layout, which puts a long
option's help on the next line and wraps every word whole. These are presentation choices of
typer's, adjusted here in one place rather than worked around at every command.
"""

import inspect
import re

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption


class WholeSummaries(TyperGroup):
    """A group whose list of verbs shows each verb's first sentence whole, wrapped (click cuts it
    at the terminal's width with "...", which at 80 columns is half of most of them)."""

    def format_commands(self, ctx: typer.Context, formatter) -> None:
        rows = [
            (name, command.get_short_help_str(limit=1000))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def group(help: str, cls: type[TyperGroup] = WholeSummaries) -> typer.Typer:
    """A command group: help in click's plain layout, its own help when called without a verb."""
    return typer.Typer(
        help=help,
        cls=cls,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,  # our errors are one line; bugs keep a plain traceback
    )


def asks_for_help(ctx: typer.Context) -> bool:
    """Whether this command line ends in help: a group's callback runs before its verb's options
    are parsed, and help must neither depend on the project's state nor say anything about it."""
    return ctx.meta.get(_HELP, False)


_HELP = "mlops.asks_for_help"


def _ends_in_help(group: TyperGroup, ctx: typer.Context, rest: list[str]) -> bool:
    """`--help` anywhere after the group, or a group named without its verb (no_args_is_help)."""
    if any(arg in ctx.help_option_names for arg in rest):
        return True
    command = group
    while isinstance(command, TyperGroup) and rest:
        command, rest = command.get_command(ctx, rest[0]), rest[1:]
    return isinstance(command, TyperGroup)


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


class NewcomerOrder(WholeSummaries):
    def list_commands(self, ctx) -> list[str]:
        known = super().list_commands(ctx)
        return [name for name in VERB_ORDER if name in known] + [n for n in known if n not in VERB_ORDER]

    def invoke(self, ctx: typer.Context):
        # The whole command line is known only here, before typer hands the rest to the verb; meta
        # is shared with every sub-context, so each group's callback can ask.
        ctx.meta[_HELP] = _ends_in_help(self, ctx, [*ctx._protected_args, *ctx.args])
        return super().invoke(ctx)


_typer_type = TyperOption.display_type_rich


def _type_label(self: TyperOption, ctx) -> str | None:
    """No label for a flag; free text named after its option (--reason REASON), as click does."""
    if self.is_flag:
        return None
    shown = _typer_type(self, ctx)
    return (self.name or "").upper() if shown == "<str>" else shown


_typer_argument_type = TyperArgument.display_type_rich


def _argument_type_label(self: TyperArgument, ctx) -> str | None:
    """No label for free text: the argument's name says what it is (JOB... <list[str]>)."""
    shown = _typer_argument_type(self, ctx)
    return None if shown in ("<str>", "<list[str]>") else shown


TyperOption.display_type_rich = _type_label
TyperArgument.display_type_rich = _argument_type_label

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
