"""Linearize an HTML table into one line of text per row, for retrieval.

A row such as `<tr><td>Total Parameters</td><td>671B</td><td>1.04T</td></tr>`
under the headers `DeepSeek-V3` and `Kimi K2` becomes
`Total Parameters: DeepSeek-V3 671B; Kimi K2 1.04T`. Cells spanning several
columns or rows (colspan, rowspan) fill every grid position they cover, and
the header of a column joins the header rows above it, so a two-level header
`Results` over `Acc` reads `Results Acc`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from pydantic import BaseModel, Field

logger = logging.getLogger(__name__)

# Spans above this are treated as malformed and clamped, so a cell with
# colspan="100000" cannot blow up the grid.
MAX_SPAN = 1000
NUMBER = re.compile(r"^[\s\-+−–±~≈<>$€%.,()\d]*\d[\s\-+−–±~≈<>$€%.,()\dA-Za-z]{0,3}$")
WHITESPACE = re.compile(r"\s+")


class LinearTable(BaseModel):
    """A table as text lines: column headers and one line per body row."""

    column_headers: list[str] = Field(default_factory=list, description="Header of each value column, without the row-label column when it is empty")
    rows: list[str] = Field(default_factory=list)

    @property
    def header_line(self) -> str:
        return f"Columns: {', '.join(self.column_headers)}" if self.column_headers else ""


@dataclass
class _Cell:
    text: str
    is_header: bool
    colspan: int = 1
    rowspan: int = 1


@dataclass
class _Row:
    cells: list[_Cell] = field(default_factory=list)
    in_head: bool = False


class _TableHTMLParser(HTMLParser):
    """Collect the rows and cells of the first top-level table; nested tables become cell text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[_Row] = []
        self._depth = 0
        self._in_head = False
        self._cell: _Cell | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            return
        if self._depth > 1:
            if tag in ("td", "th", "br", "tr"):
                self._text.append(" ")
            return
        if tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._finish_cell()
            self.rows.append(_Row(in_head=self._in_head))
        elif tag in ("td", "th"):
            self._finish_cell()
            if not self.rows:
                self.rows.append(_Row(in_head=self._in_head))
            values = dict(attrs)
            self._cell = _Cell(text="", is_header=tag == "th", colspan=_span(values.get("colspan")), rowspan=_span(values.get("rowspan")))
        elif tag in ("br", "p", "div", "li"):
            self._text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            if self._depth == 1:
                self._finish_cell()
            self._depth = max(self._depth - 1, 0)
        elif self._depth == 1 and tag in ("td", "th", "tr"):
            self._finish_cell()
        elif self._depth == 1 and tag == "thead":
            self._in_head = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)

    def _finish_cell(self) -> None:
        if self._cell is None:
            return
        self._cell.text = normalize_space("".join(self._text))
        self.rows[-1].cells.append(self._cell)
        self._cell = None
        self._text = []


def normalize_space(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


def _span(value: str | None) -> int:
    try:
        span = int(value) if value is not None else 1
    except ValueError:
        return 1
    return min(max(span, 1), MAX_SPAN)


# A grid position contains the cell's text and the cell's own index, so a value
# that spans several columns is written once per row.
_GridCell = tuple[str, int]


def _build_grid(rows: list[_Row]) -> tuple[list[list[_GridCell]], list[bool]]:
    """Place each cell at every (row, column) it covers; return the grid and which rows are headers."""
    grid: list[dict[int, _GridCell]] = []
    header_flags: list[bool] = []
    cell_index = 0
    for row_number, row in enumerate(rows):
        while len(grid) <= row_number:
            grid.append({})
        column = 0
        for cell in row.cells:
            while column in grid[row_number]:
                column += 1
            for row_offset in range(cell.rowspan):
                target = row_number + row_offset
                if target >= len(rows):
                    break
                while len(grid) <= target:
                    grid.append({})
                for column_offset in range(cell.colspan):
                    grid[target][column + column_offset] = (cell.text, cell_index)
            column += cell.colspan
            cell_index += 1
        header_flags.append(row.in_head or (bool(row.cells) and all(cell.is_header for cell in row.cells)))

    width = max((max(positions) + 1 for positions in grid if positions), default=0)
    dense = [[positions.get(column, ("", -1 - column)) for column in range(width)] for positions in grid[: len(rows)]]
    return dense, header_flags


def _header_row_count(grid: list[list[_GridCell]], header_flags: list[bool]) -> int:
    count = 0
    while count < len(grid) and header_flags[count]:
        count += 1
    if count == len(grid) and count > 1:
        # Every row is marked as a header: only the first one really is.
        return 1
    if count or len(grid) < 2:
        return count
    # No <th> or <thead>: take the first row as the header when none of its cells is a number.
    first_row = [text for text, _ in grid[0] if text]
    if first_row and not any(NUMBER.match(text) for text in first_row):
        return 1
    return 0


def _column_headers(header_rows: list[list[_GridCell]], width: int) -> list[str]:
    headers = []
    for column in range(width):
        parts: list[str] = []
        seen: set[int] = set()
        for row in header_rows:
            text, cell_index = row[column]
            if text and cell_index not in seen and (not parts or parts[-1] != text):
                parts.append(text)
            seen.add(cell_index)
        headers.append(" ".join(parts))
    return headers


def _linearize_row(row: list[_GridCell], headers: list[str]) -> str:
    label = row[0][0] if row else ""
    written = {row[0][1]} if row else set()
    values = []
    for column in range(1, len(row)):
        text, cell_index = row[column]
        if cell_index in written or not text:
            continue
        written.add(cell_index)
        header = headers[column] if column < len(headers) else ""
        values.append(f"{header} {text}" if header and header != text else text)
    if not values:
        return label
    joined = "; ".join(values)
    return f"{label}: {joined}" if label else joined


def linearize_table(html: str) -> LinearTable:
    """Parse an HTML table and return its column headers and one text line per body row."""
    parser = _TableHTMLParser()
    parser.feed(html)
    parser.close()
    parser._finish_cell()

    grid, header_flags = _build_grid(parser.rows)
    if not grid:
        return LinearTable()
    width = len(grid[0])
    header_count = _header_row_count(grid, header_flags)
    headers = _column_headers(grid[:header_count], width)

    rows = [_linearize_row(row, headers) for row in grid[header_count:]]
    shown_headers = headers if headers and headers[0] else headers[1:]
    return LinearTable(column_headers=[header for header in shown_headers if header], rows=[row for row in rows if row])
