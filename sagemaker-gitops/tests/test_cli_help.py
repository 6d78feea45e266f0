"""`mlops --help` reads well: verbs in a newcomer's order, no type labels that say nothing, prose
that flows to the terminal's width."""

import click
import typer
from conftest import any_shape
from sagemaker_gitops.cli import app
from sagemaker_gitops.cli_help import VERB_ORDER, flowing

pytestmark = any_shape


def every_command(group: click.Group, path=()):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))


def test_the_verbs_come_in_a_newcomers_order(mlops):
    code, out, _ = mlops("--help")
    assert code == 0
    listed = [
        line.split()[1]
        for line in out.splitlines()
        if line.startswith("│ ") and line.split()[1] in VERB_ORDER
    ]
    assert listed == list(VERB_ORDER)


def test_no_help_shows_a_type_label_that_says_nothing(mlops):
    paths = [path for path, _ in every_command(typer.main.get_command(app))]
    for path in [(), *paths]:
        code, out, err = mlops(*path, "--help")
        assert code == 0, err
        assert "<bool>" not in out and "<str>" not in out and "<list[str]>" not in out, path


def test_docstrings_flow_as_paragraphs():
    assert flowing("one\n  two\n\nthree\n- a\n- b") == "one two\n\nthree\n- a\n- b"
    for path, command in every_command(typer.main.get_command(app)):
        for paragraph in (command.help or "").split("\n\n"):
            lines = paragraph.splitlines()
            assert all(line.startswith(("- ", "* ")) for line in lines[1:]), (path, paragraph)
