"""Reindexing page batches and merging their annotations, on real-shaped Mistral OCR responses."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ragagent.models import DocumentRef
from ragagent.ocr import OCRImageObject, OCRPageObject, OCRResponse, OCRTableObject, OCRUsageInfo
from ragagent.pipeline.metadata import ImageAnnotation, merge_document_annotations, parse_image_annotation
from ragagent.pipeline.reindex import PageBatchConflictError, reindex_batches

FIXTURES = Path(__file__).parent / "fixtures" / "mistral_ocr"
DOCUMENT = DocumentRef.from_uri("file:///papers/kimi_k2.pdf", "kimi_k2.pdf")


def load_batch(name: str) -> OCRResponse:
    return OCRResponse.model_validate_json((FIXTURES / name).read_text())


@pytest.fixture
def batches() -> list[tuple[int, OCRResponse]]:
    return [(1, load_batch("batch-0-pages-1-2.json")), (9, load_batch("batch-1-pages-9-10.json"))]


def make_response(markdowns: list[str], images: list[list[str]] | None = None, tables: list[list[str]] | None = None, annotation: str | None = None) -> OCRResponse:
    pages = []
    for index, markdown in enumerate(markdowns):
        page_images = [
            OCRImageObject(id=image_id, top_left_x=0, top_left_y=0, bottom_right_x=10, bottom_right_y=10) for image_id in (images[index] if images else [])
        ]
        page_tables = [OCRTableObject(id=table_id, content="<table><tr><td>1</td></tr></table>") for table_id in (tables[index] if tables else [])]
        pages.append(OCRPageObject(index=index, markdown=markdown, images=page_images, tables=page_tables, dimensions=None))
    return OCRResponse(pages=pages, model="test", usage_info=OCRUsageInfo(pages_processed=len(pages)), document_annotation=annotation)


def test_reindex_numbers_pages_from_batch_start(batches):
    document = reindex_batches(DOCUMENT, batches)

    assert [page.number for page in document.pages] == [1, 2, 9, 10]


def test_reindex_makes_element_ids_unique(batches):
    document = reindex_batches(DOCUMENT, batches)

    image_ids = [image.id for page in document.pages for image in page.images]
    table_ids = [table.id for page in document.pages for table in page.tables]
    assert image_ids == ["img-0.jpeg", "img-1.jpeg"]
    assert table_ids == ["tbl-0.html", "tbl-1.html"]


def test_reindex_rewrites_placeholders(batches):
    document = reindex_batches(DOCUMENT, batches)
    page_9 = document.pages[2]
    page_10 = document.pages[3]

    assert "![img-1.jpeg](img-1.jpeg)" in page_9.markdown
    assert "img-0.jpeg" not in page_9.markdown
    assert "[tbl-1.html](tbl-1.html)" in page_10.markdown
    assert "tbl-0.html" not in page_10.markdown


def test_reindex_keeps_table_content_and_annotation(batches):
    document = reindex_batches(DOCUMENT, batches)

    assert "Kimi K2" in document.pages[3].tables[0].content
    assert parse_image_annotation(document.pages[2].images[0].image_annotation) is not None


def test_reindex_sorts_batches_by_first_page(batches):
    in_order = reindex_batches(DOCUMENT, batches)
    reversed_order = reindex_batches(DOCUMENT, list(reversed(batches)))

    assert reversed_order == in_order


def test_reindex_merges_authors_and_summaries(batches):
    document = reindex_batches(DOCUMENT, batches)

    assert document.metadata.authors == ["Yifan Bai", "Yiping Bao", "Guanduo Chen", "Jiahao Chen"]
    assert document.metadata.summary is not None
    assert document.metadata.summary.startswith("Technical report introducing Kimi K2")
    assert document.metadata.summary.endswith("the model architecture of Kimi K2.")


def test_reindex_warns_about_missing_pages(batches):
    document = reindex_batches(DOCUMENT, batches)

    assert document.warnings == ["pages 3-8 are missing from the OCR responses"]


def test_reindex_rejects_overlapping_batches():
    first = make_response(["a", "b", "c"])
    second = make_response(["c", "d"])

    with pytest.raises(PageBatchConflictError, match="page 3 appears twice"):
        reindex_batches(DOCUMENT, [(1, first), (3, second)])


def test_reindex_rejects_duplicate_batch():
    batch = make_response(["a", "b"])

    with pytest.raises(PageBatchConflictError, match=DOCUMENT.document_id):
        reindex_batches(DOCUMENT, [(1, batch), (1, batch)])


def test_reindex_rejects_first_page_zero():
    with pytest.raises(PageBatchConflictError, match="first_page must be 1 or more, got 0"):
        reindex_batches(DOCUMENT, [(0, make_response(["a"]))])


def test_reindex_rejects_no_batches():
    with pytest.raises(PageBatchConflictError, match="no page batch"):
        reindex_batches(DOCUMENT, [])


def test_reindex_leaves_lookalike_text_alone():
    markdown = (
        "See img-0.jpeg in the appendix and [the data](data.csv).\n\n"
        "![img-0.jpeg](img-0.jpeg)\n\n"
        "A literal [tbl-0.html] without target, ![img-0.jpeg](other.png), and [tbl-1.html](tbl-1.html).\n\n"
        "[tbl-0.html](tbl-0.html)"
    )
    earlier = make_response(["![img-0.jpeg](img-0.jpeg) [tbl-0.html](tbl-0.html)"], images=[["img-0.jpeg"]], tables=[["tbl-0.html"]])
    later = make_response([markdown], images=[["img-0.jpeg"]], tables=[["tbl-0.html"]])

    page = reindex_batches(DOCUMENT, [(1, earlier), (2, later)]).pages[1]

    assert page.markdown.startswith("See img-0.jpeg in the appendix and [the data](data.csv).")
    assert "![img-1.jpeg](img-1.jpeg)" in page.markdown
    assert "A literal [tbl-0.html] without target" in page.markdown
    assert "![img-0.jpeg](other.png)" in page.markdown
    assert "[tbl-1.html](tbl-1.html)." in page.markdown
    assert page.markdown.endswith("[tbl-1.html](tbl-1.html)")


def test_reindex_rewrites_chained_ids_once():
    # Renaming img-0 to img-1 must not then rename the new img-1 to img-2.
    earlier = make_response(["![img-0.jpeg](img-0.jpeg)"], images=[["img-0.jpeg"]])
    later = make_response(["![img-0.jpeg](img-0.jpeg)\n\n![img-1.png](img-1.png)"], images=[["img-0.jpeg", "img-1.png"]])

    page = reindex_batches(DOCUMENT, [(1, earlier), (2, later)]).pages[1]

    assert page.markdown == "![img-1.jpeg](img-1.jpeg)\n\n![img-2.png](img-2.png)"
    assert [image.id for image in page.images] == ["img-1.jpeg", "img-2.png"]


def test_reindex_numbers_ids_in_page_order():
    batch = make_response(["![img-0.jpeg](img-0.jpeg)", "![img-1.jpeg](img-1.jpeg)"], images=[["img-0.jpeg"], ["img-1.jpeg"]])
    later = make_response(["![img-0.jpeg](img-0.jpeg)"], images=[["img-0.jpeg"]])

    document = reindex_batches(DOCUMENT, [(3, later), (1, batch)])

    assert [image.id for page in document.pages for image in page.images] == ["img-0.jpeg", "img-1.jpeg", "img-2.jpeg"]
    assert document.pages[2].markdown == "![img-2.jpeg](img-2.jpeg)"


def test_merge_annotations_dedupes_authors_ignoring_case():
    annotations = [
        json.dumps({"summary": "First part.", "authors": ["Ada  Lovelace", "Alan Turing"]}),
        json.dumps({"summary": "First part.", "authors": ["ada lovelace", "Grace Hopper"]}),
    ]

    metadata = merge_document_annotations(annotations)

    assert metadata.authors == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert metadata.summary == "First part."


def test_merge_annotations_skips_malformed(caplog):
    warnings: list[str] = []
    annotations = [None, '{"summary": "Kept.", "authors": "Solo Author"}', "{not json", '["a list"]', ""]

    with caplog.at_level(logging.WARNING):
        metadata = merge_document_annotations(annotations, warnings)

    assert metadata.summary == "Kept."
    assert metadata.authors == ["Solo Author"]
    assert warnings == [
        "document annotation of batch 2 skipped: not a JSON object",
        "document annotation of batch 3 skipped: not a JSON object",
    ]
    assert "batch 2 skipped" in caplog.text


def test_merge_annotations_empty_gives_no_summary():
    metadata = merge_document_annotations([None, None])

    assert metadata.summary is None
    assert metadata.authors == []


def test_parse_image_annotation_valid():
    annotation = parse_image_annotation('{"image_type": "graph", "description": "Loss  curve."}')

    assert annotation == ImageAnnotation(image_type="graph", description="Loss curve.")


def test_parse_image_annotation_code_fence():
    annotation = parse_image_annotation('```json\n{"image_type": "photo", "description": "A cat."}\n```')

    assert annotation == ImageAnnotation(image_type="photo", description="A cat.")


@pytest.mark.parametrize("value", [None, "", "not json", '{"image_type": 3}', "[1, 2]", '{"description": "unterminated'])
def test_parse_image_annotation_malformed(value):
    assert parse_image_annotation(value) is None


def test_parse_image_annotation_partial():
    annotation = parse_image_annotation('{"description": "Only a description.", "image_type": null}')

    assert annotation == ImageAnnotation(image_type=None, description="Only a description.")
