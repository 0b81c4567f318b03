"""Chunks of a real paper reach the embedder whole: the tail of the longest chunk counts."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import DOCUMENTS_DIR
from ragagent.describe.offline import OfflineDescriber
from ragagent.embedding.minilm import MiniLMEmbedder
from ragagent.ingest import document_ref_for
from ragagent.parsing.local import LocalParser
from ragagent.pipeline.chunk import chunk_document
from ragagent.pipeline.describe import describe_document
from ragagent.pipeline.reindex import reindex_batches
from ragagent.pipeline.split import split_pdf

KIMI = DOCUMENTS_DIR / "paper_kimi_linear_technical_report.pdf"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def kimi_chunks(embedder):
    document = document_ref_for(KIMI)
    split = split_pdf(KIMI.read_bytes(), document, batch_size=8, max_pages=None)
    parser = LocalParser()
    parsed = reindex_batches(document, [(batch.first_page, parser.parse(batch)) for batch in split.batches[:2]])
    described = describe_document(parsed, OfflineDescriber())
    return chunk_document(described, embedder.count_tokens, embedder.max_tokens)


def test_real_chunks_fit_embedder_limit(kimi_chunks, embedder):
    counts = [embedder.count_tokens(chunk.text) for chunk in kimi_chunks]

    assert kimi_chunks
    assert max(counts) <= embedder.max_tokens


def test_longest_chunk_tail_changes_vector(kimi_chunks, embedder):
    longest = max(kimi_chunks, key=lambda chunk: embedder.count_tokens(chunk.text))
    sentences = re.split(r"(?<=[.!?])\s+", longest.text.strip())
    edited = " ".join(sentences[:-1] + ["The final sentence now reports an entirely different result about llamas."])
    original_vector, edited_vector = embedder.embed_documents([longest.text, edited])

    assert embedder.count_tokens(longest.text) > 200
    assert len(sentences) > 1
    assert not np.allclose(original_vector, edited_vector, atol=1e-4)
