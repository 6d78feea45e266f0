"""The documentation site builds with no warning, and its reference pages cover everything."""

import re
import subprocess
import sys

import jinja2
import yaml
from conftest import QUESTIONS, ROOT, render

sys.path.insert(0, str(ROOT / "scripts"))
import docs_reference  # scripts/ is not a package: imported from the path above


def test_the_site_builds_with_no_warning(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for page in ("index.html", "reference/questions/index.html", "reference/cli/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    cli = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "Which deploy/&lt;stage&gt;.yml to reconcile." in cli, "a <placeholder> shows as text, not a tag"


def test_every_question_is_documented_with_its_rules():
    page = docs_reference.questions_page()
    for name, question in QUESTIONS.items():
        assert f"## `{name}`" in page, name
        for rule in docs_reference._rules(question.get("validator", "")):
            assert rule in page, f"{name}: {rule}"


def test_every_verb_is_documented():
    """Every verb the cli/ modules declare (read from their decorators, not from the tree the page
    walks): a module added with a name is a group (`mlops local run`), one without holds top-level
    verbs (`mlops deploy`)."""
    cli = ROOT / "sagemaker-gitops" / "src" / "sagemaker_gitops" / "cli"
    groups = dict(re.findall(r'add_typer\((\w+)\.app, name="([a-z-]+)"\)', (cli / "__init__.py").read_text()))
    declared = [
        " ".join(["mlops", *([groups[module.stem]] if module.stem in groups else []), verb])
        for module in sorted(cli.glob("*.py"))
        for verb in re.findall(r'@app\.command\("([a-z-]+)"\)', module.read_text())
    ]
    page = docs_reference.cli_page()
    assert len(declared) > 20
    missing = [verb for verb in declared if f"### `{verb}`" not in page]
    assert not missing, missing


def test_every_page_is_in_the_navigation():
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python/name:", ""))["nav"]
    listed = set()

    def walk(items):
        for item in items:
            for value in item.values():
                walk(value) if isinstance(value, list) else listed.add(value)

    walk(nav)
    pages = {str(path.relative_to(ROOT / "docs")) for path in (ROOT / "docs").glob("**/*.md")}
    assert pages <= listed, f"pages no one can reach: {sorted(pages - listed)}"


def test_a_project_from_github_links_the_pages_of_its_release(tmp_path):
    """The generated README's links: to this repository's docs/ at the release the project came
    from. (Copied from a local path, as here, it names the folder instead: test_render's projects.)"""
    project = render(tmp_path / "project", {}, skip_tasks=True)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    environment = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    readme = environment.from_string((ROOT / "template" / "README.md.jinja").read_text())
    source = {"_src_path": "gh:acme/sagemaker-gitops", "_commit": "0.3.0"}
    text = readme.render(**answers, _copier_answers=source)
    docs = re.escape("https://github.com/acme/sagemaker-gitops/blob/0.3.0/docs/")
    linked = re.findall(rf"\({docs}([a-z-]+\.md)\)", text)
    assert len(linked) >= 6
    assert all((ROOT / "docs" / page).is_file() for page in linked), linked
    local = readme.render(**answers, _copier_answers={"_src_path": "/some/path", "_commit": None})
    assert "github.com" not in local and "the `docs/` folder of the template" in local
