"""Pack a described document into retrieval chunks that fit the embedder's input.

Chunks follow the section headings: a chunk never mixes two sections, and its
text starts with the section heading path. Segments (sentences, tables,
figures) are packed greedily up to a target size well under the embedder's
limit, so each chunk stays about one topic. Every chunk's token count, as
measured by `count_tokens` on the exact chunk text, is at most `max_tokens`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from ragagent.models import Chunk, ParsedDocument
from ragagent.pipeline.markdown import is_page_number
from ragagent.pipeline.segments import PARAGRAPH_BREAK, Segment, build_segments

logger = logging.getLogger(__name__)

DEFAULT_TARGET_TOKENS = 200
DEFAULT_OVERLAP_TOKENS = 0
# Below this, a section heading and one sentence rarely fit together.
MIN_MAX_TOKENS = 32
CHUNK_HASH_LENGTH = 12


def compose_text(segments: list[Segment]) -> str:
    """Return a chunk's text: the section heading path, a blank line, then the segments with their joiners."""
    body = segments[0].text + "".join(segment.joiner + segment.text for segment in segments[1:])
    return PARAGRAPH_BREAK.join(filter(None, [segments[0].prefix, body]))


def page_spans(segments: list[Segment]) -> list[tuple[int, int]]:
    """Return (page, offset) for each page change in the text `compose_text` builds from `segments`.

    The heading path counts as part of the first segment's page.
    """
    offset = len(segments[0].prefix) + len(PARAGRAPH_BREAK) if segments[0].prefix else 0
    spans: list[tuple[int, int]] = [(segments[0].page, 0)]
    for index, segment in enumerate(segments):
        if index:
            offset += len(segment.joiner)
        if segment.page != spans[-1][0]:
            spans.append((segment.page, offset))
        offset += len(segment.text)
    return spans


def _overlap(previous: list[Segment], overlap_tokens: int, count_tokens: Callable[[str], int]) -> list[Segment]:
    """Return the trailing sentences of a chunk that fit in overlap_tokens; tables and figures are never repeated."""
    carried: list[Segment] = []
    used = 0
    for segment in reversed(previous):
        if segment.element_id is not None:
            break
        used += count_tokens(segment.text)
        if used > overlap_tokens:
            break
        carried.insert(0, segment)
    return carried


def pack_segments(
    segments: list[Segment],
    count_tokens: Callable[[str], int],
    max_tokens: int,
    target_tokens: int,
    overlap_tokens: int,
) -> list[list[Segment]]:
    """Group consecutive segments of one section while the composed text stays within target_tokens."""
    groups: list[list[Segment]] = []
    current: list[Segment] = []
    for segment in segments:
        if current and segment.section != current[-1].section:
            groups.append(current)
            current = []
        if not current:
            current = [segment]
            continue
        if count_tokens(compose_text([*current, segment])) <= target_tokens:
            current.append(segment)
            continue

        groups.append(current)
        current = [*_overlap(current, overlap_tokens, count_tokens), segment]
        if len(current) > 1 and count_tokens(compose_text(current)) > max_tokens:
            current = [segment]
    if current:
        groups.append(current)
    return groups


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _is_blank(group: list[Segment]) -> bool:
    return all(not segment.text.strip() or is_page_number(segment.text) for segment in group)


def _make_chunk(document: ParsedDocument, group: list[Segment], position: int) -> Chunk:
    text = compose_text(group)
    document_id = document.document.document_id
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:CHUNK_HASH_LENGTH]
    elements = [segment for segment in group if segment.element_id is not None]
    return Chunk(
        chunk_id=f"{document_id}-{position:04d}-{digest}",
        document_id=document_id,
        source=document.document.file_name,
        pages=sorted({segment.page for segment in group}),
        section=list(group[0].section),
        figure_ids=_unique([segment.element_id for segment in elements if segment.element_kind == "figure" and segment.element_id]),
        table_ids=_unique([segment.element_id for segment in elements if segment.element_kind == "table" and segment.element_id]),
        labels={segment.element_id: segment.label for segment in elements if segment.element_id and segment.label},
        position=position,
        text=text,
        page_spans=page_spans(group),
    )


def _validate_sizes(max_tokens: int, target_tokens: int, overlap_tokens: int) -> None:
    if max_tokens < MIN_MAX_TOKENS:
        raise ValueError(f"max_tokens={max_tokens} is too small for a chunk; use {MIN_MAX_TOKENS} or more")
    if not 0 < target_tokens <= max_tokens:
        raise ValueError(f"target_tokens={target_tokens} must be between 1 and max_tokens={max_tokens}")
    if not 0 <= overlap_tokens < target_tokens:
        raise ValueError(f"overlap_tokens={overlap_tokens} must be at least 0 and less than target_tokens={target_tokens}")


def chunk_document(
    document: ParsedDocument,
    count_tokens: Callable[[str], int],
    max_tokens: int,
    target_tokens: int | None = None,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
) -> list[Chunk]:
    """Split a document into retrieval chunks of at most max_tokens, aiming at target_tokens.

    `target_tokens` defaults to the smaller of 200 and max_tokens. With
    `overlap_tokens` above 0, a chunk repeats the last sentences of the
    previous chunk of its section, up to that many tokens. The same document
    always gives the same chunks and chunk ids. Raises ValueError for
    inconsistent sizes.
    """
    target = min(DEFAULT_TARGET_TOKENS, max_tokens) if target_tokens is None else target_tokens
    _validate_sizes(max_tokens, target, overlap_tokens)

    segments = build_segments(document, count_tokens, max_tokens, target)
    groups = [group for group in pack_segments(segments, count_tokens, max_tokens, target, overlap_tokens) if not _is_blank(group)]
    chunks = [_make_chunk(document, group, position) for position, group in enumerate(groups)]

    oversized = [chunk.chunk_id for chunk in chunks if count_tokens(chunk.text) > max_tokens]
    if oversized:
        # NOTE: only a single word longer than max_tokens (such as a base64 blob in the markdown) gets here.
        logger.warning("document_id=%s %d chunks exceed max_tokens=%d: %s", document.document.document_id, len(oversized), max_tokens, oversized[:5])
    logger.info("chunk document_id=%s segments=%d chunk_count=%d", document.document.document_id, len(segments), len(chunks))
    return chunks
