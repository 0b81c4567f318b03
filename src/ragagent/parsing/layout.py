"""Reading order and Markdown for one page of words, tables and images.

Words are grouped into line segments, split where a gap is wider than a word
space. Column gutters are vertical strips that almost no segment crosses and
that have prose on both sides. A segment, table or image that crosses a gutter
(a title, an abstract, a wide table) is full width: it stays in place, and the
columns between two full-width blocks are read left to right, each top to
bottom.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

from ragagent.parsing.geometry import Box, Word
from ragagent.parsing.tables import group_lines

# A gap wider than this many font sizes splits a line into segments.
SEGMENT_GAP_EM = 1.0
# A gutter is at least this wide, in font sizes, and lies in the middle of the text.
MIN_GUTTER_EM = 0.7
GUTTER_EDGE_SHARE = 0.15
# Full-width segments may cross a gutter, up to this share of all segments.
MAX_GUTTER_CROSSING_SHARE = 0.2
MIN_COLUMN_SEGMENTS = 3
# Prose in a column fills most of the column's width.
MIN_COLUMN_FILL = 0.45
MAX_COLUMNS = 4
# Running headers and footers sit in these top and bottom shares of the page.
MARGIN_BAND_SHARE = 0.07
MAX_MARGIN_WORDS = 12
# A lone page number may sit higher, anywhere in the bottom fifth of the page.
PAGE_NUMBER_BAND = 0.8
PAGE_NUMBER = re.compile(r"(?:page\s*)?[0-9]{1,4}|[ivxlc]{1,7}|[0-9]{1,4}\s*(?:of|/)\s*[0-9]{1,4}", re.IGNORECASE)
HEADING_MIN_RATIO = 1.15
TITLE_MIN_RATIO = 1.6
SECTION_MIN_RATIO = 1.25
MAX_HEADING_WORDS = 16
MAX_HEADING_LINES = 3
PARAGRAPH_GAP_EM = 0.6
NUMBERED_HEADING = re.compile(r"^(?:[A-Z]|\d+)((?:\.\d+)*)\.?\s+\S")
UNNUMBERED_SECTIONS = frozenset({"abstract", "references", "acknowledgments", "acknowledgements", "appendix", "bibliography", "contents"})


@dataclass
class Unit:
    """A line segment of text, a table or an image, placed on the page."""

    box: Box
    words: list[Word] = field(default_factory=list)
    placeholder: str | None = None

    @property
    def size(self) -> float:
        return median(word.size for word in self.words) if self.words else 0.0


@dataclass
class PageText:
    markdown: str
    header: str | None = None
    footer: str | None = None


def split_segments(words: Sequence[Word]) -> list[Unit]:
    units = []
    for line in group_lines(words):
        current = [line[0]]
        for word in line[1:]:
            gap = word.box.x0 - current[-1].box.x1
            if gap > SEGMENT_GAP_EM * max(word.size, current[-1].size):
                units.append(_text_unit(current))
                current = [word]
            else:
                current.append(word)
        units.append(_text_unit(current))
    return units


def _text_unit(words: list[Word]) -> Unit:
    box = words[0].box
    for word in words[1:]:
        box = box.union(word.box)
    return Unit(box=box, words=list(words))


def compose_page(units: list[Unit], page_width: float, page_height: float, body_size: float) -> PageText:
    """Order a page's units and write them as Markdown, moving running headers and footers aside."""
    header_units, footer_units, body = _split_margins(units, page_height, body_size)
    gutters = find_gutters([unit for unit in body if unit.words], body_size)
    ordered = _order_units(body, gutters)
    markdown = _write_markdown(ordered, body_size)
    header = " ".join(_plain_text(unit) for unit in sorted(header_units, key=lambda u: (u.box.top, u.box.x0))) or None
    footer = " ".join(_plain_text(unit) for unit in sorted(footer_units, key=lambda u: (u.box.top, u.box.x0))) or None
    return PageText(markdown=markdown, header=header, footer=footer)


def _plain_text(unit: Unit) -> str:
    return " ".join(word.text for word in unit.words)


