"""Grader, query rewriter and answer generator backed by a LangChain chat model (Bedrock Converse or OpenAI-compatible).

Each class takes any `BaseChatModel`, so the same code runs on Bedrock and on
an OpenAI-compatible API. Structured replies use the model's tool calling
(`with_structured_output(method="function_calling")`), which Bedrock's Converse
API and most OpenAI-compatible servers support.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Sequence

from pydantic import BaseModel, Field

from ragagent.agent.prompts import GENERATOR_SYSTEM_PROMPT, GRADER_SYSTEM_PROMPT, REWRITER_SYSTEM_PROMPT, format_passages
from ragagent.errors import ProviderError
from ragagent.models import Answer, Chunk, Citation, RelevanceGrade, ScoredChunk
from ragagent.providers.errors import provider_errors

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)

STRUCTURED_OUTPUT_METHOD = "function_calling"
INLINE_CITATION = re.compile(r"\[([^\[\]\s]+)\]")
MAX_QUERY_CHARACTERS = 500


class ChunkGrade(BaseModel):
    """The relevance grade of one passage."""

    chunk_id: str = Field(description="The chunk_id of the passage, exactly as given")
    relevant: bool = Field(description="True when the passage helps answer the question")
    score: float = Field(description="Confidence from 0 to 1 that the passage helps answer the question")
    reason: str = Field(description="One short sentence")


class PassageGrades(BaseModel):
    """Relevance grades of all the passages, one per passage."""

    grades: list[ChunkGrade]


class GeneratedAnswer(BaseModel):
    """An answer written only from the given passages."""

    answer: str = Field(description="The answer, with the chunk id of each passage used in square brackets")
    cited_chunk_ids: list[str] = Field(description="Every chunk id cited in the answer")
    answerable: bool = Field(description="False when the passages do not contain the answer")


def _passages(chunks: Sequence[ScoredChunk]) -> str:
    triples = []
    for scored in chunks:
        chunk = scored.chunk
        pages = ", ".join(str(page) for page in chunk.pages)
        heading = f"{chunk.source}, page {pages}" + (f", {' > '.join(chunk.section)}" if chunk.section else "")
        triples.append((chunk.chunk_id, heading, chunk.text))
    return format_passages(triples)


def _invoke_structured(model: BaseChatModel, schema: type[BaseModel], system: str, user: str, provider: str, key_setting: str | None) -> BaseModel:
    structured = model.with_structured_output(schema, method=STRUCTURED_OUTPUT_METHOD)
    with provider_errors(provider, key_setting):
        reply = structured.invoke([("system", system), ("human", user)])
    if not isinstance(reply, schema):
        # A model that skips the tool call leaves the parser with nothing to return.
        raise ProviderError(f"{provider} returned no {schema.__name__}: the model did not call the structured-output tool")
    return reply


class LLMGrader:
    """Grade every retrieved chunk in one model call, so a query stays within the API's time budget."""

    def __init__(self, model: BaseChatModel, provider: str = "chat model", key_setting: str | None = None) -> None:
        self.model = model
        self.provider = provider
        self.key_setting = key_setting

    def grade(self, question: str, chunks: Sequence[ScoredChunk]) -> list[RelevanceGrade]:
        if not chunks:
            return []
        started = time.monotonic()
        user = f"Question: {question}\n\nPassages:\n{_passages(chunks)}"
        reply = _invoke_structured(self.model, PassageGrades, GRADER_SYSTEM_PROMPT, user, self.provider, self.key_setting)

        by_id = {grade.chunk_id: grade for grade in reply.grades}
        grades = []
        for scored in chunks:
            chunk_id = scored.chunk.chunk_id
            grade = by_id.get(chunk_id)
            if grade is None:
                logger.warning("Grader returned no grade for chunk %s: graded not relevant", chunk_id)
                grades.append(RelevanceGrade(chunk_id=chunk_id, relevant=False, score=0.0, reason="not graded by the model"))
                continue
            score = min(1.0, max(0.0, grade.score))
            grades.append(RelevanceGrade(chunk_id=chunk_id, relevant=grade.relevant, score=score, reason=grade.reason))

        relevant = sum(grade.relevant for grade in grades)
        logger.info("Graded %d chunks, %d relevant, in %.2f s", len(grades), relevant, time.monotonic() - started)
        return grades


