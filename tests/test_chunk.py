"""Chunking described documents: sections, tables, figures, token limits and stable ids."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from ragagent.describe.offline import OfflineDescriber
from ragagent.models import DocumentPage, DocumentRef, ElementDescription, ParsedDocument
from ragagent.ocr import OCRImageObject, OCRResponse, OCRTableObject
from ragagent.pipeline.chunk import chunk_document
from ragagent.pipeline.describe import describe_document
from ragagent.pipeline.reindex import reindex_batches

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "mistral_ocr"
TOKENIZER_PATH = REPO_ROOT / "src" / "ragagent" / "embedding" / "data" / "tokenizer.json"
DOCUMENT = DocumentRef.from_uri("file:///papers/kimi_k2.pdf", "kimi_k2.pdf")
CHUNK_ID = re.compile(r"^[0-9a-f]{20}-\d{4}-[0-9a-f]{12}$")
TOPICS = ["optimizer", "tokenizer", "dataset", "benchmark", "attention", "router", "expert", "kernel"]


def count_words(text: str) -> int:
    return len(text.split())


def fixture_document() -> ParsedDocument:
    batches = [
        (1, OCRResponse.model_validate_json((FIXTURES / "batch-0-pages-1-2.json").read_text())),
        (9, OCRResponse.model_validate_json((FIXTURES / "batch-1-pages-9-10.json").read_text())),
    ]
    return describe_document(reindex_batches(DOCUMENT, batches), OfflineDescriber())


def sentence(number: int, words: int = 12) -> str:
    """Return a distinct sentence of exactly `words` words."""
    filler = " ".join(TOPICS[(number + offset) % len(TOPICS)] for offset in range(words - 3))
    return f"Sentence {number} about {filler}."


def paragraph(start: int, count: int, words: int = 12) -> str:
    return " ".join(sentence(number, words) for number in range(start, start + count))


def table_html(rows: int, columns: int = 3) -> str:
    header = "<tr><th>Name</th>" + "".join(f"<th>Metric {column}</th>" for column in range(1, columns)) + "</tr>"
    body = "".join(
        f"<tr><td>Model {row}</td>" + "".join(f"<td>{row * 10 + column}.5</td>" for column in range(1, columns)) + "</tr>" for row in range(rows)
    )
    return f"<table>{header}{body}</table>"


def make_document(pages: list[DocumentPage], descriptions: dict[str, ElementDescription] | None = None) -> ParsedDocument:
    return ParsedDocument(document=DOCUMENT, pages=pages, descriptions=descriptions or {})


def long_document() -> ParsedDocument:
    """Three pages: two sections of prose, a 4-row table in the middle and prose after it."""
    page_1 = f"# Title of the paper\n\n## 1 Introduction\n\n{paragraph(0, 6)}\n\n{paragraph(6, 6)}\n\n1"
    page_2 = f"{paragraph(12, 3)}\n\n[tbl-0.html](tbl-0.html)\n\nTable 1: Scores of four models.\n\n{paragraph(15, 5)}\n\n2"
    page_3 = f"## 2 Method\n\n{paragraph(20, 8)}\n\n### 2.1 Details\n\n{paragraph(28, 4)}"
    return make_document(
        [
            DocumentPage(number=1, markdown=page_1),
            DocumentPage(number=2, markdown=page_2, tables=[OCRTableObject(id="tbl-0.html", content=table_html(4))]),
            DocumentPage(number=3, markdown=page_3),
        ]
    )


def chunk_of(chunks, text: str):
    matches = [chunk for chunk in chunks if text in chunk.text]
    assert len(matches) == 1, f"{text!r} is in {len(matches)} chunks"
    return matches[0]


def test_chunk_fixture_sections():
    chunks = chunk_document(fixture_document(), count_words, 256)

    assert [chunk.section for chunk in chunks] == [
        ["ABSTRACT"],
        ["2 Pre-training"],
        ["2 Pre-training", "2.1 MuonClip: Stable Training with Weight Clipping"],
        ["2 Pre-training", "2.3 Model Architecture"],
    ]


def test_chunk_fixture_pages_and_elements():
    chunks = chunk_document(fixture_document(), count_words, 256)

    assert [chunk.pages for chunk in chunks] == [[1], [2], [9], [10]]
    assert chunks[0].figure_ids == ["img-0.jpeg"]
    assert chunks[3].table_ids == ["tbl-1.html"]
    assert chunks[3].labels == {"tbl-1.html": "Table 2"}


def test_chunk_text_starts_with_section():
    chunks = chunk_document(fixture_document(), count_words, 256)

    for chunk in chunks:
        assert chunk.text.startswith(" > ".join(chunk.section) + "\n\n")


def test_chunk_text_has_rows_not_html():
    chunks = chunk_document(fixture_document(), count_words, 256)
    table_chunk = chunks[3]

    assert "Total Parameters: DeepSeek-V3 671B; Kimi K2 1.04T" in table_chunk.text
    assert "<td>" not in table_chunk.text
    assert "tbl-1.html" not in table_chunk.text


def test_chunk_text_has_figure_description_once():
    chunks = chunk_document(fixture_document(), count_words, 256)
    figure_chunk = chunks[2]

    assert figure_chunk.text.count("Figure 2: Maximum logits") == 1
    assert "they rise quickly to the cap of 100" in figure_chunk.text
    assert "![" not in figure_chunk.text


def test_chunk_keeps_title_headings():
    chunks = chunk_document(fixture_document(), count_words, 256)

    assert "KIMI K2: OPEN AGENTIC INTELLIGENCE" in chunks[0].text


def test_chunk_text_excludes_file_name():
    chunks = chunk_document(fixture_document(), count_words, 256)

    assert all("kimi_k2.pdf" not in chunk.text for chunk in chunks)
    assert all(chunk.source == "kimi_k2.pdf" for chunk in chunks)


def test_chunk_ids_and_positions():
    chunks = chunk_document(long_document(), count_words, 64, target_tokens=48)

    assert [chunk.position for chunk in chunks] == list(range(len(chunks)))
    assert all(CHUNK_ID.match(chunk.chunk_id) for chunk in chunks)
    assert all(chunk.chunk_id.startswith(f"{DOCUMENT.document_id}-{chunk.position:04d}-") for chunk in chunks)


def test_chunk_ids_stable_across_runs():
    first = chunk_document(long_document(), count_words, 64, target_tokens=48)
    second = chunk_document(long_document(), count_words, 64, target_tokens=48)

    assert [chunk.chunk_id for chunk in first] == [chunk.chunk_id for chunk in second]
    assert first == second


def test_chunk_sentence_edit_changes_one_id():
    original = long_document()
    edited = long_document()
    old = sentence(22)
    new = old.replace("Sentence 22 about", "Sentence 22 regarding")
    edited.pages[2].markdown = edited.pages[2].markdown.replace(old, new)

    before = chunk_document(original, count_words, 64, target_tokens=48)
    after = chunk_document(edited, count_words, 64, target_tokens=48)

    changed = [position for position, (a, b) in enumerate(zip(before, after)) if a.chunk_id != b.chunk_id]
    assert len(before) == len(after)
    assert changed == [chunk_of(after, new).position]


def test_chunk_within_max_tokens():
    chunks = chunk_document(long_document(), count_words, 64, target_tokens=48)

    assert all(count_words(chunk.text) <= 64 for chunk in chunks)


def test_chunk_aims_at_target():
    chunks = chunk_document(long_document(), count_words, 64, target_tokens=48)

    assert all(count_words(chunk.text) <= 48 for chunk in chunks)
    assert len(chunks) >= 8


def test_chunk_sections_follow_numbered_headings():
    chunks = chunk_document(long_document(), count_words, 64, target_tokens=48)

    assert chunk_of(chunks, sentence(29)).section == ["2 Method", "2.1 Details"]
    assert chunk_of(chunks, sentence(21)).section == ["2 Method"]
    assert chunk_of(chunks, sentence(1)).section == ["1 Introduction"]


def test_chunk_appendix_heading_levels():
    markdown = "# Appendix\n\n## A.1 Extra data\n\nFirst fact.\n\n## A Study of Scale\n\nSecond fact."
    chunks = chunk_document(make_document([DocumentPage(number=1, markdown=markdown)]), count_words, 64)

    assert chunk_of(chunks, "First fact.").section == ["Appendix", "A.1 Extra data"]
    assert chunk_of(chunks, "Second fact.").section == ["Appendix", "A Study of Scale"]


def test_chunk_keeps_heading_without_body():
    chunks = chunk_document(long_document(), count_words, 64, target_tokens=48)

    assert chunks[0].text.startswith("1 Introduction\n\nTitle of the paper\n\nSentence 0 about")


def test_chunk_never_mixes_sections():
    chunks = chunk_document(long_document(), count_words, 256)

    assert chunk_of(chunks, sentence(27)) is not chunk_of(chunks, sentence(28))


def test_chunk_spans_pages():
    chunks = chunk_document(long_document(), count_words, 256)

    assert chunk_of(chunks, sentence(12)).pages == [1, 2]


def test_chunk_page_spans_mark_page_start():
    chunk = chunk_of(chunk_document(long_document(), count_words, 256), sentence(12))

    assert [page for page, _ in chunk.page_spans] == [1, 2]
    assert chunk.page_spans[0][1] == 0
    assert chunk.text.startswith(sentence(12), chunk.page_spans[1][1])


def test_chunk_page_at_offsets():
    chunk = chunk_of(chunk_document(long_document(), count_words, 256), sentence(12))

    assert chunk.page_at(chunk.text.index(sentence(11))) == 1
    assert chunk.page_at(chunk.text.index(sentence(12))) == 2
    assert chunk.page_at(len(chunk.text) - 1) == 2


def test_chunk_one_page_single_span():
    chunks = chunk_document(long_document(), count_words, 256)

    assert chunk_of(chunks, sentence(25)).page_spans == [(3, 0)]


def test_chunk_drops_page_numbers():
    chunks = chunk_document(long_document(), count_words, 256)

    assert all(not re.search(r"(^|\n)\d+(\n|$)", chunk.text) for chunk in chunks)


def test_chunk_table_kept_whole():
    chunks = chunk_document(long_document(), count_words, 64, target_tokens=48)
    table_chunks = [chunk for chunk in chunks if chunk.table_ids]

    assert len(table_chunks) == 1
    assert all(f"Model {row}: " in table_chunks[0].text for row in range(4))
    assert table_chunks[0].labels == {"tbl-0.html": "Table 1"}
    assert table_chunks[0].text.count("Table 1: Scores of four models.") == 1


def test_chunk_long_table_split_by_rows():
    markdown = "## Results\n\n[tbl-0.html](tbl-0.html)\n\nTable 3: Scores of forty models."
    page = DocumentPage(number=5, markdown=markdown, tables=[OCRTableObject(id="tbl-0.html", content=table_html(40))])

    chunks = chunk_document(make_document([page]), count_words, 64, target_tokens=48)

    assert len(chunks) > 1
    assert all(chunk.table_ids == ["tbl-0.html"] for chunk in chunks)
    assert all("Columns: Name, Metric 1, Metric 2" in chunk.text for chunk in chunks)
    assert all("Table 3: Scores of forty models" in chunk.text for chunk in chunks)
    assert all(count_words(chunk.text) <= 64 for chunk in chunks)
    for row in range(40):
        line = f"Model {row}: Metric 1 {row * 10 + 1}.5; Metric 2 {row * 10 + 2}.5"
        assert sum(line in chunk.text.splitlines() for chunk in chunks) == 1, line


def test_chunk_long_model_description_split():
    long_text = paragraph(0, 12)
    page = DocumentPage(
        number=1,
        markdown="![img-0.jpeg](img-0.jpeg)\n\nFigure 4: A busy diagram.",
        images=[OCRImageObject(id="img-0.jpeg", top_left_x=0, top_left_y=0, bottom_right_x=1, bottom_right_y=1)],
    )
    description = ElementDescription(element_id="img-0.jpeg", kind="figure", label="Figure 4", title="Figure 4: A busy diagram", description=long_text)

    chunks = chunk_document(make_document([page], {"img-0.jpeg": description}), count_words, 64, target_tokens=48)

    assert len(chunks) > 1
    assert all(chunk.figure_ids == ["img-0.jpeg"] for chunk in chunks)
    assert all(count_words(chunk.text) <= 64 for chunk in chunks)
    assert all(sentence(number) in "\n".join(chunk.text for chunk in chunks) for number in range(12))


def test_chunk_figure_without_caption_or_description_left_out():
    page = DocumentPage(
        number=1,
        markdown="Some text.\n\n![img-0.jpeg](img-0.jpeg)",
        images=[OCRImageObject(id="img-0.jpeg", top_left_x=0, top_left_y=0, bottom_right_x=1, bottom_right_y=1)],
    )

    chunks = chunk_document(make_document([page]), count_words, 64)

    assert [chunk.text for chunk in chunks] == ["Some text."]
    assert chunks[0].figure_ids == []


def test_chunk_element_without_placeholder_appended():
    page = DocumentPage(number=1, markdown="## Data\n\nSome text.", tables=[OCRTableObject(id="tbl-0.html", content=table_html(2))])

    chunks = chunk_document(make_document([page]), count_words, 256)

    assert chunks[0].table_ids == ["tbl-0.html"]
    assert chunks[0].text.index("Some text.") < chunks[0].text.index("Model 1: ")


def test_chunk_drops_stray_placeholders():
    page = DocumentPage(number=1, markdown="Text before. ![img-7.jpeg](img-7.jpeg)\n\n[tbl-3.html](tbl-3.html)")

    chunks = chunk_document(make_document([page]), count_words, 64)

    assert [chunk.text for chunk in chunks] == ["Text before."]


def test_chunk_empty_document():
    page = DocumentPage(number=1, markdown="\n\n  12  \n\n")

    assert chunk_document(make_document([page]), count_words, 64) == []


def test_chunk_overlap_repeats_last_sentence():
    page = DocumentPage(number=1, markdown=f"## Intro\n\n{paragraph(0, 8)}")

    chunks = chunk_document(make_document([page]), count_words, 64, target_tokens=40, overlap_tokens=12)

    assert len(chunks) > 1
    assert sentence(2) in chunks[0].text
    assert chunks[1].text.startswith(f"Intro\n\n{sentence(2)}")


def test_chunk_rejects_bad_sizes():
    with pytest.raises(ValueError, match="max_tokens=8 is too small"):
        chunk_document(long_document(), count_words, 8)
    with pytest.raises(ValueError, match="overlap_tokens=50"):
        chunk_document(long_document(), count_words, 64, target_tokens=40, overlap_tokens=50)
    with pytest.raises(ValueError, match="target_tokens=100"):
        chunk_document(long_document(), count_words, 64, target_tokens=100)


def test_chunk_real_tokenizer_limit():
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    # The shipped tokenizer.json pads to 128 and truncates at 128, so turn both off to count real lengths.
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count_tokens(text: str) -> int:
        return len(tokenizer.encode(text).ids)

    run_on = " ".join(f"term{number}-{TOPICS[number % 8]}" for number in range(400))
    big_table = OCRTableObject(id="tbl-1.html", content=table_html(120, columns=6))
    extra = DocumentPage(
        number=11,
        markdown=f"## 3 Evaluation of Kimi K2 on agentic benchmarks\n\n{run_on}\n\n{paragraph(0, 40, words=30)}\n\n[tbl-1.html](tbl-1.html)\n\nTable 9: Many scores.",
        tables=[big_table],
    )
    document = fixture_document()
    document.pages.append(extra)

    chunks = chunk_document(document, count_tokens, 256)
    sizes = [count_tokens(chunk.text) for chunk in chunks]

    assert max(sizes) <= 256
    assert sum(bool(chunk.table_ids == ["tbl-1.html"]) for chunk in chunks) > 3
    assert all(f"Model {row}: " in "".join(chunk.text for chunk in chunks) for row in range(120))


def caption_document() -> ParsedDocument:
    """One page of prose, then a vector figure's caption wrapped over three lines with no placeholder."""
    caption = (
        "Figure 4 | Overlapping strategy for a pair of forward and backward chunks. Orange denotes forward, green denotes\n"
        '"backward for input", blue denotes "backward for weights", purple denotes PP communication,\n'
        "and red denotes barriers."
    )
    markdown = f"## 3 Infrastructures\n\n{paragraph(0, 14)}\n\n{caption}\n\n{paragraph(14, 2)}"
    return make_document([DocumentPage(number=12, markdown=markdown)])


