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
    is_short_row,
    is_tabular_line,
    split_units,
    strip_citation_markers,
    trim_unit,
)
from ragagent.agent.terms import (
    DATE_TYPE,
    NUMBER_TYPE,
    YEAR_TYPE,
    TermStatistics,
    answer_value_types,
    compact_keys,
    has_new_number,
    name_key,
    query_terms,
    specific_names,
    term_set,
)
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


def test_answer_value_types_number_word():
    assert NUMBER_TYPE in answer_value_types("Protection continues for ten years.", set())


def test_answer_value_types_one_is_no_number():
    assert NUMBER_TYPE not in answer_value_types("One of the experts is shared.", set())


def test_has_new_number_number_word():
    assert has_new_number(term_set("We used twelve newspapers."), term_set("How many newspapers were used?"))


def test_query_terms_how_long_is_answer_type():
    terms = {term.surface: term for term in query_terms("For how long does protection of a registered design continue?")}
    assert terms["long"].answer_type == NUMBER_TYPE
    assert not terms["long"].is_focus


def test_query_terms_long_context_is_no_answer_type():
    terms = {term.surface: term for term in query_terms("Which long context benchmark does Kimi Linear lead?")}
    assert terms["long"].answer_type is None


def test_query_terms_german_stopwords():
    terms = [term.surface for term in query_terms("Welche Kurve zeigt Abbildung 1.9 im Skript zur Geometrie und Topologie?")]
    for stopword in ("welche", "zeigt", "im", "zur", "und"):
        assert stopword not in terms
    assert "kurve" in terms


def test_query_terms_german_stems_match_german_text():
    terms = {term.surface: term.term for term in query_terms("Welche Kurven zeigt das Skript?")}
    assert terms["kurven"] in term_set("Die Hilbert-Kurve ist eine raumfüllende Kurve.")


def test_query_terms_german_focus():
    terms = {term.surface: term for term in query_terms("Welche Kurve zeigt die Abbildung?")}
    assert terms["kurve"].is_focus


def test_grader_german_question_on_german_chunk():
    chunk = make_chunk("de", "Abbildung 1.9: Die Hilbert-Kurve füllt das Quadrat.")
    grader = OverlapGrader(TermStatistics.from_texts([chunk.text, KIMI_TEXT, COOKING_TEXT]))
    features = grader.features("Welche Kurve zeigt Abbildung 1.9 im Skript?", [scored(chunk)])
    assert features[0].overlap > 0.5


TRANSCRIPT = (
    "1 IN THE SUPREME COURT OF THE UNITED STATES\n\n"
    "2 MICHAEL A. KNOWLES, :\n\n"
    "3 Petitioner :\n\n"
    "4 v. : No. 07-1315\n\n"
    "5 Washington, D.C.\n\n"
    "6 Tuesday, January 13, 2009\n\n"
    "7 The above-entitled matter came on for oral\n\n"
    "8 argument before the Supreme Court of the United States\n\n"
    "9 at 1:01 p.m."
)


def test_split_units_joins_numbered_transcript_lines():
    texts = [unit.text for unit in split_units(scored(make_chunk("t", TRANSCRIPT)), 0)]
    expected = (
        "Tuesday, January 13, 2009 The above-entitled matter came on for oral argument "
        "before the Supreme Court of the United States at 1:01 p.m."
    )
    assert expected in texts


def test_split_units_drops_transcript_line_numbers():
    texts = [unit.text for unit in split_units(scored(make_chunk("t", TRANSCRIPT)), 0)]
    assert all(not re.match(r"\d+ ", text) for text in texts)


def test_split_units_joins_lowercase_line_after_blank():
    chunk = make_chunk("w", "Once registered, protection continues\n\nfor ten years from the date protection begins.")
    texts = [unit.text for unit in split_units(scored(chunk), 0)]
    assert texts == ["Once registered, protection continues for ten years from the date protection begins."]


def test_split_units_keeps_paragraphs_after_blank():
    chunk = make_chunk("p", "3.1. Compute Clusters\n\nDeepSeek-V3 is trained on 2048 GPUs.")
    texts = [unit.text for unit in split_units(scored(chunk), 0)]
    assert "DeepSeek-V3 is trained on 2048 GPUs." in texts


def test_split_units_short_rows_next_to_rows():
    chunk = make_chunk("r", "We report the counts.\nSource articles 28,009\nBasic clusters 5,543\nMetaclusters (rows ≥ 3) 101")
    rows = [unit.text for unit in split_units(scored(chunk), 0) if unit.is_table_row]
    assert rows == ["Source articles 28,009", "Basic clusters 5,543", "Metaclusters (rows ≥ 3) 101"]


