"""Describer backed by a multimodal LangChain chat model (Bedrock Converse or OpenAI-compatible).

A table is sent as its HTML plus, when the describer has a PDF containing its
page (the whole document, or the page batch the split step wrote), an image
of that page rendered with pypdfium2. A figure is sent as its image
from the OCR response. The model returns a title and a description of every
value, for retrieval.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ragagent.describe.base import Describer
from ragagent.errors import ProviderError, RagAgentError
from ragagent.images import BEDROCK_IMAGE_BASE64_LIMIT, encode_base64, fit_image
from ragagent.models import DocumentPage, ElementDescription
from ragagent.ocr import OCRImageObject, OCRTableObject
from ragagent.pipeline.markdown import parse_caption
from ragagent.providers.errors import provider_errors

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)

PAGE_RENDER_DPI = 150
STRUCTURED_OUTPUT_METHOD = "function_calling"

TABLE_PROMPT = """Describe this table from a scientific document so that a search engine can find it by any of its values.
Return a title (the caption's subject, or what the table compares) and a thorough description that states:
what the table compares, every column header, and EVERY row with all its values and units, exactly as printed.
The table's HTML follows{image_note}.
Caption: {caption}

{html}"""

FIGURE_PROMPT = """Describe this figure from a scientific document so that a search engine can find it.
Return a title and a thorough description: the kind of figure, its axes and units, every labelled value,
legend entry and trend that can be read from it, and what it shows.
Caption: {caption}
OCR annotation: {annotation}"""


class ElementSummary(BaseModel):
    """A title and a retrieval description of a table or figure."""

    title: str = Field(description="A short title")
    description: str = Field(description="A thorough description of every value")


class LLMDescriber:
    """Describe tables and figures with a multimodal chat model.

    With `fallback` set, a failed call (provider error or unusable reply) is
    logged as a warning and the fallback's description is returned. Without it
    the error propagates, so `pipeline.describe.describe_document` can fall back
    and record the warning in the document.
    """

    def __init__(
        self,
        model: BaseChatModel,
        name: str = "llm",
        document_pdf: bytes | None = None,
        fallback: Describer | None = None,
        max_image_base64_bytes: int = BEDROCK_IMAGE_BASE64_LIMIT,
        key_setting: str | None = None,
        first_page: int = 1,
    ) -> None:
        if first_page < 1:
            raise ValueError(f"first_page must be at least 1, got {first_page}")
        self.model = model
        self.name = name
        self.document_pdf = document_pdf
        self.first_page = first_page
        self.fallback = fallback
        self.max_image_base64_bytes = max_image_base64_bytes
        self.key_setting = key_setting

    def for_document(self, document_pdf: bytes, first_page: int = 1) -> LLMDescriber:
        """Return a describer that also sends each table's page, rendered from `document_pdf`.

        `first_page` is the page number, in the whole document, of the PDF's
        first page: 1 for the document itself, a batch's first page for a page batch.
        """
        return LLMDescriber(
            self.model,
            self.name,
            document_pdf,
            self.fallback,
            self.max_image_base64_bytes,
            self.key_setting,
            first_page=first_page,
        )

    def describe_table(self, table: OCRTableObject, page: DocumentPage, caption: str | None) -> ElementDescription:
        page_image = self._render_page(page.number)
        prompt = TABLE_PROMPT.format(
            image_note=" and an image of its page" if page_image else "",
            caption=caption or "(none)",
            html=table.content,
        )
        label = parse_caption(caption, "table") if caption else None
        try:
            summary = self._ask(prompt, page_image)
        except (RagAgentError, ValueError) as error:
            if self.fallback is None:
                raise
            logger.warning("Table %s on page %d: describer %s failed (%s), used %s", table.id, page.number, self.name, error, self.fallback.name)
            return self.fallback.describe_table(table, page, caption)
        return ElementDescription(element_id=table.id, kind="table", label=label, title=summary.title, description=summary.description)

    def describe_image(self, image: OCRImageObject, page: DocumentPage, caption: str | None) -> ElementDescription:
        label = parse_caption(caption, "figure") if caption else None
        prompt = FIGURE_PROMPT.format(caption=caption or "(none)", annotation=image.image_annotation or "(none)")
        try:
            summary = self._ask(prompt, _decode_data_url(image.image_base64))
        except (RagAgentError, ValueError) as error:
            if self.fallback is None:
                raise
            logger.warning("Image %s on page %d: describer %s failed (%s), used %s", image.id, page.number, self.name, error, self.fallback.name)
            return self.fallback.describe_image(image, page, caption)
        return ElementDescription(element_id=image.id, kind="figure", label=label, title=summary.title, description=summary.description)

    def _ask(self, prompt: str, image: bytes | None) -> ElementSummary:
        content: list[dict] = [{"type": "text", "text": prompt}]
        if image is not None:
            fitted, image_format = fit_image(image, self.max_image_base64_bytes)
            content.append({"type": "image", "base64": encode_base64(fitted), "mime_type": f"image/{image_format}"})

        structured = self.model.with_structured_output(ElementSummary, method=STRUCTURED_OUTPUT_METHOD)
        with provider_errors(self.name, self.key_setting):
            reply = structured.invoke([("human", content)])
        if not isinstance(reply, ElementSummary) or not reply.description.strip():
            raise ProviderError(f"describer {self.name} returned no title and description")
        return reply

    def _render_page(self, page_number: int) -> bytes | None:
        if self.document_pdf is None:
            return None
        import pypdfium2

        pdf = pypdfium2.PdfDocument(self.document_pdf)
        try:
            last_page = self.first_page + len(pdf) - 1
            if not self.first_page <= page_number <= last_page:
                logger.warning(
                    "Page %d is outside the PDF's pages %d-%d: describing the table from HTML only", page_number, self.first_page, last_page
                )
                return None
            bitmap = pdf[page_number - self.first_page].render(scale=PAGE_RENDER_DPI / 72)
            buffer = io.BytesIO()
            bitmap.to_pil().save(buffer, format="PNG")
            return buffer.getvalue()
        finally:
            pdf.close()


def _decode_data_url(value: str | None) -> bytes | None:
    """Return the bytes of a `data:image/...;base64,` URL or of bare base64, or None when there is no image."""
    if not value:
        return None
    payload = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError:
        logger.warning("Image data is not valid base64 (%d characters): describing from the caption only", len(value))
        return None
