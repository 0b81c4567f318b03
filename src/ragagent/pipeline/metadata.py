"""Parse the JSON annotations that OCR returns for a document and for its images.

Both annotations arrive as JSON strings produced by a model, so either may be
missing or malformed. A bad annotation is skipped with a warning instead of
raising.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ragagent.models import DocumentMetadata

logger = logging.getLogger(__name__)

WHITESPACE = re.compile(r"\s+")
# Models sometimes wrap JSON in a markdown code fence.
CODE_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class ImageAnnotation(BaseModel):
    """The annotation of one image: what kind of image it is and what it shows."""

    image_type: str | None = None
    description: str | None = None


def _normalize(text: str) -> str:
    return WHITESPACE.sub(" ", text).strip()


def _load_json_object(value: str) -> dict[str, Any] | None:
    fenced = CODE_FENCE.match(value)
    try:
        data = json.loads(fenced.group(1) if fenced else value)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def parse_image_annotation(value: str | None) -> ImageAnnotation | None:
    """Parse an image annotation; return None when it is missing, malformed or empty."""
    if value is None or not value.strip():
        return None
    data = _load_json_object(value)
    if data is None:
        logger.warning("image annotation skipped: not a JSON object (%d characters)", len(value))
        return None
    fields = {key: _normalize(data[key]) for key in ("image_type", "description") if isinstance(data.get(key), str)}
    try:
        annotation = ImageAnnotation(**{key: text for key, text in fields.items() if text})
    except ValidationError as error:
        logger.warning("image annotation skipped: %s", error)
        return None
    if annotation.image_type is None and annotation.description is None:
        return None
    return annotation


def _authors_of(data: dict[str, Any]) -> list[str]:
    authors = data.get("authors")
    if isinstance(authors, str):
        authors = [authors]
    if not isinstance(authors, list):
        return []
    return [_normalize(author) for author in authors if isinstance(author, str) and author.strip()]


def merge_document_annotations(annotations: Sequence[str | None], warnings: list[str] | None = None) -> DocumentMetadata:
    """Merge the document annotations of all page batches, given in batch order.

    Each annotation is a JSON string `{"summary": ..., "authors": [...]}`.
    Summaries are joined in batch order without repeats. Authors keep the
    spelling and order of their first appearance, and two names that differ
    only in case or whitespace count as one. A malformed annotation is skipped
    and its warning is logged and appended to `warnings` when given.
    """
    summaries: list[str] = []
    authors: list[str] = []
    seen_authors: set[str] = set()

    for batch_index, annotation in enumerate(annotations):
        if annotation is None or not annotation.strip():
            continue
        data = _load_json_object(annotation)
        if data is None:
            message = f"document annotation of batch {batch_index} skipped: not a JSON object"
            logger.warning(message)
            if warnings is not None:
                warnings.append(message)
            continue

        summary = data.get("summary")
        if isinstance(summary, str) and _normalize(summary) and _normalize(summary) not in summaries:
            summaries.append(_normalize(summary))
        for author in _authors_of(data):
            key = author.casefold()
            if key not in seen_authors:
                seen_authors.add(key)
                authors.append(author)

    return DocumentMetadata(summary=" ".join(summaries) or None, authors=authors)
