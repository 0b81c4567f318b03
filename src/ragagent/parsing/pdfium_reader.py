"""Read words, rules and images from a page with PDFium (pypdfium2).

PDFium reads a page's text hundreds of times faster than pdfminer, which
matters on LaTeX pages that draw thousands of vector curves.
"""

from __future__ import annotations

import ctypes
import math
import threading
import unicodedata
from collections import Counter
from statistics import median

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from ragagent.parsing.geometry import Box, Frame, PageContent, PageImage, Rule, Word

# PDFium is not thread-safe (pypdfium2 documents that callers must serialize its use).
# The local parser holds this lock while it reads a page batch.
# NOTE: the page renders of the LLM describer and of pipeline/batch_pages.py do not take it,
# because they run in the describe step, which never overlaps parsing in one process.
PDFIUM_LOCK = threading.RLock()

# Characters that end a word.
WORD_BREAKS = frozenset({0, 9, 10, 13, 32, 0xA0, 0x2002, 0x2003, 0x2009, 0x3000, 0xFFFE, 0xFFFF})
# A gap wider than this fraction of the font size ends a word.
WORD_GAP_EM = 0.22
# A rule is a path at most this thick (points) and at least this long.
RULE_MAX_THICKNESS = 2.5
RULE_MIN_LENGTH = 8.0
# Paths with more segments than this are drawings, not table borders.
MAX_RULE_PATH_SEGMENTS = 64
HYPHEN = 0x2D
# Characters sampled to tell vertical writing from horizontal writing.
VERTICAL_SAMPLE_CHARS = 600
HIGH_SURROGATES = (0xD800, 0xDBFF)
LOW_SURROGATES = (0xDC00, 0xDFFF)
# Text in other directions than the main one is dropped when it is at most this share of the characters.
MAX_DROPPED_DIRECTION_SHARE = 0.2
FONT_FLAG_FORCE_BOLD = 1 << 18
BOLD_WEIGHT = 600
BOLD_NAME_MARKS = ("bold", "black", "heavy", "semibold", "demi", "cmbx", "-bd", ",bd")
FONT_NAME_BUFFER = 256


class _Char:
    __slots__ = ("text", "x0", "top", "x1", "bottom", "size", "bold")

    def __init__(self, text: str, box: Box, size: float, bold: bool) -> None:
        self.text = text
        self.x0, self.top, self.x1, self.bottom = box.x0, box.top, box.x1, box.bottom
        self.size = size
        self.bold = bold


class _FontCache:
    """Tell whether the font of a character is bold, looking each font up once."""

    def __init__(self, textpage: pdfium.PdfTextPage) -> None:
        self._textpage = textpage
        self._by_font: dict[int, bool] = {}
        self._buffer = ctypes.create_string_buffer(FONT_NAME_BUFFER)

    def is_bold(self, index: int) -> bool:
        text_object = pdfium_c.FPDFText_GetTextObject(self._textpage.raw, index)
        font = pdfium_c.FPDFTextObj_GetFont(text_object) if text_object else None
        key = ctypes.cast(font, ctypes.c_void_p).value if font else 0
        if key not in self._by_font:
            self._by_font[key] = self._lookup(font) if font else False
        return self._by_font[key]

    def _lookup(self, font: object) -> bool:
        if pdfium_c.FPDFFont_GetWeight(font) >= BOLD_WEIGHT:
            return True
        flags = ctypes.c_int(0)
        if pdfium_c.FPDFFont_GetFlags(font, ctypes.byref(flags)) and flags.value & FONT_FLAG_FORCE_BOLD:
            return True
        length = pdfium_c.FPDFFont_GetBaseFontName(font, self._buffer, FONT_NAME_BUFFER)
        name = self._buffer.raw[: max(length - 1, 0)].decode("latin-1").lower()
        return any(mark in name for mark in BOLD_NAME_MARKS)


