"""What a Jupyter notebook file holds, read as the platform needs it: its code cells and their
source, the cell tagged `parameters`, the modules it imports and the files it `%run`s. Read by
build/notebooks.py (build/notebooks.yml checked against its notebooks) and by the local notebook
job (the libraries its environment needs)."""

import contextlib
import json
import re
from pathlib import Path

from .errors import MlopsError
from .images import imported_modules

RUN_MAGIC = re.compile(r"^\s*%run\s+(?:-\w+\s+)*['\"]?([^'\"\s]+)['\"]?", re.MULTILINE)
# IPython line magics that import a library (a magic is no `import` statement).
MAGIC_IMPORTS = {"matplotlib": "matplotlib"}


def read_notebook(path: Path, shown: Path) -> dict:
    try:
        return read_notebook_text(path.read_bytes(), shown)
    except FileNotFoundError:
        raise MlopsError(f"{shown}: not found") from None


def read_notebook_text(body: bytes, shown: object) -> dict:
    try:
        notebook = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MlopsError(f"{shown}: not a notebook (not JSON: {error})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise MlopsError(f"{shown}: not a notebook (no cells)")
    return notebook


def code_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell.get("cell_type") == "code"]


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def notebook_imports(folder: Path) -> set[str]:
    """The top-level modules the notebooks in a folder import (imports_of each)."""
    return {
        module for path in sorted(folder.rglob("*.ipynb")) for module in imports_of(read_notebook(path, path))
    }


def imports_of(notebook: dict) -> set[str]:
    """The top-level modules a notebook imports, and those its magics load (`%matplotlib inline`
    imports matplotlib); shell lines left out."""
    found = set()
    for cell in code_cells(notebook):
        lines = source(cell).splitlines()
        found |= {
            MAGIC_IMPORTS[m] for line in lines if (m := line.strip()[1:].split(" ")[0]) in MAGIC_IMPORTS
        }
        lines = [line for line in lines if not line.lstrip().startswith(("%", "!"))]
        with contextlib.suppress(SyntaxError):  # the kernel reports it, in the cell it is in
            found |= imported_modules("\n".join(lines))
    return found


def run_targets(notebook: dict) -> list[str]:
    """The files the notebook `%run`s."""
    return [name for cell in code_cells(notebook) for name in RUN_MAGIC.findall(source(cell))]
