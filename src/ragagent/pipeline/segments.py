"""Cut a parsed document into segments, the pieces that chunks are packed from.

A segment is a sentence, a table, a figure, or a part of a table or figure
too long for one chunk. Each segment carries its page and its section heading path. A table or a figure
is one segment made of its title, its description and its linearized rows,
so the chunker never cuts it in half. Only a table longer than one chunk is
split, by rows, and each part repeats the title and the column headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from ragagent.describe.offline import OfflineDescriber
from ragagent.describe.tables import linearize_table, normalize_space
from ragagent.models import DocumentPage, ElementDescription, ParsedDocument
from ragagent.ocr import OCRImageObject, OCRTableObject
from ragagent.pipeline.markdown import (
    Caption,
    ElementKind,
    Heading,
    Paragraph,
    Placeholder,
    find_captions,
    is_caption,
    is_page_number,
    parse_blocks,
)

logger = logging.getLogger(__name__)

PARAGRAPH_BREAK = "\n\n"
LINE_BREAK = "\n"
SENTENCE_BREAK = " "
SECTION_SEPARATOR = " > "
CONTINUED = " (continued)"
# The heading path may take at most this share of a chunk's tokens.
MAX_PREFIX_SHARE = 0.25
# A heading like "2.1 MuonClip" or "A.3 Data" takes its depth from its number.
NUMBERED_HEADING = re.compile(r"^(?:[A-Z](?:\.\d+)+|\d+(?:\.\d+)*)\.?\s+\S")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9$\\])")
ABBREVIATIONS = frozenset(
    {"e.g.", "i.e.", "al.", "fig.", "figs.", "eq.", "eqs.", "tab.", "sec.", "vs.", "cf.", "no.", "dr.", "mr.", "ms.", "prof.", "approx.", "resp.", "ref.", "refs."}
)
INITIAL = re.compile(r"^[A-Z]\.$")
# Placeholder-shaped links whose element does not exist on the page: noise for retrieval.
STRAY_PLACEHOLDER = re.compile(r"!?\[[^\]\n]*\]\((?:img|tbl)-\d+\.[A-Za-z0-9]{1,5}\)")

Fits = Callable[[str], bool]


@dataclass
class Segment:
    text: str
    page: int
    section: tuple[str, ...]
    # The heading text that starts every chunk of this section.
    prefix: str
    # Separator placed before this segment when it follows another one in the same chunk.
    joiner: str
    element_id: str | None = None
    element_kind: ElementKind | None = None
    label: str | None = None


def section_prefix(section: tuple[str, ...], count_tokens: Callable[[str], int], max_tokens: int) -> str:
    """Join the heading path; keep only the innermost heading, then its first words, when it is longer than max_tokens."""
    if not section:
        return ""
    prefix = SECTION_SEPARATOR.join(section)
    if count_tokens(prefix) <= max_tokens:
        return prefix
    innermost = section[-1]
    if count_tokens(innermost) <= max_tokens:
        return innermost
    return split_words(innermost, lambda words: count_tokens(words) <= max_tokens)[0]


def shorten(text: str, fits: Fits) -> str:
    """Return text, or its first words that fit followed by "...", when the whole does not fit."""
    if fits(text):
        return text
    return split_words(text, lambda words: fits(words + " ..."))[0] + " ..."


def split_sentences(text: str) -> list[str]:
    """Split text after ".", "!" or "?" followed by a capital or a digit, but not after "e.g." or an initial."""
    pieces = SENTENCE_END.split(text)
    sentences: list[str] = []
    for piece in pieces:
        last_word = sentences[-1].split()[-1] if sentences else ""
        if sentences and (last_word.lower() in ABBREVIATIONS or INITIAL.match(last_word)):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return [sentence for sentence in sentences if sentence.strip()]


def split_words(text: str, fits: Fits) -> list[str]:
    """Cut text at word boundaries into the fewest pieces that each fit, in a greedy pass."""
    pieces: list[str] = []
    current: list[str] = []
    for word in text.split():
        if current and not fits(" ".join([*current, word])):
            pieces.append(" ".join(current))
            current = []
        # NOTE: a single word longer than the limit stays whole; only absurd input (a base64 blob) does that.
        current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def pack_lines(head: str, lines: list[str], fits: Fits, continued_head: str | None = None) -> list[str]:
    """Pack lines greedily into parts that fit, never cutting a line that fits on its own.

    The first part starts with `head`, the others with `continued_head` (or `head`).
    """
    later_head = continued_head or head
    parts: list[str] = []
    current: list[str] = []

    def compose(part_lines: list[str], part_head: str | None = None) -> str:
        if part_head is None:
            part_head = head if not parts else later_head
        return LINE_BREAK.join(filter(None, [part_head, *part_lines]))

    def fits_any_head(piece: str) -> bool:
        return fits(compose([piece], head)) and fits(compose([piece], later_head))

    for line in lines:
        if current and fits(compose([*current, line])):
            current.append(line)
            continue
        if current:
            parts.append(compose(current))
            current = []
        if fits(compose([line])):
            current = [line]
            continue
        # NOTE: a line too long for a chunk on its own is the one case cut mid-line.
        for piece in split_words(line, fits_any_head):
            parts.append(compose([piece]))
    if current:
        parts.append(compose(current))
    return parts


def _contains(container: str, text: str) -> bool:
    return normalize_space(text).casefold() in normalize_space(container).casefold()


def _table_parts(table: OCRTableObject, description: ElementDescription, lead: str, fits: Fits, target_fits: Fits) -> list[str]:
    linear = linearize_table(table.content)
    text = description.description
    rows_in_text = all(row in text for row in linear.rows)
    row_block = [line for line in [linear.header_line, *linear.rows] if line]

    parts = [] if _contains(text, lead) else [lead]
    if text:
        parts.append(text)
    if not rows_in_text:
        parts.extend(row_block)
    whole = LINE_BREAK.join(parts)
    if fits(whole):
        return [whole]

    # Too long for one chunk: a model's description (if any) first, then the rows in parts of about the target size.
    lead = shorten(lead, target_fits)
    title = shorten(description.title, target_fits)
    pieces: list[str] = []
    if text and not rows_in_text:
        pieces.extend(pack_lines(lead, split_sentences(text), target_fits, continued_head=title + CONTINUED))
    header_line = shorten(linear.header_line, target_fits) if linear.header_line else ""
    row_head = LINE_BREAK.join(filter(None, [title if pieces else lead, header_line]))
    continued_head = LINE_BREAK.join(filter(None, [title + CONTINUED, header_line]))
    pieces.extend(pack_lines(row_head, linear.rows, target_fits, continued_head=continued_head))
    return pieces


def _figure_parts(description: ElementDescription, lead: str, fits: Fits, target_fits: Fits) -> list[str]:
    text = description.description
    parts = [] if _contains(text, lead) else [lead]
    if text and not _contains(lead, text):
        parts.append(text)
    whole = LINE_BREAK.join(parts)
    if fits(whole):
        return [whole]
    title = shorten(description.title, target_fits)
    return pack_lines(shorten(lead, target_fits), split_sentences(text), target_fits, continued_head=title + CONTINUED)


class SegmentBuilder:
    """Walk a document's pages in order and emit its segments, tracking the section heading path."""

    def __init__(self, document: ParsedDocument, count_tokens: Callable[[str], int], max_tokens: int, target_tokens: int) -> None:
        self.document = document
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.target_tokens = target_tokens
        self.offline = OfflineDescriber()
        self.segments: list[Segment] = []
        self.headings: list[tuple[int, str]] = []
        self.untitled_headings: list[str] = []
        self.section_has_content = True
        self.prefix = ""

    @property
    def section(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.headings)

    def build(self) -> list[Segment]:
        for page in self.document.pages:
            self._add_page(page)
        return self.segments

    def _fits(self, limit: int) -> Fits:
        prefix = self.prefix

        def fits(text: str) -> bool:
            return self.count_tokens(PARAGRAPH_BREAK.join(filter(None, [prefix, text]))) <= limit

        return fits

    def _add_page(self, page: DocumentPage) -> None:
        blocks = parse_blocks(page)
        captions = find_captions(blocks)
        caption_blocks = {caption.block_index for caption in captions.values()}
        placed: set[str] = set()

        for index, block in enumerate(blocks):
            if index in caption_blocks:
                continue
            if isinstance(block, Heading):
                self._add_heading(block)
            elif isinstance(block, Placeholder):
                if block.element_id not in placed:
                    placed.add(block.element_id)
                    self._add_element(page, block.element_id, captions.get(block.element_id))
            elif isinstance(block, Paragraph):
                self._add_paragraph(page, block)

        # Elements that OCR returned without a placeholder go at the end of their page.
        for element in [*page.tables, *page.images]:
            if element.id not in placed:
                self._add_element(page, element.id, None)

    def _add_heading(self, heading: Heading) -> None:
        if not self.section_has_content and self.headings:
            # A heading with nothing under it (a paper title above "Abstract") would vanish from the text otherwise.
            self.untitled_headings.append(self.headings[-1][1])
        level = heading.level
        if NUMBERED_HEADING.match(heading.text):
            level = heading.text.split()[0].rstrip(".").count(".") + 1
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        self.headings.append((level, heading.text))
        self.section_has_content = False
        self.prefix = section_prefix(self.section, self.count_tokens, round(self.max_tokens * MAX_PREFIX_SHARE))

    def _emit(self, page: DocumentPage, text: str, joiner: str, **element: str | None) -> None:
        if not self.section_has_content:
            headings = [title for title in self.untitled_headings if title not in self.section]
            self.untitled_headings = []
            self.section_has_content = True
            if headings:
                self._emit(page, LINE_BREAK.join(headings), PARAGRAPH_BREAK)
        self.segments.append(Segment(text=text, page=page.number, section=self.section, prefix=self.prefix, joiner=joiner, **element))

    def _add_paragraph(self, page: DocumentPage, paragraph: Paragraph) -> None:
        fits = self._fits(self.max_tokens)
        lines = [STRAY_PLACEHOLDER.sub("", line).strip() for line in paragraph.lines]
        lines = [line for line in lines if line and not is_page_number(line)]
        caption = LINE_BREAK.join(lines)
        if lines and is_caption(caption) and fits(caption):
            # A caption of an element drawn as text or vector graphics (no
            # placeholder claims it) stays one segment, so no chunk boundary
            # cuts a sentence such as "purple denotes PP communication" off
            # the figure it describes.
            self._emit(page, caption, PARAGRAPH_BREAK)
            return
        joiner = PARAGRAPH_BREAK
        for line in lines:
            for sentence in split_sentences(line):
                pieces = [sentence] if fits(sentence) else split_words(sentence, fits)
                for piece in pieces:
                    self._emit(page, piece, joiner)
                    joiner = SENTENCE_BREAK
            joiner = LINE_BREAK

    def _description(self, page: DocumentPage, element: OCRTableObject | OCRImageObject, caption: Caption | None) -> ElementDescription:
        description = self.document.descriptions.get(element.id)
        if description is not None:
            return description
        logger.debug("document_id=%s element %s has no description; using the offline one", self.document.document.document_id, element.id)
        caption_text = caption.text if caption else None
        if isinstance(element, OCRTableObject):
            return self.offline.describe_table(element, page, caption_text)
        return self.offline.describe_image(element, page, caption_text)

    def _add_element(self, page: DocumentPage, element_id: str, caption: Caption | None) -> None:
        element = next((item for item in [*page.tables, *page.images] if item.id == element_id), None)
        if element is None:
            return
        description = self._description(page, element, caption)
        lead = caption.text if caption else description.title
        label = description.label or (caption.label if caption else None)
        fits = self._fits(self.max_tokens)
        target_fits = self._fits(self.target_tokens)

        if isinstance(element, OCRTableObject):
            kind: ElementKind = "table"
            parts = _table_parts(element, description, lead, fits, target_fits)
        else:
            kind = "figure"
            if not caption and not description.description.strip():
                logger.debug("document_id=%s figure %s has no caption and no description; left out", self.document.document.document_id, element_id)
                return
            parts = _figure_parts(description, lead, fits, target_fits)

        for part in parts:
            self._emit(page, part, PARAGRAPH_BREAK, element_id=element_id, element_kind=kind, label=label)


def build_segments(document: ParsedDocument, count_tokens: Callable[[str], int], max_tokens: int, target_tokens: int) -> list[Segment]:
    """Return the document's segments in reading order, each short enough for one chunk."""
    return SegmentBuilder(document, count_tokens, max_tokens, target_tokens).build()