def read_page(page: pdfium.PdfPage) -> PageContent:
    """Read a page's words, rules and images in the frame where its text runs left to right."""
    left, bottom, right, top = page.get_cropbox()
    display = Frame(page.get_rotation() % 360, left, bottom, right, top)
    upright = Frame(0, left, bottom, right, top)

    textpage = page.get_textpage()
    try:
        raw_chars, direction = _read_chars(textpage)
    finally:
        textpage.close()

    frame = upright.turned(direction)
    if _is_vertical_writing(raw_chars, frame):
        # Vertical CJK text runs downwards in columns ordered right to left.
        frame = frame.turned(270)
    chars = [None if item is None else _Char(item[0], frame.box(*item[1]), item[2], item[3]) for item in raw_chars]
    content = PageContent(frame=frame, display=display, words=_chars_to_words(chars))
    _read_objects(page, content)
    return content


RawChar = tuple[str, tuple[float, float, float, float], float, bool, int]


def _read_chars(textpage: pdfium.PdfTextPage) -> tuple[list[RawChar | None], int]:
    """Return characters in content order (None for a word break) and the dominant text direction."""
    fonts = _FontCache(textpage)
    rect = pdfium_c.FS_RECTF()
    matrix = pdfium_c.FS_MATRIX()
    directions: Counter[int] = Counter()
    chars: list[RawChar | None] = []
    raw = textpage.raw

    count = textpage.count_chars()
    skip_next = False
    bold: bool | None = None
    for index in range(count):
        if skip_next:
            skip_next = False
            continue
        code = pdfium_c.FPDFText_GetUnicode(raw, index)
        if HIGH_SURROGATES[0] <= code <= HIGH_SURROGATES[1] and index + 1 < count:
            # PDFium returns UTF-16 code units, so a character beyond the BMP (math italic "𝑑") comes as a pair.
            low = pdfium_c.FPDFText_GetUnicode(raw, index + 1)
            if LOW_SURROGATES[0] <= low <= LOW_SURROGATES[1]:
                code = 0x10000 + ((code - HIGH_SURROGATES[0]) << 10) + (low - LOW_SURROGATES[0])
                skip_next = True
        if HIGH_SURROGATES[0] <= code <= LOW_SURROGATES[1]:
            chars.append(None)
            continue
        if pdfium_c.FPDFText_IsHyphen(raw, index) == 1:
            # PDFium reports a hyphen that breaks a word at a line end as code 2.
            code = HYPHEN
        if code in WORD_BREAKS or pdfium_c.FPDFText_IsGenerated(raw, index) == 1:
            chars.append(None)
            bold = None
            continue
        pdfium_c.FPDFText_GetLooseCharBox(raw, index, ctypes.byref(rect))
        pdfium_c.FPDFText_GetMatrix(raw, index, ctypes.byref(matrix))
        scale = math.hypot(matrix.c, matrix.d) or 1.0
        size = pdfium_c.FPDFText_GetFontSize(raw, index) * scale
        angle = round(math.degrees(math.atan2(matrix.b, matrix.a)) / 90) * 90 % 360
        directions[angle] += 1
        text = unicodedata.normalize("NFKC", chr(code))
        bounds = (rect.left, min(rect.bottom, rect.top), rect.right, max(rect.bottom, rect.top))
        if bold is None:
            # Looking fonts up costs more than reading characters, so each word takes its first character's font.
            bold = fonts.is_bold(index)
        chars.append((text, bounds, size, bold, angle))

    if not directions:
        return chars, 0
    direction, count = directions.most_common(1)[0]
    if count >= (1 - MAX_DROPPED_DIRECTION_SHARE) * sum(directions.values()):
        # A few turned characters, such as a plot's axis titles, would garble the lines they cross.
        # NOTE: a small sideways table on an upright page is dropped with them.
        chars = [item if item is None or item[4] == direction else None for item in chars]
    return chars, direction


def _is_vertical_writing(raw_chars: list[RawChar | None], frame: Frame) -> bool:
    """Tell whether consecutive characters mostly step downwards, as in vertical CJK text."""
    down = across = 0
    previous: Box | None = None
    for item in raw_chars[:VERTICAL_SAMPLE_CHARS]:
        if item is None:
            previous = None
            continue
        box = frame.box(*item[1])
        if previous is not None:
            dx = box.center_x - previous.center_x
            dy = box.center_y - previous.center_y
            if dy > 0 and abs(dx) < abs(dy) * 0.2:
                down += 1
            elif dx > 0:
                across += 1
        previous = box
    return down > 2 * across and down >= 3