def test_split_units_short_row_next_to_row_start():
    chunk = make_chunk("r", "Tables: isting IE systems, as we are relying on\nConsistent tables 36 (75%)\nInconsistent tables 12 comparable")
    rows = [unit.text for unit in split_units(scored(chunk), 0) if unit.is_table_row]
    assert rows == ["Consistent tables 36 (75%)"]


def test_is_short_row_cases():
    assert is_short_row("Consistent tables 36 (75%)")
    assert not is_short_row("Tuesday, January 13, 2009")
    assert not is_short_row("The model was trained for many steps and reached an accuracy of 85")


def test_split_units_lone_short_line_stays_prose():
    chunk = make_chunk("p", "The sequence length is set to\nvalues up to 4096\nwhile training the model.")
    assert not any(unit.is_table_row for unit in split_units(scored(chunk), 0))


PAPER_TITLE = "Kimi Linear: An Expressive, Efficient Attention Architecture\nKimi Team"
PAPER_BODY = [
    "Kimi Linear uses Kimi Delta Attention in a hybrid architecture with MLA layers.",
    "The Kimi Linear model has 48B total parameters and 3B activated parameters.",
    "Kimi Linear reduces KV cache usage by up to 75% compared with full attention.",
    "We pretrain Kimi Linear on 5.7T tokens with the MuonClip optimizer.",
    "Kimi Linear decodes up to 6 times faster at 1M tokens of context.",
    "Kimi Linear keeps the quality of full attention on long-context benchmarks.",
    "The KDA kernel of Kimi Linear runs in chunkwise parallel form.",
    "Kimi Linear is released with its KDA kernels and vLLM support.",
]


def document_statistics() -> TermStatistics:
    statistics = TermStatistics()
    statistics.add_texts([PAPER_TITLE, *PAPER_BODY], "kimi")
    statistics.add_texts([COOKING_TEXT, DEEPSEEK_TABLE], "other")
    return statistics


def kimi_chunk(index: int) -> Chunk:
    return Chunk(chunk_id=f"k{index}", document_id="kimi", source="kimi.pdf", pages=[1], position=index, text=PAPER_BODY[index])


def test_is_topic_term_title_name():
    terms = {term.surface: term for term in query_terms("How many GPUs pretrain Kimi Linear?")}
    assert document_statistics().is_topic_term("kimi", terms["kimi"])


def test_is_topic_term_rare_term():
    terms = {term.surface: term for term in query_terms("How many GPUs pretrain Kimi Linear?")}
    assert not document_statistics().is_topic_term("kimi", terms["gpus"])


def test_is_topic_term_needs_enough_chunks():
    terms = {term.surface: term for term in query_terms("Which bread does the cooking text bake?")}
    assert not document_statistics().is_topic_term("other", terms["bread"])


def test_generator_abstains_when_only_topic_terms_match():
    generator = ExtractiveGenerator(document_statistics(), coverage_threshold=0.2, specific_threshold=0.3)
    chunks = [scored(kimi_chunk(index)) for index in range(3)]
    answer = generator.generate("How many GPUs and how much electricity did the Kimi Linear model use?", chunks)
    assert not answer.grounded


def test_generator_answers_when_specific_terms_match():
    generator = ExtractiveGenerator(document_statistics(), coverage_threshold=0.2, specific_threshold=0.3)
    chunks = [scored(kimi_chunk(index)) for index in range(3)]
    answer = generator.generate("How many total parameters does the Kimi Linear model have?", chunks)
    assert "48B" in answer.answer


NICS_TITLE = "NICS Firearm Background Checks November - 2015"
NICS_TABLE = (
    "State / Territory Permit Handgun Long Gun Totals\n"
    "Kansas 894 7,086 8,702 18,433\n"
    "Kentucky 264,140 12,155 14,847 295,891\n"
    "Louisiana 1,945 14,708 17,368 37,752"
)
NICS_FOOTNOTE = "Some states may show fewer handgun checks because a permit check replaces the NICS check."


def nics_statistics() -> TermStatistics:
    statistics = TermStatistics()
    statistics.add_texts([NICS_TITLE, NICS_TABLE, NICS_FOOTNOTE], "nics")
    return statistics


def nics_chunk(text: str = NICS_TABLE, position: int = 0) -> ScoredChunk:
    chunk = Chunk(chunk_id=f"n{position}", document_id="nics", source="nics.pdf", pages=[1], position=position, text=text)
    return scored(chunk)


def specific_keys(question: str) -> list[str]:
    return [name.key for name in specific_names(question)]


def test_name_key_joins_hyphenated_parts():
    assert name_key("GPT-4") == name_key("GPT4")


