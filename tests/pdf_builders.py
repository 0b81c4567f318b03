"""Small PDFs built with reportlab, whose text, layout and reading order the tests know."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen import canvas
from reportlab.platypus import Table, TableStyle

BODY_FONT = "Helvetica"
BOLD_FONT = "Helvetica-Bold"
BODY_SIZE = 10
LEADING = 12.5
MARGIN = 54.0
GUTTER = 24.0

FILLER = (
    "retrieval systems index scientific papers so that readers can ask questions about methods results "
    "and tables while the answer cites the page where each fact was found in the original document"
)


def column_paragraph(marker: str, words: int = 60) -> str:
    """Return a paragraph that starts with "<marker> begins" and ends with "<marker> ends"."""
    filler = (FILLER.split() * 4)[:words]
    return f"{marker} begins " + " ".join(filler) + f" {marker} ends."


def _draw_wrapped(pdf: canvas.Canvas, text: str, x: float, y: float, width: float, font: str = BODY_FONT, size: float = BODY_SIZE) -> float:
    """Draw text wrapped to `width` from the baseline `y` down; return the baseline below the last line."""
    pdf.setFont(font, size)
    for line in simpleSplit(text, font, size, width):
        pdf.drawString(x, y, line)
        y -= size * 1.25
    return y


def columns_pdf(column_count: int, title: str = "A Study of Column Layouts") -> tuple[bytes, list[str]]:
    """Build one page with a full-width title and abstract over `column_count` columns.

    Returns the PDF and the markers in reading order: the abstract, then each
    column's two paragraphs, left to right.
    """
    buffer = io.BytesIO()
    page_width, page_height = letter
    pdf = canvas.Canvas(buffer, pagesize=letter)
    pdf.setFont(BOLD_FONT, 20)
    pdf.drawCentredString(page_width / 2, page_height - 72, title)
    content_width = page_width - 2 * MARGIN
    y = _draw_wrapped(pdf, column_paragraph("Abstract", 70), MARGIN, page_height - 110, content_width)

    column_width = (content_width - GUTTER * (column_count - 1)) / column_count
    markers = ["Abstract"]
    for column in range(column_count):
        x = MARGIN + column * (column_width + GUTTER)
        column_y = y - 24
        for paragraph in range(2):
            marker = f"Column{column + 1}Part{paragraph + 1}"
            markers.append(marker)
            column_y = _draw_wrapped(pdf, column_paragraph(marker), x, column_y, column_width) - LEADING
    pdf.showPage()
    pdf.save()
    return buffer.getvalue(), markers


TABLE_ROWS = [
    ["Model", "Params", "Score"],
    ["Alpha", "7B", "61.2"],
    ["Beta", "13B", "64.8"],
    ["Gamma", "70B", "71.5"],
]


def table_pdf(ruled: bool = True) -> bytes:
    """Build a page with a caption, then TABLE_ROWS as a table, then a sentence.

    A ruled table has a full grid. Otherwise only a top, a middle and a bottom
    rule are drawn, the way LaTeX's booktabs package draws them.
    """
    buffer = io.BytesIO()
    page_width, page_height = letter
    pdf = canvas.Canvas(buffer, pagesize=letter)
    y = _draw_wrapped(pdf, column_paragraph("Before", 40), MARGIN, page_height - 72, page_width - 2 * MARGIN)
    pdf.setFont(BODY_FONT, BODY_SIZE)
    pdf.drawString(MARGIN, y - 10, "Table 1: Scores of three models.")

    table = Table(TABLE_ROWS, colWidths=[120, 80, 80])
    if ruled:
        style = [("GRID", (0, 0), (-1, -1), 0.8, colors.black)]
    else:
        style = [
            ("LINEABOVE", (0, 0), (-1, 0), 1.0, colors.black),
            ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
            ("LINEBELOW", (0, -1), (-1, -1), 1.0, colors.black),
        ]
    table.setStyle(TableStyle(style + [("FONT", (0, 0), (-1, -1), BODY_FONT, BODY_SIZE)]))
    _, table_height = table.wrapOn(pdf, page_width, page_height)
    table_top = y - 24
    table.drawOn(pdf, MARGIN, table_top - table_height)
    _draw_wrapped(pdf, column_paragraph("After", 30), MARGIN, table_top - table_height - 24, page_width - 2 * MARGIN)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def sample_png(width: int = 320, height: int = 200) -> bytes:
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, width - 20, height - 20), outline="navy", width=6)
    draw.ellipse((60, 50, 180, 150), fill="orange")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE_BOX = (100.0, 400.0, 260.0, 100.0)  # x, y of the lower-left corner, width, height in points


def image_pdf() -> bytes:
    """Build a page with a paragraph, a PNG image at IMAGE_BOX, and its caption below it."""
    buffer = io.BytesIO()
    page_width, page_height = letter
    pdf = canvas.Canvas(buffer, pagesize=letter)
    _draw_wrapped(pdf, column_paragraph("Intro", 40), MARGIN, page_height - 72, page_width - 2 * MARGIN)
    x, y, width, height = IMAGE_BOX
    pdf.drawImage(ImageReader(io.BytesIO(sample_png())), x, y, width, height)
    pdf.setFont(BODY_FONT, BODY_SIZE)
    pdf.drawString(x, y - 16, "Figure 1: An orange disc in a frame.")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


SCANNED_LINES = ["WEIGHT INCREASE 3.00 LBS", "SERVICE KIT FOR MODEL AA-1", "INSTALL THE OVERSIZE TIRES"]


def scanned_pdf() -> bytes:
    """Build a page with no text layer: SCANNED_LINES drawn into an image that fills the page."""
    dpi = 200
    width, height = int(8.5 * dpi), int(11 * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=56)
    for index, line in enumerate(SCANNED_LINES):
        draw.text((200, 300 + index * 120), line, fill=0, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")

    pdf_buffer = io.BytesIO()
    pdf = canvas.Canvas(pdf_buffer, pagesize=letter)
    pdf.drawImage(ImageReader(io.BytesIO(buffer.getvalue())), 0, 0, *letter)
    pdf.showPage()
    pdf.save()
    return pdf_buffer.getvalue()


def multipage_pdf(page_count: int) -> bytes:
    """Build `page_count` pages; page N contains "Marker page N of the batching test"."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for number in range(1, page_count + 1):
        pdf.setFont(BODY_FONT, BODY_SIZE)
        pdf.drawString(MARGIN, 700, f"Marker page {number} of the batching test")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def heading_pdf() -> bytes:
    """Build a page with a 20-point title, a 14-point numbered section heading and body text."""
    buffer = io.BytesIO()
    page_width, page_height = letter
    pdf = canvas.Canvas(buffer, pagesize=letter)
    pdf.setFont(BOLD_FONT, 20)
    pdf.drawString(MARGIN, page_height - 72, "Sparse Attention at Scale")
    y = _draw_wrapped(pdf, column_paragraph("Opening", 50), MARGIN, page_height - 110, page_width - 2 * MARGIN)
    pdf.setFont(BOLD_FONT, 14)
    pdf.drawString(MARGIN, y - 20, "2 Method")
    _draw_wrapped(pdf, column_paragraph("Method", 50), MARGIN, y - 44, page_width - 2 * MARGIN)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def hyphenated_pdf() -> bytes:
    """Build a page whose first line ends with "trans-" and whose second line starts with "former"."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    pdf.setFont(BODY_FONT, BODY_SIZE)
    lines = [
        "This paragraph is about the attention model called the trans-",
        "former, which is used by every system in this long sentence here.",
        "A third line follows so that the paragraph has some more text.",
    ]
    for index, line in enumerate(lines):
        pdf.drawString(MARGIN, 700 - index * LEADING, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def rotated_pdf() -> bytes:
    """Build a page with /Rotate 90 whose table rows read left to right in unrotated page space."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(792, 612))
    pdf.setFont(BODY_FONT, BODY_SIZE)
    rows = [("State", "Permits", "Total"), ("Texas", "21,550", "146,982"), ("Utah", "1,204", "9,870")]
    for index, row in enumerate(rows):
        y = 500 - index * 20
        for column, value in enumerate(row):
            pdf.drawString(MARGIN + column * 150, y, value)
    pdf.setPageRotation(90)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
