"""Offline parser: reading order, headings, tables, images, OCR and real corpus pages."""

from __future__ import annotations

import base64
import io
import logging
import re

import pytest
from mistralai.client.models import OCRResponse as SdkOCRResponse
from reportlab.pdfgen import canvas

import pdf_builders
from conftest import DOCUMENTS_DIR
from ragagent.models import DocumentRef, PageBatch
from ragagent.ocr import OCRResponse
from ragagent.parsing.local import LocalParser
from ragagent.pipeline.split import split_pdf


@pytest.fixture(scope="module")
def parser() -> LocalParser:
    return LocalParser()


def batch_of(pdf: bytes, name: str = "built.pdf") -> PageBatch:
    document = DocumentRef.from_uri(f"file:///tmp/{name}", name)
    return PageBatch(document=document, batch_index=0, first_page=1, page_count=1, pdf=pdf)


def parse(parser: LocalParser, pdf: bytes) -> OCRResponse:
    response = parser.parse(batch_of(pdf))
    SdkOCRResponse.model_validate(response.model_dump())
    return response


def parse_file(parser: LocalParser, path, only_pages: set[int] | None = None) -> dict:
    """Split a file into one-page batches and parse them (all, or `only_pages`); return pages by 1-based number."""
    result = split_pdf(path.read_bytes(), DocumentRef.from_uri(path.as_uri(), path.name), batch_size=1)
    pages = {}
    for batch in result.batches:
        if only_pages is not None and batch.first_page not in only_pages:
            continue
        response = parser.parse(batch)
        SdkOCRResponse.model_validate(response.model_dump())
        assert [page.index for page in response.pages] == [0]
        pages[batch.first_page] = response.pages[0]
    return pages


def positions(markdown: str, markers: list[str]) -> list[int]:
    """Return where each marker first occurs, with line breaks read as spaces."""
    flat = " ".join(markdown.split())
    return [flat.find(marker) for marker in markers]


@pytest.mark.parametrize("column_count", [2, 3])
def test_parse_columns_reading_order(parser, column_count):
    pdf, markers = pdf_builders.columns_pdf(column_count)
    markdown = parse(parser, pdf).pages[0].markdown

    begins = positions(markdown, [f"{marker} begins" for marker in markers])
    ends = positions(markdown, [f"{marker} ends" for marker in markers])
    assert -1 not in begins
    assert -1 not in ends
    assert begins == sorted(begins)
    assert all(begin < end for begin, end in zip(begins, ends))
    assert all(end < begin for end, begin in zip(ends, begins[1:]))


def test_parse_title_first(parser):
    pdf, _ = pdf_builders.columns_pdf(2)
    markdown = parse(parser, pdf).pages[0].markdown

    assert markdown.startswith("# A Study of Column Layouts")


def test_parse_headings(parser):
    markdown = parse(parser, pdf_builders.heading_pdf()).pages[0].markdown

    assert "# Sparse Attention at Scale" in markdown.splitlines()
    assert "## 2 Method" in markdown.splitlines()


def test_parse_joins_hyphenated_line(parser):
    markdown = parse(parser, pdf_builders.hyphenated_pdf()).pages[0].markdown

    assert "the transformer" in markdown
    assert "trans-" not in markdown


def test_parse_ruled_table(parser):
    page = parse(parser, pdf_builders.table_pdf(ruled=True)).pages[0]

    assert len(page.tables) == 1
    table = page.tables[0]
    assert table.id == "tbl-0.html"
    assert table.format == "html"
    assert "<th>Model</th><th>Params</th><th>Score</th>" in table.content
    assert "<td>Beta</td><td>13B</td><td>64.8</td>" in table.content
    assert "[tbl-0.html](tbl-0.html)" in page.markdown
    assert "64.8" not in page.markdown


def test_parse_booktabs_table(parser):
    page = parse(parser, pdf_builders.table_pdf(ruled=False)).pages[0]

    assert len(page.tables) == 1
    assert "<td>Gamma</td><td>70B</td><td>71.5</td>" in page.tables[0].content
    order = positions(page.markdown, ["Before begins", "Table 1:", "[tbl-0.html](tbl-0.html)", "After begins"])
    assert -1 not in order
    assert order == sorted(order)


def test_parse_image_placeholder_and_crop(parser):
    page = parse(parser, pdf_builders.image_pdf()).pages[0]

    assert len(page.images) == 1
    image = page.images[0]
    assert image.id == "img-0.jpeg"
    assert image.image_base64.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(image.image_base64.split(",", 1)[1])[:2] == b"\xff\xd8"
    order = positions(page.markdown, ["Intro ends", "![img-0.jpeg](img-0.jpeg)", "Figure 1: An orange disc"])
    assert -1 not in order
    assert order == sorted(order)