def test_chunk_keeps_unplaced_caption_whole():
    chunks = chunk_document(caption_document(), count_words, 256, target_tokens=200)
    chunk = chunk_of(chunks, "Figure 4 |")

    assert "purple denotes PP communication" in chunk.text
    assert "and red denotes barriers." in chunk.text


def test_chunk_caption_keeps_line_breaks():
    chunks = chunk_document(caption_document(), count_words, 256, target_tokens=200)

    assert "green denotes\n\"backward for input\"" in chunk_of(chunks, "Figure 4 |").text


def test_chunk_splits_caption_longer_than_chunk():
    long_caption = "Table 9: " + paragraph(0, 30)
    document = make_document([DocumentPage(number=1, markdown=f"## Results\n\n{long_caption}")])
    chunks = chunk_document(document, count_words, 64)

    assert len(chunks) > 1
    assert all(count_words(chunk.text) <= 64 for chunk in chunks)


def test_chunk_german_caption_label_on_table():
    markdown = "Text davor.\n\n[tbl-0.html](tbl-0.html)\n\nTabelle 2: Ergebnisse der Modelle."
    page = DocumentPage(number=1, markdown=markdown, tables=[OCRTableObject(id="tbl-0.html", content=table_html(2))])
    chunks = chunk_document(make_document([page]), count_words, 256)
    chunk = chunk_of(chunks, "Tabelle 2: Ergebnisse der Modelle.")

    assert chunk.labels == {"tbl-0.html": "Tabelle 2"}
