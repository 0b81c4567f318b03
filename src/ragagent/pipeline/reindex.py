"""Join the OCR responses of all page batches into one document with unique element ids.

Each batch is parsed on its own, so its pages are numbered from 0 and its
image and table ids restart at `img-0.jpeg` and `tbl-0.html`. Reindexing
numbers pages from 1 across the document, renames every element to
`img-{n}.{ext}` or `tbl-{n}.{ext}` in document order, and rewrites the
placeholders in the markdown to the new ids.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from ragagent.errors import RagAgentError
from ragagent.models import DocumentPage, DocumentRef, ParsedDocument
from ragagent.ocr import OCRPageObject, OCRResponse
from ragagent.pipeline.markdown import ELEMENT_LINK
from ragagent.pipeline.metadata import merge_document_annotations

logger = logging.getLogger(__name__)

IMAGE_PREFIX = "img"
TABLE_PREFIX = "tbl"
DEFAULT_IMAGE_EXTENSION = "jpeg"
DEFAULT_TABLE_EXTENSION = "html"


class PageBatchConflictError(RagAgentError):
    """The OCR responses of a document's page batches do not fit together: pages repeat or overlap."""


def _extension(element_id: str, default: str) -> str:
    _, dot, extension = element_id.rpartition(".")
    return extension if dot and re.fullmatch(r"[A-Za-z0-9]{1,5}", extension) else default


class _IdCounter:
    def __init__(self) -> None:
        self.images = 0
        self.tables = 0

    def next_image_id(self, old_id: str) -> str:
        new_id = f"{IMAGE_PREFIX}-{self.images}.{_extension(old_id, DEFAULT_IMAGE_EXTENSION)}"
        self.images += 1
        return new_id

    def next_table_id(self, old_id: str) -> str:
        new_id = f"{TABLE_PREFIX}-{self.tables}.{_extension(old_id, DEFAULT_TABLE_EXTENSION)}"
        self.tables += 1
        return new_id


def _rewrite_placeholders(markdown: str, image_ids: dict[str, str], table_ids: dict[str, str]) -> str:
    """Point each placeholder at its new id in a single pass, so renamed ids are never renamed again."""

    def replace(match: re.Match[str]) -> str:
        bang, text, target = match.groups()
        new_ids = image_ids if bang else table_ids
        new_id = new_ids.get(target)
        if new_id is None:
            return match.group(0)
        new_text = new_id if text == target else text
        return f"{bang}[{new_text}]({new_id})"

    return ELEMENT_LINK.sub(replace, markdown)


def _reindex_page(page: OCRPageObject, number: int, counter: _IdCounter) -> DocumentPage:
    new_image_ids = [counter.next_image_id(image.id) for image in page.images]
    new_table_ids = [counter.next_table_id(table.id) for table in page.tables]
    # A repeated id on one page keeps a unique new id, and its placeholders point at the first element.
    image_ids: dict[str, str] = {}
    for image, new_id in zip(page.images, new_image_ids):
        image_ids.setdefault(image.id, new_id)
    table_ids: dict[str, str] = {}
    for table, new_id in zip(page.tables, new_table_ids):
        table_ids.setdefault(table.id, new_id)

    return DocumentPage(
        number=number,
        markdown=_rewrite_placeholders(page.markdown, image_ids, table_ids),
        images=[image.model_copy(update={"id": new_id}) for image, new_id in zip(page.images, new_image_ids)],
        tables=[table.model_copy(update={"id": new_id}) for table, new_id in zip(page.tables, new_table_ids)],
        dimensions=page.dimensions,
    )


def _check_batches(document: DocumentRef, batches: Sequence[tuple[int, OCRResponse]]) -> None:
    """Raise PageBatchConflictError when a first page is invalid or two batches claim the same page."""
    owner: dict[int, int] = {}
    for first_page, response in batches:
        if first_page < 1:
            raise PageBatchConflictError(f"document {document.document_id}: batch first_page must be 1 or more, got {first_page}")
        for page in response.pages:
            number = first_page + page.index
            if page.index < 0:
                raise PageBatchConflictError(f"document {document.document_id}: batch starting at page {first_page} has a negative page index {page.index}")
            if number in owner:
                raise PageBatchConflictError(
                    f"document {document.document_id}: page {number} appears twice, in the batches "
                    f"starting at pages {owner[number]} and {first_page}; each page must come from one batch"
                )
            owner[number] = first_page


def _gap_warnings(pages: list[DocumentPage]) -> list[str]:
    warnings = []
    expected = 1
    for page in pages:
        if page.number > expected:
            warnings.append(f"pages {expected}-{page.number - 1} are missing from the OCR responses")
        expected = page.number + 1
    return warnings


def reindex_batches(document: DocumentRef, batches: Sequence[tuple[int, OCRResponse]]) -> ParsedDocument:
    """Merge page batches, given as (1-based first page, OCR response) in any order, into one document.

    Raises PageBatchConflictError when there is no batch, or when two batches
    contain the same page.
    """
    if not batches:
        raise PageBatchConflictError(f"document {document.document_id}: no page batch to reindex")
    ordered = sorted(batches, key=lambda batch: batch[0])
    _check_batches(document, ordered)

    counter = _IdCounter()
    pages: list[DocumentPage] = []
    for first_page, response in ordered:
        for page in sorted(response.pages, key=lambda page: page.index):
            pages.append(_reindex_page(page, first_page + page.index, counter))

    warnings = _gap_warnings(pages)
    for warning in warnings:
        logger.warning("document_id=%s %s", document.document_id, warning)
    metadata = merge_document_annotations([response.document_annotation for _, response in ordered], warnings)

    logger.info(
        "reindex document_id=%s batches=%d pages=%d images=%d tables=%d",
        document.document_id,
        len(ordered),
        len(pages),
        counter.images,
        counter.tables,
    )
    return ParsedDocument(document=document, pages=pages, metadata=metadata, warnings=warnings)
