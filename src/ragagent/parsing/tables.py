"""Find tables on a page from its rules and words, and write them as HTML.

Two kinds are recognised:

- Ruled tables, whose cells are closed by horizontal and vertical lines. The
  cells come from pdfplumber's lattice functions, fed with the rules PDFium
  read, so pdfminer never has to parse the page.
- Booktabs tables, with horizontal rules only (top, middle and bottom rules,
  as LaTeX's booktabs package draws them). Their columns come from vertical
  gaps that every body row leaves open. When the words do not line up into
  clear columns of short cells, no table is returned and the words stay in
  the text, line by line.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pdfplumber.table import cells_to_tables, edges_to_intersections, intersections_to_cells, merge_edges

from ragagent.parsing.geometry import Box, Rule, Word

logger = logging.getLogger(__name__)

SNAP_TOLERANCE = 3.0
MAX_INTERSECTIONS = 1200
JOIN_TOLERANCE = 3.0
INTERSECTION_TOLERANCE = 3.0
# Horizontal rules of one booktabs table share their left and right ends within this many points.
RULE_END_TOLERANCE = 4.0
MIN_BOOKTABS_WIDTH = 60.0
# A column gap is at least this fraction of the font size.
MIN_COLUMN_GAP_EM = 0.8
MAX_WORDS_PER_CELL = 7.0
MIN_FILLED_ROW_SHARE = 0.6
MIN_FILLED_CELL_SHARE = 0.5
MAX_STRADDLING_SHARE = 0.1
MAX_CELL_LINES = 3
MAX_BESIDE_SHARE = 0.2
MAX_TALL_CELL_SHARE = 0.2
# Points a word may reach past its cell's border and still belong to it.
CELL_OVERFLOW = 1.5
LINE_TOLERANCE_EM = 0.45


@dataclass
class Cell:
    text: str
    colspan: int = 1


@dataclass
class Table:
    box: Box
    rows: list[list[Cell]]
    header_rows: int = 1
    words: list[Word] = field(default_factory=list)

    def to_html(self) -> str:
        parts = ["<table>"]
        for row_index, row in enumerate(self.rows):
            tag = "th" if row_index < self.header_rows else "td"
            cells = "".join(_cell_html(cell, tag) for cell in row)
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</table>")
        return "".join(parts)


def _cell_html(cell: Cell, tag: str) -> str:
    span = f' colspan="{cell.colspan}"' if cell.colspan > 1 else ""
    return f"<{tag}{span}>{html.escape(cell.text)}</{tag}>"


def find_tables(words: Sequence[Word], rules: Sequence[Rule]) -> list[Table]:
    """Return the ruled and booktabs tables on a page, each with the words it takes out of the text."""
    tables = _ruled_tables(words, rules)
    taken = [table.box for table in tables]
    free_rules = [rule for rule in rules if not any(_inside(rule.box, box) for box in taken)]
    for table in _booktabs_tables(words, free_rules):
        if not any(_overlaps(table.box, box) for box in taken):
            tables.append(table)
            taken.append(table.box)
    return tables


def _inside(box: Box, outer: Box, margin: float = 2.0) -> bool:
    return box.x0 >= outer.x0 - margin and box.x1 <= outer.x1 + margin and box.top >= outer.top - margin and box.bottom <= outer.bottom + margin


def _overlaps(a: Box, b: Box) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.top < b.bottom and b.top < a.bottom


def _words_in(words: Sequence[Word], box: Box) -> list[Word]:
    return [word for word in words if box.contains_point(word.box.center_x, word.box.center_y)]


def _rule_edge(rule: Rule) -> dict:
    box = rule.box
    if rule.horizontal:
        y = box.center_y
        return {"x0": box.x0, "x1": box.x1, "top": y, "bottom": y, "width": box.width, "height": 0.0, "orientation": "h"}
    x = box.center_x
    return {"x0": x, "x1": x, "top": box.top, "bottom": box.bottom, "width": 0.0, "height": box.height, "orientation": "v"}


def _ruled_tables(words: Sequence[Word], rules: Sequence[Rule]) -> list[Table]:
    if not any(not rule.horizontal for rule in rules) or not any(rule.horizontal for rule in rules):
        return []
    edges = merge_edges([_rule_edge(rule) for rule in rules], SNAP_TOLERANCE, SNAP_TOLERANCE, JOIN_TOLERANCE, JOIN_TOLERANCE)
    intersections = edges_to_intersections(edges, INTERSECTION_TOLERANCE, INTERSECTION_TOLERANCE)
    if len(intersections) > MAX_INTERSECTIONS:
        # NOTE: pdfplumber's cell search grows faster than linearly with the intersections. A page this
        # dense is usually a heatmap or a chart, so its grid is skipped and a real table stays as text.
        logger.debug("skipped a grid of %d rule intersections", len(intersections))
        return []
    cells = intersections_to_cells(intersections)
    tables = []
    for table_cells in cells_to_tables(cells):
        table = _grid_table(words, table_cells)
        if table is not None and not _has_rows_beside(words, table.box, table.words):
            tables.append(table)
    return tables


def _grid_table(words: Sequence[Word], cells: list[tuple[float, float, float, float]]) -> Table | None:
    column_starts = sorted({round(cell[0], 1) for cell in cells})
    row_tops = sorted({round(cell[1], 1) for cell in cells})
    if len(column_starts) < 2 or len(row_tops) < 2:
        return None

    box = Box(min(c[0] for c in cells), min(c[1] for c in cells), max(c[2] for c in cells), max(c[3] for c in cells))
    inside = _words_in(words, box)
    if _straddling_share(inside, cells) > MAX_STRADDLING_SHARE:
        # Text running across cell borders means the lines belong to a drawing, such as a plot grid.
        return None
    rows: list[list[Cell]] = []
    filled = tall = 0
    for top in row_tops:
        row_cells = sorted((cell for cell in cells if round(cell[1], 1) == top), key=lambda cell: cell[0])
        row = []
        for x0, cell_top, x1, bottom in row_cells:
            span = sum(1 for start in column_starts if x0 - 0.5 <= start < x1 - 0.5)
            cell_lines = group_lines(_words_in(inside, Box(x0, cell_top, x1, bottom)))
            text = " ".join(" ".join(word.text for word in line) for line in cell_lines)
            filled += bool(text)
            tall += len(cell_lines) > MAX_CELL_LINES
            row.append(Cell(text=text, colspan=max(span, 1)))
        rows.append(row)
    # Plot axes and grids also close cells, but leave most of them empty.
    filled_rows = sum(1 for row in rows if sum(bool(cell.text) for cell in row) >= 2)
    if filled < MIN_FILLED_CELL_SHARE * len(cells) or filled_rows < 2:
        return None
    if tall > MAX_TALL_CELL_SHARE * filled:
        # Rules that only separate groups of rows enclose many lines per "cell".
        return None
    return Table(box=box, rows=rows, header_rows=1, words=inside)


def _has_rows_beside(words: Sequence[Word], box: Box, inside: Sequence[Word]) -> bool:
    """Tell whether the rules close only some columns of a wider table, whose rows must stay whole."""
    beside = [w for w in words if box.top <= w.box.center_y <= box.bottom and not box.contains_point(w.box.center_x, w.box.center_y)]
    return len(beside) > MAX_BESIDE_SHARE * len(inside)


def _straddling_share(words: Sequence[Word], cells: list[tuple[float, float, float, float]]) -> float:
    if not words:
        return 1.0
    straddling = 0
    for word in words:
        box = word.box
        home = next((c for c in cells if c[0] <= box.center_x <= c[2] and c[1] <= box.center_y <= c[3]), None)
        if home is None or box.x0 < home[0] - CELL_OVERFLOW or box.x1 > home[2] + CELL_OVERFLOW:
            straddling += 1
    return straddling / len(words)


def group_lines(words: Sequence[Word]) -> list[list[Word]]:
    """Group words into lines by their vertical centre, top to bottom, each line left to right."""
    lines: list[list[Word]] = []
    centers: list[float] = []
    for word in sorted(words, key=lambda w: w.box.center_y):
        tolerance = max(word.size, 1.0) * LINE_TOLERANCE_EM
        if lines and abs(word.box.center_y - centers[-1]) <= tolerance:
            lines[-1].append(word)
            count = len(lines[-1])
            centers[-1] += (word.box.center_y - centers[-1]) / count
        else:
            lines.append([word])
            centers.append(word.box.center_y)
    return [sorted(line, key=lambda w: w.box.x0) for line in lines]


def _booktabs_tables(words: Sequence[Word], rules: Sequence[Rule]) -> list[Table]:
    horizontal = sorted((rule for rule in rules if rule.horizontal and rule.box.width >= MIN_BOOKTABS_WIDTH), key=lambda rule: rule.box.top)
    groups: list[list[Rule]] = []
    for rule in horizontal:
        for group in groups:
            first = group[0].box
            if abs(first.x0 - rule.box.x0) <= RULE_END_TOLERANCE and abs(first.x1 - rule.box.x1) <= RULE_END_TOLERANCE:
                group.append(rule)
                break
        else:
            groups.append([rule])

    tables = []
    for group in groups:
        if len(group) < 2:
            continue
        table = _booktabs_table(words, group)
        if table is not None:
            tables.append(table)
    return tables


def _booktabs_table(words: Sequence[Word], group: list[Rule]) -> Table | None:
    box = Box(group[0].box.x0, group[0].box.top, group[0].box.x1, group[-1].box.bottom)
    inside = _words_in(words, box)
    lines = group_lines(inside)
    if len(lines) < 3 or _has_rows_beside(words, box, inside):
        return None

    header_end = group[1].box.center_y if len(group) >= 3 else lines[0][-1].box.bottom
    body = [line for line in lines if line[0].box.center_y > header_end]
    header_count = len(lines) - len(body)
    if len(body) < 2:
        return None

    columns = _column_spans([word for line in body for word in line])
    if len(columns) < 2:
        return None
    rows = [_split_line(line, columns) for line in lines]
    if not _looks_tabular(rows[header_count:]):
        return None
    cell_rows = [[Cell(text=text) for text in row] for row in rows]
    return Table(box=box, rows=cell_rows, header_rows=max(header_count, 1), words=inside)


def _column_spans(words: Sequence[Word]) -> list[tuple[float, float]]:
    """Merge the words' horizontal extents into column spans separated by clear gaps."""
    if not words:
        return []
    sizes = sorted(word.size for word in words)
    min_gap = sizes[len(sizes) // 2] * MIN_COLUMN_GAP_EM
    spans: list[list[float]] = []
    for word in sorted(words, key=lambda w: w.box.x0):
        if spans and word.box.x0 - spans[-1][1] < min_gap:
            spans[-1][1] = max(spans[-1][1], word.box.x1)
        else:
            spans.append([word.box.x0, word.box.x1])
    return [(start, end) for start, end in spans]


def _split_line(line: Sequence[Word], columns: list[tuple[float, float]]) -> list[str]:
    cells: list[list[str]] = [[] for _ in columns]
    for word in line:
        index = min(range(len(columns)), key=lambda i: _distance_to_span(word.box.center_x, columns[i]))
        cells[index].append(word.text)
    return [" ".join(cell) for cell in cells]


def _distance_to_span(x: float, span: tuple[float, float]) -> float:
    start, end = span
    return 0.0 if start <= x <= end else min(abs(x - start), abs(x - end))


def _looks_tabular(rows: list[list[str]]) -> bool:
    """Tell whether body rows are short cells side by side rather than prose."""
    cells = [cell for row in rows for cell in row if cell]
    if not cells:
        return False
    words_per_cell = sum(len(cell.split()) for cell in cells) / len(cells)
    filled_rows = sum(1 for row in rows if sum(bool(cell) for cell in row) >= 2)
    return words_per_cell <= MAX_WORDS_PER_CELL and filled_rows >= MIN_FILLED_ROW_SHARE * len(rows)
