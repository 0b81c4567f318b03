"""Give every table and figure of a document a title and a description for retrieval."""

from __future__ import annotations

import logging
import time

from ragagent.describe.base import Describer
from ragagent.describe.offline import OfflineDescriber
from ragagent.errors import RagAgentError
from ragagent.models import DocumentPage, ElementDescription, ParsedDocument
from ragagent.ocr import OCRImageObject, OCRTableObject
from ragagent.pipeline.markdown import find_captions, parse_blocks

logger = logging.getLogger(__name__)

# Errors that a describer backed by a remote model raises: provider errors, and
# ValueError (pydantic's ValidationError included) for an unusable reply.
DESCRIBER_ERRORS = (RagAgentError, ValueError)


def page_captions(page: DocumentPage) -> dict[str, str]:
    """Return the caption text of each element of the page that has one, by element id."""
    return {element_id: caption.text for element_id, caption in find_captions(parse_blocks(page)).items()}


def _describe_element(
    element: OCRTableObject | OCRImageObject,
    page: DocumentPage,
    caption: str | None,
    describer: Describer,
    fallback: Describer,
    warnings: list[str],
) -> ElementDescription:
    kind = "table" if isinstance(element, OCRTableObject) else "figure"
    try:
        if isinstance(element, OCRTableObject):
            description = describer.describe_table(element, page, caption)
        else:
            description = describer.describe_image(element, page, caption)
    except DESCRIBER_ERRORS as error:
        message = f"{kind} {element.id} on page {page.number}: describer {describer.name} failed ({type(error).__name__}: {error}); used the {fallback.name} description"
        logger.warning(message)
        warnings.append(message)
        if isinstance(element, OCRTableObject):
            description = fallback.describe_table(element, page, caption)
        else:
            description = fallback.describe_image(element, page, caption)
    # The id and kind are ours, whatever the describer returned.
    return description.model_copy(update={"element_id": element.id, "kind": kind})


def describe_document(document: ParsedDocument, describer: Describer, fallback: Describer | None = None) -> ParsedDocument:
    """Return a copy of the document with a description for every table and image.

    Each element's caption is looked up in its page's markdown and passed to the
    describer. When the describer raises a provider error or returns an
    unusable reply, the `fallback` describer (offline by default) describes the
    element and a warning is recorded in the document.
    """
    fallback = fallback or OfflineDescriber()
    started = time.perf_counter()
    descriptions: dict[str, ElementDescription] = {}
    warnings: list[str] = []

    for page in document.pages:
        captions = page_captions(page)
        elements: list[OCRTableObject | OCRImageObject] = [*page.tables, *page.images]
        for element in elements:
            descriptions[element.id] = _describe_element(element, page, captions.get(element.id), describer, fallback, warnings)

    logger.info(
        "describe document_id=%s describer=%s elements=%d fallbacks=%d seconds=%.2f",
        document.document.document_id,
        describer.name,
        len(descriptions),
        len(warnings),
        time.perf_counter() - started,
    )
    return document.model_copy(update={"descriptions": descriptions, "warnings": [*document.warnings, *warnings]})
