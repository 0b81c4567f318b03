"""The question-answering agent as a LangGraph state graph.

retrieve -> grade -> (generate | rewrite -> retrieve ... | abstain). The retry
budget lives in the typed state, so the loop ends after `max_retries` query
rewrites whatever the framework's recursion limit is.
"""

from __future__ import annotations

import logging
import operator
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph

from ragagent.agent.base import AnswerGenerator, QueryRewriter, RelevanceGrader
from ragagent.embedding.base import Embedder
from ragagent.errors import AgentTimeoutError
from ragagent.models import Answer, ScoredChunk, Step
from ragagent.store.base import VectorStore

logger = logging.getLogger(__name__)

NO_ANSWER_TEXT = "The documents do not contain the answer to this question."

# Supersteps per retrieval attempt (retrieve, grade, rewrite) plus slack for the
# first and last nodes. The retry budget ends the loop, so the recursion limit
# only has to stay above the superstep count that the budget allows.
_SUPERSTEPS_PER_ATTEMPT = 3
_SUPERSTEP_SLACK = 5


class AgentState(TypedDict):
    question: str
    query: str
    document_ids: list[str] | None
    deadline: float | None
    retries_left: int
    retrieved: list[ScoredChunk]
    relevant: list[ScoredChunk]
    steps: Annotated[list[Step], operator.add]
    answer: Answer | None


class AgentNodes:
    """The graph's nodes and routing, bound to the agent's providers."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        grader: RelevanceGrader,
        rewriter: QueryRewriter,
        generator: AnswerGenerator,
        top_k: int,
        min_relevant: int,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.grader = grader
        self.rewriter = rewriter
        self.generator = generator
        self.top_k = top_k
        self.min_relevant = min_relevant

    def retrieve(self, state: AgentState) -> dict[str, Any]:
        _check_deadline(state, "retrieve")
        query_vector = self.embedder.embed_query(state["query"])
        retrieved = self.store.search(state["query"], query_vector, self.top_k, "hybrid", state["document_ids"])
        return {"retrieved": retrieved}

    def grade(self, state: AgentState) -> dict[str, Any]:
        _check_deadline(state, "grade")
        retrieved = state["retrieved"]
        grades = self.grader.grade(state["question"], retrieved)
        relevant_ids = {grade.chunk_id for grade in grades if grade.relevant}
        relevant = [scored for scored in retrieved if scored.chunk.chunk_id in relevant_ids]
        rewritten_from = state["question"] if state["query"] != state["question"] else None
        step = Step(query=state["query"], grades=grades, rewritten_from=rewritten_from)
        logger.info("graded retrieved=%d relevant=%d retries_left=%d", len(retrieved), len(relevant), state["retries_left"])
        return {"relevant": relevant, "steps": [step]}

    def rewrite(self, state: AgentState) -> dict[str, Any]:
        _check_deadline(state, "rewrite")
        query = self.rewriter.rewrite(state["question"], state["query"], state["retrieved"])
        return {"query": query, "retries_left": state["retries_left"] - 1}

    def generate(self, state: AgentState) -> dict[str, Any]:
        _check_deadline(state, "generate")
        return {"answer": self.generator.generate(state["question"], state["relevant"])}

    def abstain(self, state: AgentState) -> dict[str, Any]:
        return {"answer": Answer(answer=NO_ANSWER_TEXT, grounded=False)}

    def route_after_grade(self, state: AgentState) -> Literal["generate", "rewrite", "abstain"]:
        if len(state["relevant"]) >= self.min_relevant:
            return "generate"
        if state["retries_left"] > 0:
            return "rewrite"
        return "abstain"


def build_graph(nodes: AgentNodes) -> Any:
    """Compile the agent's graph. `Agent` calls this once per instance."""
    graph = StateGraph(AgentState)
    graph.add_node("retrieve", nodes.retrieve)
    graph.add_node("grade", nodes.grade)
    graph.add_node("rewrite", nodes.rewrite)
    graph.add_node("generate", nodes.generate)
    graph.add_node("abstain", nodes.abstain)

    graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", "grade")
    graph.add_conditional_edges("grade", nodes.route_after_grade)
    graph.add_edge("rewrite", "retrieve")
    graph.add_edge("generate", END)
    graph.add_edge("abstain", END)
    return graph.compile()


class Agent:
    """Answer questions from the store: retrieve, grade, rewrite and retry, generate."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        grader: RelevanceGrader,
        rewriter: QueryRewriter,
        generator: AnswerGenerator,
        top_k: int = 5,
        max_retries: int = 2,
        min_relevant: int = 1,
    ) -> None:
        if top_k < 1:
            raise ValueError(f"top_k={top_k} is invalid: retrieve at least 1 chunk")
        if max_retries < 0:
            raise ValueError(f"max_retries={max_retries} is invalid: it must be 0 or more")
        if not 1 <= min_relevant <= top_k:
            raise ValueError(f"min_relevant={min_relevant} is invalid: it must be between 1 and top_k={top_k}")
        self.store = store
        self.embedder = embedder
        self.max_retries = max_retries
        self._nodes = AgentNodes(store, embedder, grader, rewriter, generator, top_k, min_relevant)
        self._graph = build_graph(self._nodes)
        self._recursion_limit = _SUPERSTEPS_PER_ATTEMPT * (max_retries + 1) + _SUPERSTEP_SLACK

    def ask(self, question: str, document_ids: Sequence[str] | None = None, deadline: float | None = None) -> Answer:
        """Answer `question` from the chunks of `document_ids`, or of every document when it is None.

        `deadline` is a `time.monotonic()` value. Raises `AgentTimeoutError` when it
        passes before the answer is generated.
        """
        question = question.strip()
        if not question:
            raise ValueError("question is empty: ask a question in words")
        initial: AgentState = {
            "question": question,
            "query": question,
            "document_ids": list(document_ids) if document_ids is not None else None,
            "deadline": deadline,
            "retries_left": self.max_retries,
            "retrieved": [],
            "relevant": [],
            "steps": [],
            "answer": None,
        }
        started = time.perf_counter()
        final = self._graph.invoke(initial, config={"recursion_limit": self._recursion_limit})
        answer: Answer = final["answer"]
        answer = answer.model_copy(update={"steps": final["steps"]})
        logger.info(
            "answered attempts=%d grounded=%s citations=%d seconds=%.2f",
            len(answer.steps),
            answer.grounded,
            len(answer.citations),
            time.perf_counter() - started,
        )
        return answer


def _check_deadline(state: AgentState, node: str) -> None:
    deadline = state["deadline"]
    if deadline is not None and time.monotonic() >= deadline:
        raise AgentTimeoutError(f"agent timed out: the deadline passed before the {node} step, so no answer was generated")
