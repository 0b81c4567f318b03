"""Interfaces of the agent's grader, query rewriter and answer generator."""

from __future__ import annotations

from typing import Protocol, Sequence

from ragagent.models import Answer, RelevanceGrade, ScoredChunk


class RelevanceGrader(Protocol):
    def grade(self, question: str, chunks: Sequence[ScoredChunk]) -> list[RelevanceGrade]: ...


class QueryRewriter(Protocol):
    def rewrite(self, question: str, query: str, chunks: Sequence[ScoredChunk]) -> str: ...


class AnswerGenerator(Protocol):
    """Write an answer from the relevant chunks only.

    The returned `Answer` has citations and `grounded`; the agent fills `steps`.
    """

    def generate(self, question: str, chunks: Sequence[ScoredChunk]) -> Answer: ...