def _split_margins(units: list[Unit], page_height: float, body_size: float) -> tuple[list[Unit], list[Unit], list[Unit]]:
    text_units = [unit for unit in units if unit.words]
    if len(text_units) < 4:
        return [], [], units
    top_limit = page_height * MARGIN_BAND_SHARE
    bottom_limit = page_height * (1 - MARGIN_BAND_SHARE)
    first_top = min(unit.box.top for unit in units)
    last_bottom = max(unit.box.bottom for unit in units)

    def is_marginal(unit: Unit) -> bool:
        return bool(unit.words) and len(unit.words) <= MAX_MARGIN_WORDS and unit.size <= body_size * 1.05

    header = [u for u in units if is_marginal(u) and u.box.bottom <= top_limit and u.box.top - first_top < body_size * 2]
    footer = [u for u in units if is_marginal(u) and u.box.top >= bottom_limit and last_bottom - u.box.bottom < body_size * 2]
    lowest = max(text_units, key=lambda u: u.box.bottom)
    if not footer and lowest.box.top >= page_height * PAGE_NUMBER_BAND and PAGE_NUMBER.fullmatch(_plain_text(lowest)):
        footer = [lowest]
    taken = {id(u) for u in header + footer}
    return header, footer, [u for u in units if id(u) not in taken]


def find_gutters(units: Sequence[Unit], body_size: float) -> list[tuple[float, float]]:
    """Return the x-ranges of column gutters, left to right; an empty list for a single column."""
    if len(units) < 2 * MIN_COLUMN_SEGMENTS:
        return []
    left = min(unit.box.x0 for unit in units)
    right = max(unit.box.x1 for unit in units)
    width = right - left
    if width <= 0:
        return []

    bins = int(width) + 1
    coverage = [0] * bins
    for unit in units:
        for position in range(int(unit.box.x0 - left), min(int(unit.box.x1 - left) + 1, bins)):
            coverage[position] += 1

    limit = max(1, int(MAX_GUTTER_CROSSING_SHARE * len(units)))
    min_width = MIN_GUTTER_EM * body_size
    candidates = []
    start = None
    for position in range(bins + 1):
        low = position < bins and coverage[position] <= limit
        if low and start is None:
            start = position
        elif not low and start is not None:
            if position - start >= min_width:
                candidates.append((left + start, left + position))
            start = None

    interior = [(a, b) for a, b in candidates if a > left + GUTTER_EDGE_SHARE * width and b < right - GUTTER_EDGE_SHARE * width]
    gutters = interior[: MAX_COLUMNS - 1]
    return gutters if _columns_hold_prose(units, gutters, left, right) else []


def _columns_hold_prose(units: Sequence[Unit], gutters: list[tuple[float, float]], left: float, right: float) -> bool:
    if not gutters:
        return False
    edges = [left] + [x for gutter in gutters for x in gutter] + [right]
    for column_start, column_end in zip(edges[::2], edges[1::2]):
        inside = [unit for unit in units if unit.box.x0 >= column_start - 1 and unit.box.x1 <= column_end + 1]
        if len(inside) < MIN_COLUMN_SEGMENTS:
            return False
        fill = median(unit.box.width for unit in inside) / max(column_end - column_start, 1.0)
        if fill < MIN_COLUMN_FILL:
            return False
    return True


def _column_of(box: Box, gutters: list[tuple[float, float]]) -> int | None:
    """Return the column index of a box, or None when it crosses a gutter."""
    if any(box.x0 < start and box.x1 > end for start, end in gutters):
        return None
    return sum(1 for start, end in gutters if (start + end) / 2 < box.center_x)


def _order_units(units: list[Unit], gutters: list[tuple[float, float]]) -> list[tuple[int | None, Unit]]:
    """Sort units into reading order, tagging each with its column (None for full width)."""
    ordered: list[tuple[int | None, Unit]] = []
    band: list[tuple[int, Unit]] = []

    def flush() -> None:
        band.sort(key=lambda item: (item[0], item[1].box.top, item[1].box.x0))
        ordered.extend(band)
        band.clear()

    for unit in sorted(units, key=lambda u: (u.box.top, u.box.x0)):
        column = _column_of(unit.box, gutters) if gutters else 0
        if column is None:
            flush()
            ordered.append((None, unit))
        else:
            band.append((column, unit))
    flush()
    return ordered


@dataclass
class _Line:
    units: list[Unit]
    column: int | None

    @property
    def box(self) -> Box:
        box = self.units[0].box
        for unit in self.units[1:]:
            box = box.union(unit.box)
        return box

    @property
    def words(self) -> list[Word]:
        return [word for unit in self.units for word in unit.words]

    @property
    def text(self) -> str:
        return " ".join(" ".join(word.text for word in unit.words) for unit in self.units)


