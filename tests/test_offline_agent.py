"""The offline grader, query rewriter and extractive generator on constructed chunks."""

from __future__ import annotations

import re

from ragagent.agent.offline import (
    EXTRACTIVE_MARKER,
    MAX_ANSWER_CHARS,
    ExtractiveGenerator,
    FeedbackRewriter,
    OverlapGrader,
    strip_citation_markers,
)
from ragagent.agent.terms import TermStatistics, query_terms
from ragagent.models import Chunk, ScoredChunk

KIMI_TEXT = (
    "Kimi Linear is a hybrid linear attention architecture. "
    "It reduces KV cache usage by up to 75% compared with full attention. "
    "The model has 48B total parameters and 3B activated parameters."
)
DEEPSEEK_TABLE = (
    "Table 3: Comparison of base models.\n"
    "BBH (EM): DeepSeek-V2 Base 78.8; Qwen2.5 72B Base 79.8; DeepSeek-V3 Base 87.5\n"
    "MMLU (EM): DeepSeek-V2 Base 78.4; Qwen2.5 72B Base 85.0; DeepSeek-V3 Base 87.1"
)
COOKING_TEXT = "Bread dough rises when yeast ferments sugar. Bake the loaf at a high temperature until brown."


def make_chunk(chunk_id: str, text: str, source: str = "doc.pdf", pages: list[int] | None = None, **fields) -> Chunk:
    return Chunk(chunk_id=chunk_id, document_id="doc", source=source, pages=pages or [1], position=0, text=text, **fields)


def scored(chunk: Chunk, vector_score: float = 0.5) -> ScoredChunk:
    return ScoredChunk(chunk=chunk, score=vector_score, vector_score=vector_score)


def statistics() -> TermStatistics:
    return TermStatistics.from_texts([KIMI_TEXT, DEEPSEEK_TABLE, COOKING_TEXT, "Attention layers and parameters."])


def test_query_terms_drop_stopwords():
    terms = [term.surface for term in query_terms("How many total parameters does the Kimi Linear model have?")]
    assert "how" not in terms
    assert "the" not in terms
    assert "kimi" in terms


def test_query_terms_mark_numbers_and_names():
    terms = {term.surface: term for term in query_terms("What ratio of KDA to MLA layers does Kimi use, 3:1?")}
    assert terms["3:1"].is_number
    assert terms["kimi"].is_name
    assert not terms["layers"].is_name


def test_grader_marks_overlapping_chunk_relevant():
    grader = OverlapGrader(statistics())
    chunks = [scored(make_chunk("kimi", KIMI_TEXT)), scored(make_chunk("bread", COOKING_TEXT), vector_score=0.05)]
    grades = grader.grade("By how much does Kimi Linear reduce KV cache usage?", chunks)
    assert [grade.chunk_id for grade in grades] == ["kimi", "bread"]
    assert grades[0].relevant
    assert not grades[1].relevant


def test_grader_scores_within_unit_interval():
    grader = OverlapGrader(statistics())
    chunks = [scored(make_chunk("kimi", KIMI_TEXT), vector_score=1.7), scored(make_chunk("bread", COOKING_TEXT), vector_score=-0.4)]
    for grade in grader.grade("Kimi Linear KV cache", chunks):
        assert 0.0 <= grade.score <= 1.0


def test_grader_without_statistics_uses_rarity():
    grades = OverlapGrader(None).grade("Kimi Linear KV cache usage", [scored(make_chunk("kimi", KIMI_TEXT))])
    assert grades[0].relevant


def test_rewriter_appends_feedback_terms_to_question():
    question = "How much KV cache does Kimi save?"
    chunks = [scored(make_chunk("kimi", KIMI_TEXT)), scored(make_chunk("kimi2", KIMI_TEXT.replace("75%", "75 percent")))]
    rewritten = FeedbackRewriter(statistics(), expansion_terms=3).rewrite(question, question + " previous words", chunks)
    expansion = rewritten.removeprefix(question).split()
    assert rewritten.startswith(question + " ")
    assert len(expansion) == 3
    assert "previous" not in expansion
    assert "kimi" not in [term.lower() for term in expansion]


def test_rewriter_without_chunks_returns_question():
    assert FeedbackRewriter(statistics()).rewrite("What is MLA?", "What is MLA? foo", []) == "What is MLA?"


def test_generator_quotes_answer_with_marker():
    answer = ExtractiveGenerator(statistics()).generate(
        "By up to what percentage does Kimi Linear reduce KV cache usage?", [scored(make_chunk("kimi", KIMI_TEXT, pages=[2]))]
    )
    assert answer.grounded
    assert answer.answer.startswith(EXTRACTIVE_MARKER)
    assert "75%" in answer.answer
    assert "[1]" in answer.answer


def test_generator_citations_match_chunks():
    chunks = [
        scored(make_chunk("bread", COOKING_TEXT, source="bread.pdf", pages=[9])),
        scored(make_chunk("tbl", DEEPSEEK_TABLE, source="deepseek.pdf", pages=[25], table_ids=["tbl-3.html"], labels={"tbl-3.html": "Table 3"})),
    ]
    answer = ExtractiveGenerator(statistics()).generate("What BBH (EM) score does DeepSeek-V3 Base obtain?", chunks)
    markers = sorted({int(number) for number in re.findall(r"\[(\d+)\]", answer.answer)})
    assert "87.5" in answer.answer
    assert markers == list(range(1, len(answer.citations) + 1))
    assert answer.citations[0].document == "deepseek.pdf"
    assert answer.citations[0].page == 25
    assert answer.citations[0].chunk_id == "tbl"
    assert answer.citations[0].figure_or_table == "Table 3"


def test_generator_answer_within_length_limit():
    long_sentence = "Kimi Linear reduces KV cache usage " + "and keeps quality high on long context tasks " * 30 + "by 75%."
    chunks = [scored(make_chunk(f"c{index}", long_sentence + " " + KIMI_TEXT)) for index in range(4)]
    answer = ExtractiveGenerator(statistics()).generate("How much does Kimi Linear reduce KV cache usage?", chunks)
    assert answer.grounded
    assert len(answer.answer) <= MAX_ANSWER_CHARS
    assert len(strip_citation_markers(answer.answer)) <= MAX_ANSWER_CHARS


def test_generator_trims_wide_table_row_to_matching_cells():
    cells = "; ".join(f"Column {index} {index * 11}" for index in range(60))
    row = f"Texas: {cells}; Totals 146,982"
    chunk = make_chunk("nics", "Table 1: Checks by state.\n" + row, table_ids=["tbl-1.html"])
    answer = ExtractiveGenerator(statistics()).generate("What is the total number of checks for Texas?", [scored(chunk)])
    assert "Totals 146,982" in answer.answer
    assert len(answer.answer) <= MAX_ANSWER_CHARS


def test_generator_abstains_when_fact_missing():
    chunks = [scored(make_chunk("kimi", KIMI_TEXT))]
    answer = ExtractiveGenerator(statistics()).generate("How many GPUs were used to pretrain the Kimi Linear model?", chunks)
    assert not answer.grounded
    assert answer.citations == []
    assert answer.answer.startswith("The documents do not contain")


def test_generator_abstains_without_chunks():
    answer = ExtractiveGenerator(statistics()).generate("What is the vocabulary size?", [])
    assert not answer.grounded
