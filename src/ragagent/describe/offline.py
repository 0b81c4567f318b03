"""A describer that needs no model: titles and descriptions come from captions, headers and cells."""

from __future__ import annotations

from ragagent.describe.tables import linearize_table
from ragagent.models import DocumentPage, ElementDescription
from ragagent.ocr import OCRImageObject, OCRTableObject
from ragagent.pipeline.markdown import caption_title, parse_caption
from ragagent.pipeline.metadata import parse_image_annotation

MAX_HEADERS_IN_TITLE = 6


class OfflineDescriber:
    """Describe tables and figures deterministically, without a language model.

    A table's description is its caption, its column headers and one line per
    row. A figure's description is its image annotation when OCR returned one,
    otherwise its caption, otherwise empty.
    """

    name = "offline"

    def describe_table(self, table: OCRTableObject, page: DocumentPage, caption: str | None) -> ElementDescription:
        linear = linearize_table(table.content)
        label = parse_caption(caption, "table") if caption else None

        if caption:
            title = caption_title(caption)
        elif linear.column_headers:
            title = "Table with columns " + ", ".join(linear.column_headers[:MAX_HEADERS_IN_TITLE])
        else:
            title = f"Table on page {page.number}"

        lines = [caption] if caption else []
        if linear.header_line:
            lines.append(linear.header_line)
        lines.extend(linear.rows)
        return ElementDescription(element_id=table.id, kind="table", label=label, title=title, description="\n".join(lines))

    def describe_image(self, image: OCRImageObject, page: DocumentPage, caption: str | None) -> ElementDescription:
        annotation = parse_image_annotation(image.image_annotation)
        label = parse_caption(caption, "figure") if caption else None

        if caption:
            title = caption_title(caption)
        elif annotation is not None and annotation.image_type:
            title = f"{annotation.image_type.capitalize()} on page {page.number}"
        else:
            title = f"Image on page {page.number}"

        if annotation is not None and annotation.description:
            description = annotation.description
        else:
            description = caption or ""
        return ElementDescription(element_id=image.id, kind="figure", label=label, title=title, description=description)