def _chars_to_words(chars: list[_Char | None]) -> list[Word]:
    words: list[Word] = []
    current: list[_Char] = []

    def flush() -> None:
        if current:
            words.append(_make_word(current))
            current.clear()

    for char in chars:
        if char is None:
            flush()
            continue
        if current and not _continues_word(current[-1], char):
            flush()
        current.append(char)
    flush()
    return words


def _continues_word(previous: _Char, char: _Char) -> bool:
    size = max(previous.size, char.size, 1.0)
    same_line = abs((previous.top + previous.bottom) / 2 - (char.top + char.bottom) / 2) < size * 0.5
    gap = char.x0 - previous.x1
    # The glyphs of a ligature such as "fi" share one box, so a character may start inside the previous one.
    return same_line and char.x0 >= previous.x0 - size * 0.1 and gap < size * WORD_GAP_EM


def _make_word(chars: list[_Char]) -> Word:
    box = Box(min(c.x0 for c in chars), min(c.top for c in chars), max(c.x1 for c in chars), max(c.bottom for c in chars))
    size = median(c.size for c in chars)
    bold = sum(c.bold for c in chars) * 2 > len(chars)
    return Word(text="".join(c.text for c in chars), box=box, size=size, bold=bold)


def _read_objects(page: pdfium.PdfPage, content: PageContent) -> None:
    for page_object in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        bounds = page_object.get_bounds()
        if page_object.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            content.images.append(PageImage(box=content.frame.box(*bounds), display_box=content.display.box(*bounds)))
        else:
            content.rules.extend(_path_rules(page_object, bounds, content.frame))


def _path_rules(path: pdfium.PdfObject, bounds: tuple[float, float, float, float], frame: Frame) -> list[Rule]:
    left, bottom, right, top = bounds
    width, height = right - left, top - bottom
    if max(width, height) < RULE_MIN_LENGTH:
        return []
    if min(width, height) <= RULE_MAX_THICKNESS:
        return [Rule(frame.box(*bounds))]

    segment_count = pdfium_c.FPDFPath_CountSegments(path.raw)
    if segment_count > MAX_RULE_PATH_SEGMENTS:
        return []
    points = _path_points(path, segment_count)
    if points is None:
        return []
    rules = []
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        if abs(ya - yb) <= RULE_MAX_THICKNESS / 2 and abs(xa - xb) >= RULE_MIN_LENGTH:
            rules.append(Rule(frame.box(min(xa, xb), ya, max(xa, xb), ya)))
        elif abs(xa - xb) <= RULE_MAX_THICKNESS / 2 and abs(ya - yb) >= RULE_MIN_LENGTH:
            rules.append(Rule(frame.box(xa, min(ya, yb), xa, max(ya, yb))))
    return rules


def _path_points(path: pdfium.PdfObject, segment_count: int) -> list[tuple[float, float]] | None:
    """Return the path's straight-line outline in page space, or None if it has curves."""
    # NOTE: only the path's own matrix is applied, so the outline of a path nested in a
    # transformed form XObject may be misplaced; thin paths use page-space bounds instead.
    a, b, c, d, e, f = path.get_matrix().get()
    x, y = ctypes.c_float(), ctypes.c_float()
    points: list[tuple[float, float]] = []
    start: tuple[float, float] | None = None
    for index in range(segment_count):
        segment = pdfium_c.FPDFPath_GetPathSegment(path.raw, index)
        kind = pdfium_c.FPDFPathSegment_GetType(segment)
        if kind == pdfium_c.FPDF_SEGMENT_BEZIERTO:
            return None
        pdfium_c.FPDFPathSegment_GetPoint(segment, ctypes.byref(x), ctypes.byref(y))
        point = (a * x.value + c * y.value + e, b * x.value + d * y.value + f)
        if kind == pdfium_c.FPDF_SEGMENT_MOVETO:
            # A NaN point breaks the outline, so no edge joins two subpaths.
            points.append((math.nan, math.nan))
            start = point
        points.append(point)
        if pdfium_c.FPDFPathSegment_GetClose(segment) and start is not None:
            points.append(start)
    return points
