"""The parser interface."""

from __future__ import annotations

from typing import Protocol

from ragagent.models import PageBatch
from ragagent.ocr import OCRResponse


class Parser(Protocol):
    """Turn a page batch into an OCR response.

    The response has one page per page of the batch, `index` counting from 0,
    markdown with `![img-N.ext](img-N.ext)` and `[tbl-N.html](tbl-N.html)`
    placeholders, and ids that are unique within the batch only.
    """

    name: str

    def parse(self, batch: PageBatch) -> OCRResponse: ...