def _merge_lines(ordered: list[tuple[int | None, Unit]]) -> list[_Line | Unit]:
    """Join text segments of one column that sit on the same line; tables and images stand alone."""
    items: list[_Line | Unit] = []
    for column, unit in ordered:
        if unit.placeholder is not None:
            items.append(unit)
            continue
        previous = items[-1] if items else None
        if isinstance(previous, _Line) and previous.column == column and _same_line(previous.box, unit.box, unit.size):
            previous.units.append(unit)
            previous.units.sort(key=lambda u: u.box.x0)
        else:
            items.append(_Line(units=[unit], column=column))
    return items


def _same_line(a: Box, b: Box, size: float) -> bool:
    return abs(a.center_y - b.center_y) <= max(size, 1.0) * 0.45


def _write_markdown(ordered: list[tuple[int | None, Unit]], body_size: float) -> str:
    blocks: list[str] = []
    paragraph: list[_Line] = []

    def flush() -> None:
        if paragraph:
            blocks.append(_paragraph_markdown(paragraph, body_size))
            paragraph.clear()

    for item in _merge_lines(ordered):
        if isinstance(item, Unit):
            flush()
            blocks.append(item.placeholder or "")
            continue
        if paragraph and _starts_paragraph(paragraph[-1], item, body_size):
            flush()
        paragraph.append(item)
    flush()
    return "\n\n".join(block for block in blocks if block)


def _line_size(line: _Line) -> float:
    return median(word.size for word in line.words)


def _starts_paragraph(previous: _Line, line: _Line, body_size: float) -> bool:
    if previous.column != line.column:
        # A sentence that goes on at the top of the next column stays in its paragraph.
        return not (line.column is not None and line.text[:1].islower() and _line_size(previous) == _line_size(line))
    size = max(_line_size(previous), _line_size(line), body_size)
    gap = line.box.top - previous.box.bottom
    if gap > PARAGRAPH_GAP_EM * size or gap < -size:
        return True
    return _is_heading_size(_line_size(previous), body_size) != _is_heading_size(_line_size(line), body_size) or _all_bold(previous) != _all_bold(line)


def _is_heading_size(size: float, body_size: float) -> bool:
    return size >= body_size * HEADING_MIN_RATIO


def _all_bold(line: _Line) -> bool:
    return all(word.bold for word in line.words)


def _paragraph_markdown(lines: list[_Line], body_size: float) -> str:
    texts = [line.text for line in lines]
    level = _heading_level(lines, texts, body_size)
    if level:
        return "#" * level + " " + " ".join(texts)
    return "\n".join(_join_hyphenated(texts))


def _heading_level(lines: list[_Line], texts: list[str], body_size: float) -> int:
    words = [word for line in lines for word in line.words]
    if len(lines) > MAX_HEADING_LINES or len(words) > MAX_HEADING_WORDS:
        return 0
    text = " ".join(texts)
    if not any(character.isalpha() for character in text) or text.rstrip().endswith((".", ",", ";", ":")) and not text[:1].isdigit():
        return 0
    ratio = median(word.size for word in words) / body_size if body_size else 1.0
    bold = all(word.bold for word in words)
    numbered = NUMBERED_HEADING.match(text)
    if ratio < HEADING_MIN_RATIO and not bold:
        return 0
    if ratio < HEADING_MIN_RATIO and not numbered and text.lower().strip() not in UNNUMBERED_SECTIONS:
        return 0
    if numbered and ratio < TITLE_MIN_RATIO:
        depth = numbered.group(1).count(".")
        return min(2 + depth, 4)
    if ratio >= TITLE_MIN_RATIO:
        return 1
    return 2 if ratio >= SECTION_MIN_RATIO or text.lower().strip() in UNNUMBERED_SECTIONS else 3


def _join_hyphenated(texts: list[str]) -> list[str]:
    """Join a word split by a hyphen at a line end: "trans-" + "former is" gives "transformer" + "is"."""
    lines = list(texts)
    for index in range(len(lines) - 1):
        current, following = lines[index], lines[index + 1]
        if len(current) > 2 and current.endswith("-") and current[-2].isalpha() and following[:1].islower():
            first, _, rest = following.partition(" ")
            lines[index] = current[:-1] + first
            lines[index + 1] = rest
    return [line for line in lines if line]
