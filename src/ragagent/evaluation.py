"""Measure retrieval recall, answer accuracy and abstention on a question set.

A question set is JSON Lines, one object per line with `id`, `pdf` (the file
name holding the evidence, or null), `question`, `answers` (accepted short
answers, empty when the documents do not answer it), `pages` (1-based pages of
the evidence) and `kind`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, ValidationError

from ragagent.embedding.base import Embedder
from ragagent.models import Answer, ScoredChunk, SearchMode
from ragagent.settings import Settings
from ragagent.store.base import VectorStore

if TYPE_CHECKING:
    from ragagent.agent.graph import Agent

logger = logging.getLogger(__name__)

RECALL_K = 5
ANSWER_CHARS = 600
_DASHES = re.compile(r"[\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
_WHITESPACE = re.compile(r"\s+")
_CITATION_MARKER = re.compile(r"\s*\[\d+\]")


class EvalQuestion(BaseModel):
    id: str
    pdf: str | None = None
    question: str
    answers: list[str] = Field(default_factory=list)
    pages: list[int] = Field(default_factory=list)
    kind: str = "text"

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


class QuestionResult(BaseModel):
    id: str
    kind: str
    pdf: str | None
    pdf_in_store: bool
    answerable: bool
    hybrid_hit: bool = False
    bm25_hit: bool = False
    vector_hit: bool = False
    answer: str
    grounded: bool
    correct: bool = Field(description="Accepted answer found, or abstained on an unanswerable question")
    attempts: int
    seconds: float


class KindSummary(BaseModel):
    n: int
    recall_at_5: float | None
    correct_share: float


class EvalReport(BaseModel):
    n: int
    recall_at_5: float | None
    bm25_recall_at_5: float | None
    vector_recall_at_5: float | None
    answer_accuracy: float | None
    abstention_accuracy: float | None
    missing_pdf_count: int = Field(description="Questions whose pdf is not in the store; they count as misses")
    by_kind: dict[str, KindSummary]
    questions: list[QuestionResult]

    def summary(self) -> dict[str, float | int | None]:
        """Return the headline metrics, without the per-kind and per-question details."""
        return self.model_dump(exclude={"by_kind", "questions"})

    def format_text(self) -> str:
        return format_report(self)


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a JSON Lines question set, naming the line of any invalid record."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            questions.append(EvalQuestion.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as error:
            raise ValueError(f"{path}:{number}: invalid question record: {error}") from error
    return questions


def normalize_answer(text: str) -> str:
    """Fold compatibility forms, case, dashes and whitespace, for substring matching."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _DASHES.sub("-", text)
    return _WHITESPACE.sub(" ", text).strip()


def answer_text_for_matching(answer: str) -> str:
    """Remove citation markers such as "[2]" and cut to the first `ANSWER_CHARS` characters."""
    return _CITATION_MARKER.sub("", answer)[:ANSWER_CHARS]


def contains_accepted_answer(answer: str, accepted: Sequence[str]) -> bool:
    text = normalize_answer(answer_text_for_matching(answer))
    return any(normalize_answer(candidate) in text for candidate in accepted if candidate.strip())


def is_evidence_hit(question: EvalQuestion, retrieved: Sequence[ScoredChunk]) -> bool:
    """Tell whether a retrieved chunk comes from the question's file and one of its evidence pages."""
    pages = set(question.pages)
    return any(scored.chunk.source == question.pdf and pages.intersection(scored.chunk.pages) for scored in retrieved)


def is_correct(question: EvalQuestion, answer: Answer) -> bool:
    if question.answerable:
        return contains_accepted_answer(answer.answer, question.answers)
    return not answer.grounded


def store_file_names(store: VectorStore) -> set[str]:
    names = set()
    for document_id in store.document_ids():
        chunks = store.document_chunks(document_id)
        if chunks:
            names.add(chunks[0].source)
    return names


def evaluate_file(path: Path, settings: Settings) -> EvalReport:
    """Evaluate the agent that `settings` configures on the question set at `path`."""
    from ragagent.factory import build_agent

    questions = load_questions(path)
    agent = build_agent(settings)
    return evaluate(questions, agent, agent.store, agent.embedder)


