"""What every report writes: one self-contained, offline HTML page of interactive charts, and a PNG
of each chart beside it.

Charts are Vega-Lite, written with Altair: its selections give linked brushing across views,
tooltips and zoom without any JavaScript of ours. `to_html(inline=True)` inlines Vega's JavaScript
from vl-convert (no CDN: the page opens offline), which also renders the PNGs without a browser.
"""

import html
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import altair as alt

STYLE = (
    "body{font-family:sans-serif;margin:2em}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    "h2{margin-top:1.5em}"
)


@contextmanager
def linked_selections() -> Iterator[None]:
    """Build and write charts whose views share one selection. Altair warns each time it merges
    a selection used by several views of a concatenation, but that merge is what links them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Automatically deduplicated selection parameter", UserWarning)
        yield


def key(name: str) -> str:
    """A field name Vega-Lite reads literally: `validation:auc` or `a.b` would be parsed as a type
    or a nested field, so charts use this key and show the real name as the title."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def number(text: str) -> float | None:
    """The number a parameter's text holds, or None (a categorical value)."""
    try:
        return float(text)
    except ValueError:
        return None


def typed(text: str) -> float | str:
    """A parameter's value for a chart: a number when its text holds one, else the text."""
    found = number(text)
    return text if found is None else found


def numeric(rows: list[dict], field: str) -> bool:
    """Whether a chart field is a quantity: every row that has it holds a number."""
    values = [row[field] for row in rows if field in row]
    return bool(values) and all(isinstance(value, int | float) for value in values)


def table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def save_pngs(charts: dict[str, alt.TopLevelMixin], out_dir: Path) -> None:
    """Each chart as out_dir/<file name>, a static picture for a pull request or a slide."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, chart in charts.items():
        chart.save(str(out_dir / file_name), format="png", scale_factor=1.5)


def write_page(path: Path, title: str, body: str, chart: alt.TopLevelMixin, how_to: str) -> Path:
    """path: one page, opened offline: the title, body HTML, how to use the charts, then the charts."""
    page = chart.to_html(inline=True, embed_options={"actions": {"export": True, "source": False}})
    header = (
        f"<h1>{html.escape(title)}</h1>{body}<p><em>{html.escape(how_to)}</em></p>"
        if how_to
        else f"<h1>{html.escape(title)}</h1>{body}"
    )
    page = page.replace("<head>", f"<head><title>{html.escape(title)}</title><style>{STYLE}</style>", 1)
    # The last <body>: the inlined JavaScript, in <head>, holds the text "<body>" too.
    body_at = page.rindex("<body>") + len("<body>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page[:body_at] + header + page[body_at:])
    return path
