"""The agent's graph: retrieval, grading, bounded rewrites, abstention and deadline."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from ragagent.agent.graph import NO_ANSWER_TEXT, Agent
from ragagent.agent.offline import ExtractiveGenerator, FeedbackRewriter, OverlapGrader
from ragagent.agent.terms import TermStatistics
from ragagent.embedding.minilm import MiniLMEmbedder
from ragagent.errors import AgentTimeoutError
from ragagent.models import Answer, Chunk, ScoredChunk
from ragagent.store.local import LocalStore

TEXTS = {
    "kimi-1": "Kimi Linear is a hybrid linear attention architecture. It reduces KV cache usage by up to 75% compared with full attention.",
    "kimi-2": "Kimi Linear interleaves Kimi Delta Attention and MLA layers in a 3:1 ratio. The model has 48B total parameters.",
    "deepseek-1": "DeepSeek-V3 is a Mixture-of-Experts model with 671B total parameters, of which 37B are activated for each token.",
    "bread-1": "Bread dough rises when yeast ferments sugar. Bake the loaf at a high temperature until the crust is brown.",
    "bread-2": "Sourdough starter needs flour and water every day. A warm kitchen makes the starter active.",
}


class RecordingGenerator(ExtractiveGenerator):
    """The extractive generator, keeping the chunks it was given."""

    def __init__(self, statistics: TermStatistics) -> None:
        super().__init__(statistics)
        self.received: list[list[str]] = []

    def generate(self, question: str, chunks: Sequence[ScoredChunk]) -> Answer:
        self.received.append([scored.chunk.chunk_id for scored in chunks])
        return super().generate(question, chunks)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def store(embedder: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore.open(tmp_path_factory.mktemp("store"), embedder)
    documents: dict[str, list[Chunk]] = {}
    for chunk_id, text in TEXTS.items():
        document_id = chunk_id.split("-")[0]
        chunks = documents.setdefault(document_id, [])
        chunks.append(Chunk(chunk_id=chunk_id, document_id=document_id, source=f"{document_id}.pdf", pages=[1], position=len(chunks), text=text))
    for document_id, chunks in documents.items():
        store.replace_document(document_id, chunks, embedder.embed_documents([chunk.text for chunk in chunks]))
    return store


@pytest.fixture(scope="module")
def statistics(store: LocalStore) -> TermStatistics:
    return TermStatistics.from_store(store)


def make_agent(store, embedder, statistics, grader_threshold: float = 0.35, **options) -> tuple[Agent, RecordingGenerator]:
    generator = RecordingGenerator(statistics)
    grader = OverlapGrader(statistics, threshold=grader_threshold)
    agent = Agent(store, embedder, grader, FeedbackRewriter(statistics), generator, top_k=3, **options)
    return agent, generator


def test_agent_answers_from_relevant_chunks(store, embedder, statistics):
    agent, generator = make_agent(store, embedder, statistics)
    answer = agent.ask("How many total parameters does the DeepSeek-V3 model have?")
    relevant = [grade.chunk_id for grade in answer.steps[-1].grades if grade.relevant]
    assert answer.grounded
    assert "671B" in answer.answer
    assert generator.received == [relevant]
    assert "bread-1" not in relevant
    assert {citation.chunk_id for citation in answer.citations} <= set(relevant)


def test_agent_records_one_step_per_attempt(store, embedder, statistics):
    agent, _ = make_agent(store, embedder, statistics)
    answer = agent.ask("How many total parameters does the DeepSeek-V3 model have?")
    assert len(answer.steps) == 1
    assert answer.steps[0].query == "How many total parameters does the DeepSeek-V3 model have?"
    assert answer.steps[0].rewritten_from is None
    assert len(answer.steps[0].grades) == 3


def test_agent_retries_up_to_budget(store, embedder, statistics):
    question = "How long should sourdough bread rest?"
    agent, generator = make_agent(store, embedder, statistics, grader_threshold=1.01, max_retries=2)
    answer = agent.ask(question)
    assert len(answer.steps) == 3
    assert answer.steps[0].query == question
    assert all(step.rewritten_from == question for step in answer.steps[1:])
    assert all(step.query.startswith(question + " ") for step in answer.steps[1:])
    assert generator.received == []


def test_agent_zero_retries_tries_once(store, embedder, statistics):
    agent, _ = make_agent(store, embedder, statistics, grader_threshold=1.01, max_retries=0)
    assert len(agent.ask("What is sourdough?").steps) == 1


def test_agent_large_budget_not_cut_by_recursion_limit(store, embedder, statistics):
    agent, _ = make_agent(store, embedder, statistics, grader_threshold=1.01, max_retries=12)
    assert len(agent.ask("What is sourdough?").steps) == 13


def test_agent_abstains_when_nothing_relevant(store, embedder, statistics):
    agent, _ = make_agent(store, embedder, statistics, grader_threshold=1.01)
    answer = agent.ask("By how much did the traffic signal controller reduce vehicle delay?")
    assert not answer.grounded
    assert answer.answer == NO_ANSWER_TEXT
    assert answer.citations == []


def default_agent(store, embedder, statistics) -> Agent:
    """The agent with the tuned grader and generator settings."""
    return Agent(store, embedder, OverlapGrader(statistics), FeedbackRewriter(statistics), ExtractiveGenerator(statistics), top_k=3)


def test_agent_default_grader_rewrites_off_topic_question(store, embedder, statistics):
    answer = default_agent(store, embedder, statistics).ask("By how much did the traffic signal controller reduce vehicle delay?")
    assert len(answer.steps) == 3
    assert not any(grade.relevant for step in answer.steps for grade in step.grades)
    assert not answer.grounded


def test_agent_default_grader_passes_answerable_question(store, embedder, statistics):
    answer = default_agent(store, embedder, statistics).ask("By how much does Kimi Linear reduce KV cache usage?")
    assert len(answer.steps) == 1
    assert answer.grounded
    assert "75%" in answer.answer


def test_agent_abstains_when_fact_missing(store, embedder, statistics):
    agent, _ = make_agent(store, embedder, statistics)
    answer = agent.ask("How many GPUs were used to pretrain the Kimi Linear 48B model?")
    assert not answer.grounded
    assert answer.citations == []


def test_agent_filters_by_document(store, embedder, statistics):
    agent, _ = make_agent(store, embedder, statistics)
    answer = agent.ask("How many total parameters does the model have?", document_ids=["kimi"])
    chunk_ids = [grade.chunk_id for step in answer.steps for grade in step.grades]
    assert chunk_ids
    assert all(chunk_id.startswith("kimi") for chunk_id in chunk_ids)


def test_agent_past_deadline_raises(store, embedder, statistics):
    agent, generator = make_agent(store, embedder, statistics)
    with pytest.raises(AgentTimeoutError):
        agent.ask("What is Kimi Linear?", deadline=time.monotonic() - 1)
    assert generator.received == []


def test_agent_rejects_empty_question(store, embedder, statistics):
    agent, _ = make_agent(store, embedder, statistics)
    with pytest.raises(ValueError, match="question is empty"):
        agent.ask("   ")


def test_agent_rejects_min_relevant_above_top_k(store, embedder, statistics):
    with pytest.raises(ValueError, match="min_relevant"):
        make_agent(store, embedder, statistics, min_relevant=4)
