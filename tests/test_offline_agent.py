"""The offline grader, query rewriter and extractive generator on constructed chunks."""

from __future__ import annotations

import re

from ragagent.agent.offline import (
    EXTRACTIVE_MARKER,
    MAX_ANSWER_CHARS,
    AnswerUnit,
    ExtractiveGenerator,
    FeedbackRewriter,
    OverlapGrader,
    is_tabular_line,
    split_units,
    strip_citation_markers,
    trim_unit,
)
from ragagent.agent.terms import DATE_TYPE, NUMBER_TYPE, YEAR_TYPE, TermStatistics, answer_value_types, query_terms
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


DMCA_SENTENCE = (
    "The Digital Millennium Copyright Act (DMCA) was signed into law by President Clinton on October 28, 1998."
)
DMCA_HEADING = "EFFECTIVE DATES\nThe Digital Millennium Copyright Act sets the dates when its titles take effect."


def test_query_terms_mark_answer_type_words():
    terms = {term.surface: term for term in query_terms("On what date was the Digital Millennium Copyright Act signed?")}
    assert terms["date"].answer_type == DATE_TYPE
    assert not terms["date"].is_focus
    assert terms["digital"].answer_type is None


def test_query_terms_focus_skips_answer_type_word():
    terms = {term.surface: term for term in query_terms("What BBH score does DeepSeek-V3 obtain?")}
    assert terms["bbh"].is_focus
    assert terms["score"].answer_type == NUMBER_TYPE
    assert not terms["score"].is_focus


def test_answer_value_types_full_date():
    assert answer_value_types("signed on October 28, 1998.", set()) == {DATE_TYPE, YEAR_TYPE, NUMBER_TYPE}


def test_answer_value_types_year_only():
    assert answer_value_types("enacted in 1998", set()) == {YEAR_TYPE, NUMBER_TYPE}


def test_answer_value_types_skip_question_numbers():
    assert answer_value_types("the 3:1 hybrid", {"3:1"}) == frozenset()


def test_answer_value_types_word_alone_is_no_value():
    assert answer_value_types("EFFECTIVE DATES", set()) == frozenset()


def test_generator_prefers_date_value_over_date_word():
    chunks = [scored(make_chunk("heading", DMCA_HEADING)), scored(make_chunk("signed", DMCA_SENTENCE))]
    answer = ExtractiveGenerator(statistics()).generate("On what date was the Digital Millennium Copyright Act signed into law?", chunks)
    assert answer.grounded
    assert "October 28, 1998" in answer.answer.split("[1]")[0]


def test_generator_date_word_earns_no_coverage():
    generator = ExtractiveGenerator(statistics())
    question = "On what date was the Digital Millennium Copyright Act signed into law?"
    with_word = generator.score_units(question, [scored(make_chunk("dates", "Effective dates of the Copyright Act."))])
    without_word = generator.score_units(question, [scored(make_chunk("rules", "Effective rules of the Copyright Act."))])
    assert with_word[0].coverage == without_word[0].coverage


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
        "By how much does Kimi Linear reduce KV cache usage?", [scored(make_chunk("kimi", KIMI_TEXT, pages=[2]))]
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


NICS_LINES = (
    "Table 1: Background checks by state, November 2015\n"
    "State Permit Handgun Long gun Other Totals\n"
    "Tennessee 9,509 28,815 24,023 1,300 63,670\n"
    "Texas 21,550 56,941 51,670 2,532 146,982\n"
    "Utah 4,102 5,903 5,020 202 15,227"
)


def test_split_units_keeps_numeric_lines_apart():
    units = split_units(scored(make_chunk("nics", NICS_LINES)), 0)
    texts = [unit.text for unit in units]
    assert "Texas 21,550 56,941 51,670 2,532 146,982" in texts
    assert all(unit.is_table_row for unit in units if unit.text.startswith(("Tennessee", "Texas", "Utah")))


def test_split_units_joins_wrapped_prose():
    text = "The model was trained\nfor two months on\n2048 GPUs. It converged."
    texts = [unit.text for unit in split_units(scored(make_chunk("prose", text)), 0)]
    assert texts == ["The model was trained for two months on 2048 GPUs.", "It converged."]


def test_is_tabular_line_cases():
    assert is_tabular_line("Texas 21,550 56,941 51,670 2,532 146,982")
    assert not is_tabular_line("We trained on 2048 GPUs for 3 months in 2024 with a large batch.")
    assert not is_tabular_line("Results 1 2")


def test_generator_quotes_numeric_row():
    answer = ExtractiveGenerator(statistics()).generate("What is the total number of checks for Texas in November 2015?", [scored(make_chunk("nics", NICS_LINES))])
    assert "146,982" in answer.answer
    assert "Utah" not in answer.answer


def test_generator_cites_page_of_sentence():
    first = "Kimi Linear is a hybrid linear attention architecture."
    second = "It reduces KV cache usage by up to 75% compared with full attention."
    chunk = make_chunk("kimi", f"{first}\n{second}", pages=[4, 5], page_spans=[(4, 0), (5, len(first) + 1)])
    answer = ExtractiveGenerator(statistics()).generate("By how much does Kimi Linear reduce KV cache usage?", [scored(chunk)])
    assert "75%" in answer.answer
    assert answer.citations[0].page == 5


def test_generator_cites_first_page_without_spans():
    chunk = make_chunk("kimi", KIMI_TEXT, pages=[4, 5])
    answer = ExtractiveGenerator(statistics()).generate("By how much does Kimi Linear reduce KV cache usage?", [scored(chunk)])
    assert answer.citations[0].page == 4


def test_trim_unit_window_covers_most_matches():
    text = "Kimi appears once here. " + "filler words " * 40 + "KV cache usage drops by 75% with KV cache reuse. " + "more filler " * 40
    unit = AnswerUnit(text, 0, 1, is_table_row=False)
    trimmed = trim_unit(unit, {term.term for term in query_terms("KV cache usage reuse")}, 120)
    assert "75%" in trimmed
    assert len(trimmed) <= 120


def test_trim_unit_table_row_keeps_label_and_matching_cells():
    cells = "; ".join(f"Benchmark {index} {index}.5" for index in range(40))
    unit = AnswerUnit(f"DeepSeek-V3: {cells}; Codeforces Percentile 51.6", 0, 1, is_table_row=True)
    trimmed = trim_unit(unit, {term.term for term in query_terms("What Codeforces percentile?")}, 100)
    assert trimmed.startswith("DeepSeek-V3: ")
    assert "Codeforces Percentile 51.6" in trimmed
