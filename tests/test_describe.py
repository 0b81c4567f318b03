"""Table linearization, caption matching, the offline describer and the describe step."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragagent.describe.base import Describer
from ragagent.describe.offline import OfflineDescriber
from ragagent.describe.tables import linearize_table
from ragagent.errors import ProviderTransientError
from ragagent.models import DocumentPage, DocumentRef, ElementDescription, ParsedDocument
from ragagent.ocr import OCRImageObject, OCRResponse, OCRTableObject
from ragagent.pipeline.describe import describe_document, page_captions
from ragagent.pipeline.markdown import caption_title, parse_caption
from ragagent.pipeline.reindex import reindex_batches

FIXTURES = Path(__file__).parent / "fixtures" / "mistral_ocr"
DOCUMENT = DocumentRef.from_uri("file:///papers/kimi_k2.pdf", "kimi_k2.pdf")

MULTI_LEVEL_TABLE = """
<table>
  <thead>
    <tr><th rowspan="2">Model</th><th colspan="2">Math</th><th>Code</th></tr>
    <tr><th>AIME</th><th>MATH-500</th><th>LiveCodeBench</th></tr>
  </thead>
  <tbody>
    <tr><td>Kimi K2</td><td>49.5</td><td>97.4</td><td>53.7</td></tr>
    <tr><td rowspan="2">DeepSeek-V3</td><td>39.2</td><td>94.0</td><td>46.9</td></tr>
    <tr><td colspan="2">n/a</td><td>48.1</td></tr>
  </tbody>
