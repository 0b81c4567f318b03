"""Give a describer the page batch that contains each table's page, so it can send the page as an image.

The describe step receives only artifact keys. The split step stored the page
batches under `{run_prefix}/batches/NNNNN.pdf`, so the page of a table is
rendered from its batch, and only one batch is held in memory at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ragagent.artifacts import ArtifactStore
from ragagent.describe.base import Describer
from ragagent.models import DocumentPage, ElementDescription
from ragagent.ocr import OCRImageObject, OCRTableObject
from ragagent.pipeline.steps import BatchRef

logger = logging.getLogger(__name__)


@runtime_checkable
class PageImageDescriber(Protocol):
    """A describer that can render table pages from a PDF, such as `LLMDescriber`."""

    name: str

    def for_document(self, document_pdf: bytes, first_page: int = 1) -> Describer: ...


def uniform_batches(artifacts: ArtifactStore, batch_key_prefix: str, page_count: int) -> list[BatchRef]:
    """Rebuild the batch list of a run from its first batch, for callers that did not pass it.

    The split step cuts every batch but the last to the same number of pages,
    so the page count of batch 0 gives the layout of all of them.
    """
    import pypdfium2

    first = pypdfium2.PdfDocument(artifacts.get(f"{batch_key_prefix}/{0:05d}.pdf"))
    try:
        batch_size = len(first)
    finally:
        first.close()
    if batch_size < 1:
        raise ValueError(f"page batch {batch_key_prefix}/00000.pdf has no pages")

    return [
        BatchRef(
            batch_index=batch_index,
            first_page=first_page,
            page_count=min(batch_size, page_count - first_page + 1),
            key=f"{batch_key_prefix}/{batch_index:05d}.pdf",
        )
        for batch_index, first_page in enumerate(range(1, page_count + 1, batch_size))
    ]


class BatchPageDescriber:
    """Describe each table with the page batch that contains its page, and each figure as the wrapped describer does."""

    def __init__(self, describer: PageImageDescriber, artifacts: ArtifactStore, batches: Sequence[BatchRef]) -> None:
        self.name = describer.name
        self._describer = describer
        self._artifacts = artifacts
        self._batches = sorted(batches, key=lambda batch: batch.first_page)
        self._loaded_index: int | None = None
        self._loaded: Describer | None = None

    def describe_table(self, table: OCRTableObject, page: DocumentPage, caption: str | None) -> ElementDescription:
        return self._describer_for_page(page.number).describe_table(table, page, caption)

    def describe_image(self, image: OCRImageObject, page: DocumentPage, caption: str | None) -> ElementDescription:
        # A figure is sent as its own image from the OCR response, so it needs no page batch.
        return self._describer.describe_image(image, page, caption)

    def _describer_for_page(self, page_number: int) -> Describer:
        batch = self._find_batch(page_number)
        if batch is None:
            logger.warning("No page batch contains page %d: describing its tables without a page image", page_number)
            return self._describer
        if self._loaded is None or self._loaded_index != batch.batch_index:
            # Pages arrive in order, so each batch is read once.
            self._loaded = self._describer.for_document(self._artifacts.get(batch.key), first_page=batch.first_page)
            self._loaded_index = batch.batch_index
        return self._loaded

    def _find_batch(self, page_number: int) -> BatchRef | None:
        for batch in self._batches:
            if batch.first_page <= page_number < batch.first_page + batch.page_count:
                return batch
        return None
