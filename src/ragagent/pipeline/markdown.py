"""Read the markdown of an OCR page: headings, paragraphs, element placeholders and captions.

OCR markdown marks where an image or a table sits with a link to its id:
`![img-0.jpeg](img-0.jpeg)` for an image and `[tbl-0.html](tbl-0.html)` for
a table. A link counts as a placeholder only when its target is the id of an
element of the same page, so ordinary links and text that looks similar are
left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from ragagent.models import DocumentPage

ElementKind = Literal["table", "figure"]

# One markdown link, with a leading "!" for an image. Groups: bang, text, target.
ELEMENT_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
# A caption starts with a label such as "Table 2:", "**Figure 3.**", "Fig. 4 |"
# or, in German documents, "Abbildung 1.9:" and "Tabelle 2:".
CAPTION = re.compile(
    r"^[*_\s]*(?P<word>table|tab\.|figure|fig\.|chart|algorithm|abbildung|abb\.|tabelle)\s*"
    r"(?P<number>[A-Z]?\d+(?:\.\d+)*[a-z]?|[IVXLC]+)\b[*_]*\s*(?:[:.|\-–—]|[*_]+\s)",
    re.IGNORECASE,
)
CAPTION_WORDS: dict[str, tuple[ElementKind, str]] = {
    "table": ("table", "Table"),
    "tab.": ("table", "Table"),
    "figure": ("figure", "Figure"),
    "fig.": ("figure", "Figure"),
    "chart": ("figure", "Chart"),
    "algorithm": ("figure", "Algorithm"),
    "abbildung": ("figure", "Abbildung"),
    "abb.": ("figure", "Abbildung"),
    "tabelle": ("table", "Tabelle"),
}
# Lines that carry nothing but a page number: "12", "Page 3", "3 / 10", "- 4 -".
PAGE_NUMBER = re.compile(r"^[\s\-–—]*(?:page\s*)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?[\s\-–—]*$", re.IGNORECASE)
EMPHASIS = re.compile(r"(\*\*|__|\*|_)(.+?)\1")
MAX_TITLE_WORDS = 30


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Placeholder:
    kind: ElementKind
    element_id: str


@dataclass
class Paragraph:
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


Block = Heading | Placeholder | Paragraph


@dataclass
class Caption:
    block_index: int
    text: str
    label: str


def element_kinds(page: DocumentPage) -> dict[str, ElementKind]:
    kinds: dict[str, ElementKind] = {image.id: "figure" for image in page.images}
    kinds.update({table.id: "table" for table in page.tables})
    return kinds


def is_page_number(text: str) -> bool:
    return bool(PAGE_NUMBER.match(text))


def strip_emphasis(text: str) -> str:
    return EMPHASIS.sub(r"\2", text).strip()


def _placeholder_kind(match: re.Match[str], kinds: dict[str, ElementKind]) -> ElementKind | None:
    bang, _, target = match.groups()
    kind = kinds.get(target)
    if kind == "figure" and bang:
        return kind
    if kind == "table" and not bang:
        return kind
    return None


def _split_line(line: str, kinds: dict[str, ElementKind]) -> list[str | Placeholder]:
    """Split a line into text pieces and the placeholders it contains."""
    pieces: list[str | Placeholder] = []
    position = 0
    for match in ELEMENT_LINK.finditer(line):
        kind = _placeholder_kind(match, kinds)
        if kind is None:
            continue
        pieces.append(line[position : match.start()])
        pieces.append(Placeholder(kind=kind, element_id=match.group(3)))
        position = match.end()
    pieces.append(line[position:])
    return [piece for piece in pieces if not isinstance(piece, str) or piece.strip()]


def parse_blocks(page: DocumentPage) -> list[Block]:
    """Split a page's markdown into headings, placeholders of its elements and paragraphs.

    Page-number lines are dropped. Lines inside a fenced code block stay
    paragraph text even when they start with "#".
    """
    kinds = element_kinds(page)
    blocks: list[Block] = []
    paragraph = Paragraph()
    in_fence = False

    def flush() -> None:
        nonlocal paragraph
        if paragraph.lines:
            blocks.append(paragraph)
            paragraph = Paragraph()

    for raw_line in page.markdown.splitlines():
        line = raw_line.strip()
        if FENCE.match(line):
            in_fence = not in_fence
            paragraph.lines.append(line)
            continue
        if in_fence:
            paragraph.lines.append(raw_line.rstrip())
            continue
        if not line or is_page_number(line):
            flush()
            continue
        heading = HEADING.match(line)
        if heading:
            flush()
            blocks.append(Heading(level=len(heading.group(1)), text=strip_emphasis(heading.group(2))))
            continue
        for piece in _split_line(line, kinds):
            if isinstance(piece, Placeholder):
                flush()
                blocks.append(piece)
            else:
                paragraph.lines.append(piece.strip())
    flush()
    return blocks


def is_caption(text: str) -> bool:
    """Tell whether `text` starts with a caption label of any kind ("Figure 4 |", "Table 2:")."""
    return CAPTION.match(text) is not None


def parse_caption(text: str, kind: ElementKind) -> str | None:
    """Return the normalized label ("Table 2") when `text` starts with a caption of that kind."""
    match = CAPTION.match(text)
    if match is None:
        return None
    caption_kind, word = CAPTION_WORDS[match.group("word").lower()]
    if caption_kind != kind:
        return None
    return f"{word} {match.group('number')}"


def _caption_at(blocks: list[Block], index: int, kind: ElementKind) -> Caption | None:
    if not 0 <= index < len(blocks):
        return None
    block = blocks[index]
    if not isinstance(block, Paragraph):
        return None
    label = parse_caption(block.text, kind)
    if label is None:
        return None
    return Caption(block_index=index, text=strip_emphasis(" ".join(block.lines)), label=label)


def find_captions(blocks: list[Block]) -> dict[str, Caption]:
    """Match each placeholder with the caption paragraph right before or right after it.

    Papers put all captions of a kind on the same side, so the side where more
    placeholders of that kind have a caption wins. Each caption goes to one
    element only.
    """
    placeholders = [(index, block) for index, block in enumerate(blocks) if isinstance(block, Placeholder)]
    after_count: dict[ElementKind, int] = {"table": 0, "figure": 0}
    before_count: dict[ElementKind, int] = {"table": 0, "figure": 0}
    for index, placeholder in placeholders:
        after_count[placeholder.kind] += _caption_at(blocks, index + 1, placeholder.kind) is not None
        before_count[placeholder.kind] += _caption_at(blocks, index - 1, placeholder.kind) is not None

    captions: dict[str, Caption] = {}
    claimed: set[int] = set()
    for index, placeholder in placeholders:
        kind = placeholder.kind
        prefer_before = before_count[kind] > after_count[kind]
        offsets = (-1, 1) if prefer_before else (1, -1)
        for offset in offsets:
            caption = _caption_at(blocks, index + offset, kind)
            if caption is not None and caption.block_index not in claimed and placeholder.element_id not in captions:
                captions[placeholder.element_id] = caption
                claimed.add(caption.block_index)
                break
    return captions


def caption_title(caption: str) -> str:
    """Return the first sentence of a caption, without its final period, cut to a title's length."""
    label_end = CAPTION.match(caption)
    start = label_end.end() if label_end else 0
    body = caption[start:]
    sentence_end = re.search(r"(?<=[a-z0-9)\]])\.\s", body)
    first = (caption[:start] + (body[: sentence_end.start() + 1] if sentence_end else body)).strip()
    words = first.split()
    if len(words) > MAX_TITLE_WORDS:
        first = " ".join(words[:MAX_TITLE_WORDS]) + " ..."
    return first.rstrip(".").strip()