</table>
"""


def fixture_document() -> ParsedDocument:
    batches = [
        (1, OCRResponse.model_validate_json((FIXTURES / "batch-0-pages-1-2.json").read_text())),
        (9, OCRResponse.model_validate_json((FIXTURES / "batch-1-pages-9-10.json").read_text())),
    ]
    return reindex_batches(DOCUMENT, batches)


def image(image_id: str, annotation: str | None = None) -> OCRImageObject:
    return OCRImageObject(id=image_id, top_left_x=0, top_left_y=0, bottom_right_x=100, bottom_right_y=100, image_annotation=annotation)


def table(table_id: str, content: str) -> OCRTableObject:
    return OCRTableObject(id=table_id, content=content)


def test_linearize_fixture_table():
    document = fixture_document()

    linear = linearize_table(document.pages[3].tables[0].content)

    assert linear.column_headers == ["DeepSeek-V3", "Kimi K2"]
    assert "Total Parameters: DeepSeek-V3 671B; Kimi K2 1.04T" in linear.rows
    assert len(linear.rows) == 5


def test_linearize_multi_level_headers():
    linear = linearize_table(MULTI_LEVEL_TABLE)

    assert linear.column_headers == ["Model", "Math AIME", "Math MATH-500", "Code LiveCodeBench"]
    assert linear.rows[0] == "Kimi K2: Math AIME 49.5; Math MATH-500 97.4; Code LiveCodeBench 53.7"


def test_linearize_rowspan_repeats_label():
    linear = linearize_table(MULTI_LEVEL_TABLE)

    assert linear.rows[2].startswith("DeepSeek-V3: ")


def test_linearize_colspan_value_written_once():
    linear = linearize_table(MULTI_LEVEL_TABLE)

    assert linear.rows[2] == "DeepSeek-V3: Math AIME n/a; Code LiveCodeBench 48.1"


def test_linearize_first_row_header_without_th():
    linear = linearize_table("<table><tr><td>Name</td><td>Score</td></tr><tr><td>A</td><td>1.5</td></tr></table>")

    assert linear.column_headers == ["Name", "Score"]
    assert linear.rows == ["A: Score 1.5"]


def test_linearize_numeric_first_row_is_data():
    linear = linearize_table("<table><tr><td>2020</td><td>15</td></tr><tr><td>2021</td><td>17</td></tr></table>")

    assert linear.column_headers == []
    assert linear.rows == ["2020: 15", "2021: 17"]


def test_linearize_entities_and_line_breaks():
    linear = linearize_table("<table><tr><th>Item</th><th>Note</th></tr><tr><td>A&amp;B</td><td>two<br>lines</td></tr></table>")

    assert linear.rows == ["A&B: Note two lines"]


def test_linearize_all_header_rows():
    linear = linearize_table("<table><tr><th>Name</th><th>Score</th></tr><tr><th>A</th><th>1.5</th></tr></table>")

    assert linear.column_headers == ["Name", "Score"]
    assert linear.rows == ["A: Score 1.5"]


def test_linearize_empty_html():
    linear = linearize_table("<p>no table here</p>")

    assert linear.rows == []
    assert linear.header_line == ""


def test_linearize_huge_colspan_is_clamped():
    linear = linearize_table('<table><tr><th colspan="999999">Wide</th></tr><tr><td>x</td></tr></table>')

    assert linear.rows == ["x"]


@pytest.mark.parametrize(
    ("text", "kind", "label"),
    [
        ("Table 2: Architectural comparison.", "table", "Table 2"),
        ("**Table 3.** Results on MMLU.", "table", "Table 3"),
        ("TABLE IV: Ablations", "table", "Table IV"),
        ("Fig. 4 | Training loss.", "figure", "Figure 4"),
        ("*Figure S1*: Appendix plot.", "figure", "Figure S1"),
        ("Figure 1 shows the results.", "figure", None),
        ("Table 2: A table caption.", "figure", None),
        ("Tables are useful.", "table", None),
    ],
)
def test_parse_caption_cases(text, kind, label):
    assert parse_caption(text, kind) == label


def test_caption_title_first_sentence():
    title = caption_title("Figure 3: Loss over steps. The dashed line marks the warmup end.")

    assert title == "Figure 3: Loss over steps"


def test_captions_found_after_placeholder():
    captions = page_captions(fixture_document().pages[3])

    assert captions == {"tbl-1.html": "Table 2: Architectural comparison between Kimi K2 and DeepSeek-V3."}


def test_captions_found_above_tables():
    markdown = "Table 1: First.\n\n[tbl-0.html](tbl-0.html)\n\nTable 2: Second.\n\n[tbl-1.html](tbl-1.html)\n\nBody text."
    page = DocumentPage(number=1, markdown=markdown, tables=[table("tbl-0.html", "<table></table>"), table("tbl-1.html", "<table></table>")])

    captions = page_captions(page)

    assert captions == {"tbl-0.html": "Table 1: First.", "tbl-1.html": "Table 2: Second."}


def test_captions_ignore_other_kind():
    markdown = "Figure 5: A plot caption.\n\n[tbl-0.html](tbl-0.html)\n\nSome text."
    page = DocumentPage(number=1, markdown=markdown, tables=[table("tbl-0.html", "<table></table>")])

    assert page_captions(page) == {}


def test_offline_table_with_caption():
    page = fixture_document().pages[3]
    caption = page_captions(page)["tbl-1.html"]

    description = OfflineDescriber().describe_table(page.tables[0], page, caption)

    assert description.label == "Table 2"
    assert description.title == "Table 2: Architectural comparison between Kimi K2 and DeepSeek-V3"
    assert description.description.startswith(caption)
    assert "Columns: DeepSeek-V3, Kimi K2" in description.description
    assert "Total Parameters: DeepSeek-V3 671B; Kimi K2 1.04T" in description.description


def test_offline_table_without_caption():
    page = DocumentPage(number=4, markdown="[tbl-0.html](tbl-0.html)", tables=[table("tbl-0.html", MULTI_LEVEL_TABLE)])

    description = OfflineDescriber().describe_table(page.tables[0], page, None)

    assert description.label is None
    assert description.title == "Table with columns Model, Math AIME, Math MATH-500, Code LiveCodeBench"


def test_offline_image_uses_annotation():
    annotated = image("img-0.jpeg", '{"image_type": "graph", "description": "Loss falls after warmup."}')
    page = DocumentPage(number=2, markdown="![img-0.jpeg](img-0.jpeg)\n\nFigure 7: Training loss.", images=[annotated])

    description = OfflineDescriber().describe_image(annotated, page, "Figure 7: Training loss.")

    assert description.description == "Loss falls after warmup."
    assert description.label == "Figure 7"
    assert description.title == "Figure 7: Training loss"


def test_offline_image_caption_without_annotation():
    plain = image("img-0.jpeg")
    page = DocumentPage(number=2, markdown="![img-0.jpeg](img-0.jpeg)\n\nFigure 7: Training loss.", images=[plain])

    description = OfflineDescriber().describe_image(plain, page, "Figure 7: Training loss.")

    assert description.description == "Figure 7: Training loss."


def test_offline_image_malformed_annotation():
    broken = image("img-0.jpeg", '{"image_type": "graph", "descr')
    page = DocumentPage(number=6, markdown="![img-0.jpeg](img-0.jpeg)", images=[broken])

    description = OfflineDescriber().describe_image(broken, page, None)

    assert description.title == "Image on page 6"
    assert description.description == ""
    assert description.label is None


def test_describe_document_covers_every_element():
    described = describe_document(fixture_document(), OfflineDescriber())

    assert sorted(described.descriptions) == ["img-0.jpeg", "img-1.jpeg", "tbl-0.html", "tbl-1.html"]
    assert described.descriptions["img-1.jpeg"].label == "Figure 2"
    assert described.descriptions["tbl-0.html"].label == "Table 1"
    assert described.descriptions["img-0.jpeg"].description.startswith("Bar charts comparing Kimi-K2-Instruct")


def test_describe_document_leaves_input_unchanged():
    document = fixture_document()

    describe_document(document, OfflineDescriber())

    assert document.descriptions == {}


class FailingTableDescriber:
    """A describer whose table calls fail the way a throttled model endpoint does."""

    name = "throttled"

    def describe_table(self, table: OCRTableObject, page: DocumentPage, caption: str | None) -> ElementDescription:
        raise ProviderTransientError("HTTP 429 Too Many Requests")

    def describe_image(self, image: OCRImageObject, page: DocumentPage, caption: str | None) -> ElementDescription:
        return ElementDescription(element_id="wrong-id", kind="table", title="A figure", description="Described by the model.")


def test_describe_document_falls_back_on_failure():
    describer: Describer = FailingTableDescriber()

    described = describe_document(fixture_document(), describer)

    assert described.descriptions["tbl-1.html"].label == "Table 2"
    assert "Total Parameters: DeepSeek-V3 671B" in described.descriptions["tbl-1.html"].description
    assert described.warnings[0] == "pages 3-8 are missing from the OCR responses"
    assert described.warnings[1:] == [
        "table tbl-0.html on page 2: describer throttled failed (ProviderTransientError: HTTP 429 Too Many Requests); used the offline description",
        "table tbl-1.html on page 10: describer throttled failed (ProviderTransientError: HTTP 429 Too Many Requests); used the offline description",
    ]


def test_describe_document_fixes_returned_ids():
    described = describe_document(fixture_document(), FailingTableDescriber())

    assert described.descriptions["img-0.jpeg"].element_id == "img-0.jpeg"
    assert described.descriptions["img-0.jpeg"].kind == "figure"
    assert described.descriptions["img-0.jpeg"].description == "Described by the model."