def evaluate(questions: list[EvalQuestion], agent: Agent, store: VectorStore, embedder: Embedder) -> EvalReport:
    """Ask every question against the whole store and compute the metrics."""
    if not questions:
        raise ValueError("the question set is empty: give at least one question")
    file_names = store_file_names(store)
    results = [_evaluate_question(question, agent, store, embedder, file_names) for question in questions]
    answerable = [result for result in results if result.answerable]
    unanswerable = [result for result in results if not result.answerable]
    missing = sum(1 for question in questions if question.pdf is not None and question.pdf not in file_names)
    return EvalReport(
        n=len(results),
        recall_at_5=_share([result.hybrid_hit for result in answerable]),
        bm25_recall_at_5=_share([result.bm25_hit for result in answerable]),
        vector_recall_at_5=_share([result.vector_hit for result in answerable]),
        answer_accuracy=_share([result.correct for result in answerable]),
        abstention_accuracy=_share([result.correct for result in unanswerable]),
        missing_pdf_count=missing,
        by_kind=_summarize_by_kind(results),
        questions=results,
    )


def _evaluate_question(
    question: EvalQuestion,
    agent: Agent,
    store: VectorStore,
    embedder: Embedder,
    file_names: set[str],
) -> QuestionResult:
    query_vector = embedder.embed_query(question.question)
    hits: dict[SearchMode, bool] = {}
    for mode in ("hybrid", "bm25", "vector"):
        retrieved = store.search(question.question, query_vector, RECALL_K, mode)
        hits[mode] = question.answerable and is_evidence_hit(question, retrieved)

    started = time.perf_counter()
    answer = agent.ask(question.question)
    seconds = time.perf_counter() - started
    correct = is_correct(question, answer)
    logger.info("evaluated question_id=%s correct=%s grounded=%s seconds=%.2f", question.id, correct, answer.grounded, seconds)
    return QuestionResult(
        id=question.id,
        kind=question.kind,
        pdf=question.pdf,
        pdf_in_store=question.pdf in file_names,
        answerable=question.answerable,
        hybrid_hit=hits["hybrid"],
        bm25_hit=hits["bm25"],
        vector_hit=hits["vector"],
        answer=answer.answer,
        grounded=answer.grounded,
        correct=correct,
        attempts=len(answer.steps),
        seconds=seconds,
    )


def _share(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def _summarize_by_kind(results: Sequence[QuestionResult]) -> dict[str, KindSummary]:
    summaries = {}
    for kind in sorted({result.kind for result in results}):
        group = [result for result in results if result.kind == kind]
        answerable = [result.hybrid_hit for result in group if result.answerable]
        summaries[kind] = KindSummary(
            n=len(group),
            recall_at_5=_share(answerable),
            correct_share=_share([result.correct for result in group]) or 0.0,
        )
    return summaries


def _format_share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_report(report: EvalReport) -> str:
    """Render the report as plain text: metrics, then one block per kind, then one line per question."""
    lines = [
        f"questions: {report.n}",
        f"recall@5 (hybrid): {_format_share(report.recall_at_5)}",
        f"recall@5 (BM25): {_format_share(report.bm25_recall_at_5)}",
        f"recall@5 (vector): {_format_share(report.vector_recall_at_5)}",
        f"answer accuracy: {_format_share(report.answer_accuracy)}",
        f"abstention accuracy: {_format_share(report.abstention_accuracy)}",
        f"questions whose pdf is not in the store: {report.missing_pdf_count}",
        "",
        "by kind:",
    ]
    for kind, summary in report.by_kind.items():
        lines.append(f"  {kind}: n={summary.n} recall@5={_format_share(summary.recall_at_5)} correct={summary.correct_share:.3f}")
    lines += ["", "questions:"]
    for result in report.questions:
        status = "ok  " if result.correct else "MISS"
        hit = "hit" if result.hybrid_hit else "-  "
        missing = "" if result.pdf_in_store or result.pdf is None else " (pdf not in store)"
        preview = _WHITESPACE.sub(" ", answer_text_for_matching(result.answer))[:100]
        lines.append(f"  {status} {result.id} [{result.kind}] retrieval={hit} attempts={result.attempts}{missing}: {preview}")
    return "\n".join(lines)
