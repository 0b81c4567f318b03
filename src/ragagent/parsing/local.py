"""The offline parser: PDFium text and layout, rule-based tables, Tesseract for scanned pages.

It returns the same `OCRResponse` shape as Mistral OCR, so the rest of the
pipeline treats both alike. Each page has Markdown with headings and with
image and table placeholders in reading order. Images are JPEG data URLs of
the page region, with pixel boxes at 200 dpi, and tables are HTML.
"""

from __future__ import annotations

import base64
import io
import logging
import time
import unicodedata

import pypdfium2 as pdfium

from ragagent.errors import InvalidDocumentError
from ragagent.models import PageBatch
from ragagent.ocr import OCRImageObject, OCRPageDimensions, OCRPageObject, OCRResponse, OCRTableObject, OCRUsageInfo
from ragagent.parsing.geometry import Box, Frame, PageContent, PageImage
from ragagent.parsing.layout import Unit, compose_page, split_segments
from ragagent.parsing.pdfium_reader import PDFIUM_LOCK, read_page
from ragagent.parsing.tables import find_tables
from ragagent.parsing.tesseract import TesseractOcr

logger = logging.getLogger(__name__)

MODEL_NAME = "ragagent-local"
OUTPUT_DPI = 200
OCR_DPI = 300
POINTS_PER_INCH = 72
# A page with fewer characters than this in its text layer, over an image this large, is OCR'd.
MIN_TEXT_LAYER_CHARS = 20
SCAN_IMAGE_SHARE = 0.5
# Images smaller than this (points) are decorations such as logos and bullets.
MIN_IMAGE_SIDE = 24.0
MIN_IMAGE_AREA = 2500.0
# An image covering this share of the page is a scan or a background.
BACKGROUND_IMAGE_SHARE = 0.85
IMAGE_MAX_PIXELS = 640
JPEG_QUALITY = 70
DEFAULT_BODY_SIZE = 10.0


class LocalParser:
    """Parse page batches on this machine, with no network and no model weights beyond Tesseract's."""

    name = "local"

    def __init__(self, ocr_languages: str = "eng") -> None:
        self._ocr = TesseractOcr(ocr_languages)

    def parse(self, batch: PageBatch) -> OCRResponse:
        # PDFium and Tesseract are not thread-safe: two page batches parsed at once in one
        # process (a Map state run by moto's interpreter, say) crashed it with a segfault.
        with PDFIUM_LOCK:
            return self._parse(batch)

    def _parse(self, batch: PageBatch) -> OCRResponse:
        started = time.perf_counter()
        try:
            pdf = pdfium.PdfDocument(batch.pdf)
        except pdfium.PdfiumError as error:
            raise InvalidDocumentError(batch.document.file_name, f"page batch {batch.batch_index} cannot be opened ({error})") from error
        try:
            pages = [pdf[index] for index in range(len(pdf))]
            contents = [read_page(page) for page in pages]
            body_size = _body_size(contents)
            counter = _IdCounter()
            ocr_pages = [self._parse_page(batch, index, page, content, body_size, counter) for index, (page, content) in enumerate(zip(pages, contents))]
        finally:
            pdf.close()

        elapsed = time.perf_counter() - started
        logger.info(
            "parsed batch %d of document %s: %d pages in %.2f s", batch.batch_index, batch.document.document_id, len(ocr_pages), elapsed
        )
        return OCRResponse(
            pages=ocr_pages,
            model=MODEL_NAME,
            usage_info=OCRUsageInfo(pages_processed=len(ocr_pages), doc_size_bytes=len(batch.pdf)),
        )

    def _parse_page(self, batch: PageBatch, index: int, page: pdfium.PdfPage, content: PageContent, body_size: float, counter: _IdCounter) -> OCRPageObject:
        display = content.display
        dimensions = OCRPageDimensions(
            dpi=OUTPUT_DPI, width=round(display.width * OUTPUT_DPI / POINTS_PER_INCH), height=round(display.height * OUTPUT_DPI / POINTS_PER_INCH)
        )
        if _needs_ocr(content):
            return self._ocr_page(batch, index, page, dimensions)

        tables = find_tables(content.words, content.rules)
        taken = {id(word) for table in tables for word in table.words}
        units = split_segments([word for word in content.words if id(word) not in taken])

        table_objects = []
        for table in sorted(tables, key=lambda t: (t.box.top, t.box.x0)):
            table_id = counter.next_table()
            table_objects.append(OCRTableObject(id=table_id, content=table.to_html(), format="html"))
            units.append(Unit(box=table.box, placeholder=f"[{table_id}]({table_id})"))

        image_objects = []
        for image in _figure_images(content.images, display):
            image_id = counter.next_image()
            image_objects.append(_image_object(page, image, image_id, display))
            units.append(Unit(box=image.box, placeholder=f"![{image_id}]({image_id})"))

        text = compose_page(units, content.frame.width, content.frame.height, body_size)
        return OCRPageObject(
            index=index,
            markdown=text.markdown,
            images=image_objects,
            tables=table_objects,
            header=text.header,
            footer=text.footer,
            dimensions=dimensions,
        )

    def _ocr_page(self, batch: PageBatch, index: int, page: pdfium.PdfPage, dimensions: OCRPageDimensions) -> OCRPageObject:
        page_label = f"page {batch.first_page + index} of document {batch.document.document_id}"
        image = page.render(scale=OCR_DPI / POINTS_PER_INCH, grayscale=True).to_pil()
        text = self._ocr.read(image, page_label)
        markdown = _ocr_markdown(text) if text else ""
        logger.info("OCR read %d characters from %s", len(markdown), page_label)
        return OCRPageObject(index=index, markdown=markdown, dimensions=dimensions)