class LLMRewriter:
    """Rewrite the search query after a retrieval that found too few relevant chunks."""

    def __init__(self, model: BaseChatModel, provider: str = "chat model", key_setting: str | None = None) -> None:
        self.model = model
        self.provider = provider
        self.key_setting = key_setting

    def rewrite(self, question: str, query: str, chunks: Sequence[ScoredChunk]) -> str:
        user = f"Question: {question}\nLast query: {query}\n\nPassages it found, none of them enough:\n{_passages(chunks) or '(none)'}"
        with provider_errors(self.provider, self.key_setting):
            reply = self.model.invoke([("system", REWRITER_SYSTEM_PROMPT), ("human", user)])

        lines = [line.strip().strip("\"'`") for line in reply.text.splitlines() if line.strip()]
        if not lines:
            logger.warning("Rewriter returned an empty query: keeping the last query")
            return query
        return lines[0][:MAX_QUERY_CHARACTERS]


class LLMGenerator:
    """Answer from the given chunks only, citing them by chunk id. `grounded` is false when the model finds no answer."""

    def __init__(self, model: BaseChatModel, provider: str = "chat model", key_setting: str | None = None) -> None:
        self.model = model
        self.provider = provider
        self.key_setting = key_setting

    def generate(self, question: str, chunks: Sequence[ScoredChunk]) -> Answer:
        if not chunks:
            return Answer(answer="The documents do not contain information to answer this question.", grounded=False)
        started = time.monotonic()
        user = f"Question: {question}\n\nPassages:\n{_passages(chunks)}"
        reply = _invoke_structured(self.model, GeneratedAnswer, GENERATOR_SYSTEM_PROMPT, user, self.provider, self.key_setting)

        citations = cite(reply, [scored.chunk for scored in chunks])
        grounded = reply.answerable and bool(citations)
        logger.info("Generated an answer with %d citations, grounded=%s, in %.2f s", len(citations), grounded, time.monotonic() - started)
        return Answer(answer=reply.answer.strip(), citations=citations if grounded else [], grounded=grounded)


def cite(reply: GeneratedAnswer, chunks: Sequence[Chunk]) -> list[Citation]:
    """Map the chunk ids the model cited (listed or inline in brackets) to citations, in order of first mention."""
    by_id = {chunk.chunk_id: chunk for chunk in chunks}
    cited_ids = [*INLINE_CITATION.findall(reply.answer), *reply.cited_chunk_ids]

    citations: list[Citation] = []
    seen: set[str] = set()
    for chunk_id in cited_ids:
        if chunk_id in seen:
            continue
        seen.add(chunk_id)
        chunk = by_id.get(chunk_id)
        if chunk is None:
            if chunk_id in reply.cited_chunk_ids:
                logger.warning("Generator cited chunk id %s, which was not among the given chunks: dropped", chunk_id)
            continue
        citations.append(Citation(document=chunk.source, page=chunk.pages[0], chunk_id=chunk_id, figure_or_table=_element_label(chunk, reply.answer)))
    return citations


def _element_label(chunk: Chunk, answer: str) -> str | None:
    """Return the label of the chunk's table or figure: the only one, or the one the answer names."""
    labels = [chunk.labels.get(element_id, element_id) for element_id in [*chunk.table_ids, *chunk.figure_ids]]
    if len(labels) == 1:
        return labels[0]
    for label in labels:
        if label.lower() in answer.lower():
            return label
    return None
