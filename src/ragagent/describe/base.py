"""The describer interface."""

from __future__ import annotations

from typing import Protocol

from ragagent.models import DocumentPage, ElementDescription
from ragagent.ocr import OCRImageObject, OCRTableObject


class Describer(Protocol):
    name: str

    def describe_table(self, table: OCRTableObject, page: DocumentPage, caption: str | None) -> ElementDescription: ...

    def describe_image(self, image: OCRImageObject, page: DocumentPage, caption: str | None) -> ElementDescription: ...