def test_name_key_joins_spaced_parts():
    assert name_key("DeepSeek V3") == name_key("DeepSeek-V3")


def test_name_key_ignores_case():
    assert name_key("deepseek-v3") == name_key("DeepSeek-V3")


def test_compact_keys_span_adjacent_tokens():
    assert name_key("DeepSeek-V3") in compact_keys("trained with DeepSeek V3 Base")


def test_specific_names_model_with_digit():
    assert specific_keys("How many parameters does GPT-4 have?") == ["gpt4"]


def test_specific_names_month_and_year_join():
    assert "december2015" in specific_keys("What is the total for Texas in December 2015?")


def test_specific_names_capitalized_word():
    assert "kentucky" in specific_keys("How many handgun checks did Kentucky have?")


def test_specific_names_skip_first_word_and_lowercase():
    assert specific_keys("Which checks did the state record?") == []


def test_specific_names_join_roman_numeral():
    assert "titlev" in specific_keys("What does Title V of the DMCA create?")


def test_specific_names_keep_decimal_version():
    assert "gemini1.5" in specific_keys("What accuracy does Gemini 1.5 Pro obtain?")


def test_specific_names_german_nouns_are_no_names():
    assert specific_keys("Welche Kurve zeigt die Abbildung im Skript?") == []


def test_names_document_title_prefix():
    name = specific_names("What is the total for Texas in November 2015?")[-1]
    assert nics_statistics().names_document("nics", name)


def test_names_document_other_month():
    name = specific_names("What is the total for Texas in December 2015?")[-1]
    assert not nics_statistics().names_document("nics", name)


def test_generator_abstains_on_absent_model_name():
    generator = ExtractiveGenerator(document_statistics(), coverage_threshold=0.2, specific_threshold=0.0)
    chunks = [scored(kimi_chunk(index)) for index in range(3)]
    answer = generator.generate("How many total parameters does the GPT-4 model have?", chunks)
    assert not answer.grounded


def test_generator_answers_with_spaced_model_name():
    generator = ExtractiveGenerator(document_statistics(), coverage_threshold=0.2, specific_threshold=0.0)
    chunk = Chunk(chunk_id="d0", document_id="other", source="d.pdf", pages=[1], position=0, text="DeepSeek V3 Base scores 87.5 on BBH.")
    answer = generator.generate("What BBH score does DeepSeek-V3 Base reach?", [scored(chunk)])
    assert "87.5" in answer.answer


def test_generator_abstains_on_absent_month():
    generator = ExtractiveGenerator(nics_statistics(), coverage_threshold=0.2, specific_threshold=0.0)
    answer = generator.generate("What is the total number of NICS checks for Kentucky in December 2015?", [nics_chunk()])
    assert not answer.grounded


def test_generator_answers_title_month():
    generator = ExtractiveGenerator(nics_statistics(), coverage_threshold=0.2, specific_threshold=0.0)
    answer = generator.generate("What is the total number of NICS checks for Kentucky in November 2015?", [nics_chunk()])
    assert "295,891" in answer.answer


def test_generator_quotes_only_asked_row():
    generator = ExtractiveGenerator(nics_statistics(), coverage_threshold=0.2, specific_threshold=0.0)
    chunks = [nics_chunk(), nics_chunk(NICS_FOOTNOTE, 1)]
    answer = generator.generate("How many handgun checks did Kentucky have?", chunks)
    assert "12,155" in answer.answer
    assert "Louisiana" not in answer.answer
    assert "Some states" not in answer.answer


def test_generator_row_gets_header_terms():
    generator = ExtractiveGenerator(nics_statistics(), coverage_threshold=0.2, specific_threshold=0.0)
    units = generator.score_units("How many handgun checks did Kentucky have?", [nics_chunk()])
    kentucky = next(item for item in units if item.unit.text.startswith("Kentucky"))
    assert kentucky.coverage > 0.5


def test_specific_names_acronym_joins_expansion():
    names = specific_names("What is the ratio of Kimi Delta Attention (KDA) layers?")
    assert [name.key for name in names] == ["kda"]
    assert names[0].alternative_key == "kimideltaattention"


def test_specific_name_found_by_expansion():
    name = specific_names("What is the ratio of Kimi Delta Attention (KDA) layers?")[0]
    assert name.found_in(compact_keys("Kimi Delta Attention layers alternate with MLA"))


def test_names_document_subject_variant():
    name = specific_names("What MATH500 accuracy does Kimi-Linear-Instruct get?")[-1]
    assert name.surface == "Kimi-Linear-Instruct"
    assert document_statistics().names_document("kimi", name)


def test_names_document_other_model():
    name = specific_names("How many parameters does GPT-4 have?")[0]
    assert not document_statistics().names_document("kimi", name)
