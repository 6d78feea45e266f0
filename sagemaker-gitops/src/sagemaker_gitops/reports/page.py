"""What every report writes: its figures as PNGs, and one HTML page that embeds them."""

import base64
import html
from pathlib import Path

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
    # A percent sign never right before a closing brace: the template's render check reads that as Jinja.
    "img{max-width:100%;}"
)


def pyplot():
    """matplotlib's pyplot, drawing to files only (no display), imported when a report is made."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def save(figures: dict[str, object], out_dir: Path) -> None:
    """Write each figure as out_dir/<file name> and close it."""
    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, figure in figures.items():
        figure.savefig(out_dir / file_name, dpi=110, bbox_inches="tight")
        plt.close(figure)


def grid(pyplot, count: int, width: float, height: float) -> tuple[object, list]:
    """A figure of `count` panels, up to three a row, and its axes in order (spare panels hidden)."""
    columns = min(3, max(1, count))
    rows = -(-max(1, count) // columns)
    figure, axes = pyplot.subplots(rows, columns, figsize=(width * columns, height * rows), squeeze=False)
    panels = [panel for row in axes for panel in row]
    for spare in panels[count:]:
        spare.set_visible(False)
    return figure, panels[:count]


def number(text: str) -> float | None:
    """The number a parameter's text holds, or None (a categorical value)."""
    try:
        return float(text)
    except ValueError:
        return None


def table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def write_page(path: Path, title: str, body: str, plots: dict[str, str]) -> Path:
    """path: one self-contained page (title, body HTML, then each PNG in out_dir with its caption)."""
    images = "".join(
        f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(caption)}' src='data:image/png;base64,"
        + base64.b64encode((path.parent / file_name).read_bytes()).decode()
        + "'>"
        for file_name, caption in plots.items()
    )
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}{images}</body></html>\n"
    )
    return path
