"""The JSONPath subset batch transform applies to CSV rows (DataProcessing's InputFilter and
OutputFilter), read once here: build/config.yml's batch block is checked with it, and local
transforms apply it.

On a CSV row SageMaker treats the columns as an array: `$` is the whole row, `$[2]` one column,
`$[-1]` the last, `$[1:]` all but the first (a slice's end is excluded), and `$[0,5:]` several
pieces in order. Filters over JSON records (`$.features`) are not for CSV and are refused.
"""

import re
from collections.abc import Callable

MAX_LENGTH = 63  # the API's limit for a JsonPath
PIECE = re.compile(r"^(-?\d+)?(:)?(-?\d+)?$")

Filter = Callable[[list[str]], list[str]]


def column_filter(expression: str) -> Filter:
    """The columns `expression` keeps, as a function of a row; ValueError saying why it is not one."""
    if len(expression) > MAX_LENGTH:
        raise ValueError(f"{expression!r}: at most {MAX_LENGTH} characters")
    if expression == "$":
        return list
    if not (expression.startswith("$[") and expression.endswith("]")) or expression == "$[]":
        raise ValueError(f"{expression!r}: use $ (every column) or $[...] with indices and slices: $[1:]")
    pieces = [_piece(expression, text.strip()) for text in expression[2:-1].split(",")]

    def keep(row: list[str]) -> list[str]:
        return [value for piece in pieces for value in piece(row)]

    return keep


def _piece(expression: str, text: str) -> Filter:
    found = PIECE.match(text)
    if not text or not found or (found.group(2) is None and found.group(1) is None):
        raise ValueError(f"{expression!r}: {text!r} is not a column index or a slice such as 1: or 0:3")
    start, colon, end = found.groups()
    if colon is None:
        index = int(start)
        return lambda row: [row[index]]  # IndexError on a row without that column
    first = int(start) if start is not None else None
    last = int(end) if end is not None else None
    return lambda row: row[first:last]