def test_parse_image_bbox_at_200_dpi(parser):
    page = parse(parser, pdf_builders.image_pdf()).pages[0]
    image = page.images[0]
    x, y, width, height = pdf_builders.IMAGE_BOX
    scale = 200 / 72
    page_height = 792

    assert page.dimensions.dpi == 200
    assert (page.dimensions.width, page.dimensions.height) == (1700, 2200)
    assert image.top_left_x == pytest.approx(x * scale, abs=2)
    assert image.bottom_right_x == pytest.approx((x + width) * scale, abs=2)
    assert image.top_left_y == pytest.approx((page_height - y - height) * scale, abs=2)
    assert image.bottom_right_y == pytest.approx((page_height - y) * scale, abs=2)


def test_parse_ocr_page_without_text_layer(parser):
    page = parse(parser, pdf_builders.scanned_pdf()).pages[0]

    assert "WEIGHT INCREASE 3.00 LBS" in page.markdown
    assert "SERVICE KIT FOR MODEL AA-1" in page.markdown
    assert page.images == []


def test_parse_ocr_missing_language_data(caplog):
    parser = LocalParser(ocr_languages="zzz")

    with caplog.at_level(logging.WARNING, logger="ragagent.parsing.tesseract"):
        page = parse(parser, pdf_builders.scanned_pdf()).pages[0]

    assert page.markdown == ""
    assert "page 1 of document" in caplog.text
    assert "zzz" in caplog.text


def test_parse_rotated_page_rows(parser):
    page = parse(parser, pdf_builders.rotated_pdf()).pages[0]

    assert "Texas 21,550 146,982" in page.markdown.splitlines()
    assert "Utah 1,204 9,870" in page.markdown.splitlines()
    assert page.dimensions.width > page.dimensions.height


def test_parse_batch_indexes_and_usage(parser):
    result = split_pdf(pdf_builders.multipage_pdf(3), DocumentRef.from_uri("file:///tmp/m.pdf", "m.pdf"), batch_size=8)
    response = parser.parse(result.batches[0])

    assert [page.index for page in response.pages] == [0, 1, 2]
    assert "Marker page 3 of the batching test" in response.pages[2].markdown
    assert response.model == "ragagent-local"
    assert response.usage_info.pages_processed == 3
    assert response.usage_info.doc_size_bytes == len(result.batches[0].pdf)


def test_parse_dmca_encrypted_first_page(parser):
    pages = parse_file(parser, DOCUMENTS_DIR / "encrypted_rc4_no_user_password_dmca.pdf", {1, 18})

    assert "October 28, 1998" in pages[1].markdown
    assert pages[18].markdown


def test_parse_nics_rotated_table(parser):
    page = parse_file(parser, DOCUMENTS_DIR / "rotated_nics_background_checks_table.pdf")[1]
    texas = [line for line in page.markdown.splitlines() if line.startswith("Texas ")]

    assert len(texas) == 1
    assert "146,982" in texas[0]
    assert "Alabama 18,870 23,022" in page.markdown
    assert page.footer == "Page 1 of 205"


def test_parse_kimi_booktabs_table(parser):
    pages = parse_file(parser, DOCUMENTS_DIR / "paper_kimi_linear_technical_report.pdf", {2, 9})

    assert len(pages[9].tables) == 1
    assert "<td>1.4B</td><td>22</td><td>22</td><td>1632</td>" in pages[9].tables[0].content
    assert "[tbl-0.html](tbl-0.html)" in pages[9].markdown
    assert "## 1 Introduction" in pages[2].markdown.splitlines()
    assert "efficiency" in pages[2].markdown


def test_parse_scanned_corpus_page(parser, corpus_pdf):
    markdown = parse_file(parser, corpus_pdf("scanned_grumman_service_kit_1974.pdf"), {1})[1].markdown
    weight = [line for line in markdown.splitlines() if "WEIGHT INCREASE" in line]

    assert "AK-120A" in markdown
    assert len(weight) == 1
    assert "3.00" in weight[0]
    assert "Lbs" in weight[0]


def test_parse_ligatures_folded(parser, corpus_pdf):
    pages = parse_file(parser, corpus_pdf("broken_xref_recoverable_ligatures.pdf"))

    assert len(pages) == 8
    assert "police officers" in pages[1].markdown
    assert all(not re.search("[\ufb00-\ufb06]", page.markdown) for page in pages.values())


def test_parse_two_column_paper(parser, corpus_pdf):
    markdown = parse_file(parser, corpus_pdf("paper_naacl2006_shinyama_preemptive_ie.pdf"), {1})[1].markdown
    order = positions(markdown, ["## Abstract", "presents them as tables", "## 1 Background", "semiautomatically", "for a relevant table"])

    assert -1 not in order
    assert order == sorted(order)


def test_parse_japanese_vertical_text(parser, corpus_pdf):
    markdown = parse_file(parser, corpus_pdf("unicode_cjk_japanese_poem.pdf"))[1].markdown

    assert "風景やみんなといっしょに" in markdown.splitlines()
    assert markdown.find("風景やみんなといっしょに") < markdown.find("そのとほりの心象スケッチです")


def test_parse_short_text_layer(parser):
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 700, "Dummy PDF file")
    pdf.showPage()
    pdf.save()

    page = parse(parser, buffer.getvalue()).pages[0]

    assert page.markdown == "Dummy PDF file"