class _IdCounter:
    """Number images and tables across a batch, so their ids are unique within it."""

    def __init__(self) -> None:
        self._images = 0
        self._tables = 0

    def next_image(self) -> str:
        image_id = f"img-{self._images}.jpeg"
        self._images += 1
        return image_id

    def next_table(self) -> str:
        table_id = f"tbl-{self._tables}.html"
        self._tables += 1
        return table_id


def _needs_ocr(content: PageContent) -> bool:
    """Tell whether a page has no text layer, or only a few stray characters over a scanned image."""
    if not content.words:
        return True
    if sum(len(word.text) for word in content.words) >= MIN_TEXT_LAYER_CHARS:
        return False
    page_area = max(content.display.width * content.display.height, 1.0)
    return any(image.display_box.width * image.display_box.height >= SCAN_IMAGE_SHARE * page_area for image in content.images)


def _body_size(contents: list[PageContent]) -> float:
    """Return the font size that most characters of the batch have."""
    weights: dict[float, int] = {}
    for content in contents:
        for word in content.words:
            key = round(word.size, 1)
            weights[key] = weights.get(key, 0) + len(word.text)
    if not weights:
        return DEFAULT_BODY_SIZE
    return max(weights, key=lambda size: weights[size])


def _figure_images(images: list[PageImage], display: Frame) -> list[PageImage]:
    page_area = max(display.width * display.height, 1.0)
    kept: list[PageImage] = []
    for image in sorted(images, key=lambda i: (i.box.top, i.box.x0)):
        box = _clip(image.display_box, display)
        if box is None or min(box.width, box.height) < MIN_IMAGE_SIDE or box.width * box.height < MIN_IMAGE_AREA:
            continue
        if box.width * box.height >= BACKGROUND_IMAGE_SHARE * page_area:
            continue
        if any(_same_box(box, other.display_box) for other in kept):
            continue
        kept.append(PageImage(box=image.box, display_box=box))
    return kept


def _clip(box: Box, display: Frame) -> Box | None:
    clipped = Box(max(box.x0, 0.0), max(box.top, 0.0), min(box.x1, display.width), min(box.bottom, display.height))
    return clipped if clipped.width > 0 and clipped.height > 0 else None


def _same_box(a: Box, b: Box, tolerance: float = 2.0) -> bool:
    return abs(a.x0 - b.x0) <= tolerance and abs(a.top - b.top) <= tolerance and abs(a.x1 - b.x1) <= tolerance and abs(a.bottom - b.bottom) <= tolerance


def _image_object(page: pdfium.PdfPage, image: PageImage, image_id: str, display: Frame) -> OCRImageObject:
    box = image.display_box
    to_pixels = OUTPUT_DPI / POINTS_PER_INCH
    return OCRImageObject(
        id=image_id,
        top_left_x=max(round(box.x0 * to_pixels), 0),
        top_left_y=max(round(box.top * to_pixels), 0),
        bottom_right_x=round(box.x1 * to_pixels),
        bottom_right_y=round(box.bottom * to_pixels),
        image_base64=_render_crop(page, box, display),
    )


def _render_crop(page: pdfium.PdfPage, box: Box, display: Frame) -> str:
    """Render the page region under an image as a small JPEG data URL."""
    scale = min(OUTPUT_DPI / POINTS_PER_INCH, IMAGE_MAX_PIXELS / max(box.width, box.height, 1.0))
    crop = (box.x0, display.height - box.bottom, display.width - box.x1, box.top)
    bitmap = page.render(scale=scale, crop=crop)
    buffer = io.BytesIO()
    bitmap.to_pil().convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _ocr_markdown(text: str) -> str:
    paragraphs = [paragraph.strip() for paragraph in unicodedata.normalize("NFKC", text).split("\n\n")]
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)

