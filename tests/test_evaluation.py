"""Metric computation of the evaluation on constructed answers."""

from __future__ import annotations

import json

import pytest

from ragagent.evaluation import (
    EvalQuestion,
    answer_text_for_matching,
    contains_accepted_answer,
    is_correct,
    is_evidence_hit,
    load_questions,
    normalize_answer,
)
from ragagent.models import Answer, Chunk, ScoredChunk


def question(answers: list[str], pdf: str | None = "paper.pdf", pages: list[int] | None = None) -> EvalQuestion:
    return EvalQuestion(id="q1", pdf=pdf, question="What?", answers=answers, pages=pages or [3], kind="text")


def retrieved(source: str, pages: list[int]) -> ScoredChunk:
    chunk = Chunk(chunk_id="c", document_id="d", source=source, pages=pages, position=0, text="text")
    return ScoredChunk(chunk=chunk, score=1.0)


def test_normalize_folds_case():
    assert normalize_answer("Unrestricted Relation DISCOVERY") == "unrestricted relation discovery"


def test_normalize_folds_dashes():
    assert normalize_answer("85\u201390%") == "85-90%"
    assert normalize_answer("3\u22121") == "3-1"


def test_normalize_applies_nfkc():
    assert normalize_answer("\ufb01ne \U0001d451") == "fine d"
    assert normalize_answer("１２８K") == "128k"


def test_normalize_collapses_whitespace():
    assert normalize_answer("  160\n  GB/s ") == "160 gb/s"


def test_match_ignores_citation_markers():
    assert contains_accepted_answer("The total is 146,982 [1] checks.", ["146,982 checks"])
    assert answer_text_for_matching("a [12] b [3]") == "a b"


def test_match_cuts_answer_to_600_chars():
    answer = "x" * 599 + " 87.5"
    assert not contains_accepted_answer(answer, ["87.5"])
    assert contains_accepted_answer("x" * 500 + " 87.5", ["87.5"])


def test_match_across_dash_variants():
    assert contains_accepted_answer("Acceptance rate of 85\u201390% [2]", ["85-90%"])


def test_correct_requires_abstention_when_unanswerable():
    assert is_correct(question([]), Answer(answer="The documents do not contain it.", grounded=False))
    assert not is_correct(question([]), Answer(answer="Something.", grounded=True))


def test_correct_ignores_grounded_when_answerable():
    assert is_correct(question(["671B"]), Answer(answer="It has 671b parameters.", grounded=True))
    assert not is_correct(question(["671B"]), Answer(answer="It has 37B activated.", grounded=True))


def test_evidence_hit_needs_file_and_page():
    assert is_evidence_hit(question(["x"], pages=[3, 4]), [retrieved("other.pdf", [3]), retrieved("paper.pdf", [4, 5])])
    assert not is_evidence_hit(question(["x"], pages=[3]), [retrieved("paper.pdf", [4])])
    assert not is_evidence_hit(question(["x"], pages=[3]), [retrieved("other.pdf", [3])])


def test_load_questions_reads_jsonl(tmp_path):
    path = tmp_path / "qa.jsonl"
    record = {"id": "a", "pdf": None, "question": "Why?", "answers": [], "pages": [], "kind": "unanswerable"}
    path.write_text(json.dumps(record) + "\n\n", encoding="utf-8")
    questions = load_questions(path)
    assert len(questions) == 1
    assert not questions[0].answerable


def test_load_questions_names_bad_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"id": "a", "question": "Why?"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="qa.jsonl:2"):
        load_questions(path)


def test_evaluate_on_local_store(tmp_path):
    from ragagent.agent.graph import Agent
    from ragagent.agent.offline import ExtractiveGenerator, FeedbackRewriter, OverlapGrader
    from ragagent.agent.terms import TermStatistics
    from ragagent.embedding.minilm import MiniLMEmbedder
    from ragagent.evaluation import evaluate
    from ragagent.store.local import LocalStore

    embedder = MiniLMEmbedder()
    store = LocalStore.open(tmp_path / "store", embedder)
    text = "DeepSeek-V3 is a Mixture-of-Experts model with 671B total parameters, of which 37B are activated for each token."
    chunk = Chunk(chunk_id="ds-0", document_id="ds", source="paper.pdf", pages=[3], position=0, text=text)
    store.replace_document("ds", [chunk], embedder.embed_documents([text]))
    statistics = TermStatistics.from_store(store)
    agent = Agent(store, embedder, OverlapGrader(statistics), FeedbackRewriter(statistics), ExtractiveGenerator(statistics))
    questions = [
        EvalQuestion(id="a", pdf="paper.pdf", question="How many total parameters does DeepSeek-V3 have?", answers=["671B"], pages=[3]),
        EvalQuestion(id="b", pdf="absent.pdf", question="How many layers does the absent model have?", answers=["61"], pages=[1]),
        EvalQuestion(id="c", pdf=None, question="How many GPUs trained the traffic controller?", kind="unanswerable"),
    ]

    report = evaluate(questions, agent, store, embedder)

    assert report.n == 3
    assert report.missing_pdf_count == 1
    assert report.recall_at_5 == 0.5
    assert report.answer_accuracy == 0.5
    assert report.abstention_accuracy == 1.0
    assert report.by_kind["text"].n == 2
    assert "(pdf not in store)" in report.format_text()
    assert report.summary()["missing_pdf_count"] == 1
