"""`mlops --help` reads well: verbs in a newcomer's order, no type labels that say nothing, prose
that flows to the terminal's width, nothing cut off at 80 columns; and help answers at once: it
loads no AWS SDK and says nothing about the project's emulator."""

import subprocess
import sys

import typer
from conftest import any_shape
from sagemaker_gitops.cli import app
from sagemaker_gitops.cli.help import VERB_ORDER, flowing
from typer.core import TyperGroup

pytestmark = any_shape


def every_command(group: TyperGroup, path=()):
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*path, name), command
        if isinstance(command, TyperGroup):
            yield from every_command(command, (*path, name))


EVERY_PATH = [(), *(path for path, _ in every_command(typer.main.get_command(app)))]


def test_the_verbs_come_in_a_newcomers_order(mlops):
    code, out, _ = mlops("--help")
    assert code == 0
    listed = [
        line.split()[0] for line in out.splitlines() if line[:2] == "  " and line.split()[0] in VERB_ORDER
    ]
    assert listed == list(VERB_ORDER)


def test_every_help_fits_80_columns_whole_and_never_mentions_the_emulator(
    mlops, running_emulator, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "80")
    assert len(EVERY_PATH) > 30  # every verb of every group, not the top level only
    groups = [
        path
        for path, command in every_command(typer.main.get_command(app))
        if isinstance(command, TyperGroup)
    ]
    for asked in [[*path, "--help"] for path in EVERY_PATH] + groups:  # a group without its verb: its help
        code, out, err = mlops(*asked)
        shown = out + err  # click prints a group's help on stderr when its verb is missing
        assert code in (0, 2) and "Usage: mlops" in shown, (asked, shown)
        assert "emulator at" not in shown, asked  # the emulator runs, and help says nothing about it
        wide = [line for line in shown.splitlines() if len(line) > 80]
        assert not wide, (asked, wide)
        cut = [line for line in shown.splitlines() if line.endswith(("…", "...")) and "Usage:" not in line]
        assert not cut, (asked, cut)  # Rich's ellipsis, or click's at the end of a verb's summary


def test_help_loads_no_aws_sdk():
    # In a fresh interpreter: this test process has long imported everything.
    probe = (
        "import sys\n"
        "from sagemaker_gitops.cli import main\n"
        "sys.argv = ['mlops', 'local', 'run', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'boto3', 'numpy', 'sagemaker', 'pandas'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.splitlines()[-1] == "[]"


def test_no_help_shows_a_type_label_that_says_nothing(mlops):
    for path in EVERY_PATH:
        code, out, err = mlops(*path, "--help")
        assert code == 0, err
        assert "<bool>" not in out and "<str>" not in out and "<list[str]>" not in out, path


def test_docstrings_flow_as_paragraphs():
    assert flowing("one\n  two\n\nthree\n- a\n- b") == "one two\n\nthree\n- a\n- b"
    for path, command in every_command(typer.main.get_command(app)):
        for paragraph in (command.help or "").split("\n\n"):
            lines = paragraph.splitlines()
            assert all(line.startswith(("- ", "* ")) for line in lines[1:]), (path, paragraph)
