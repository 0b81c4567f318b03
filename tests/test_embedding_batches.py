"""MiniLMEmbedder's batch plan and its parallel model calls, against the real model."""

from __future__ import annotations

import numpy as np
import pytest

from ragagent.embedding.minilm import MiniLMEmbedder, plan_batches

LENGTHS = [120, 8, 256, 30, 30, 200, 12, 250, 90, 8]


def test_plan_batches_covers_each_index_once():
    batches = plan_batches(LENGTHS, max_texts=4, max_tokens=512)

    flat = [index for batch in batches for index in batch]
    assert sorted(flat) == list(range(len(LENGTHS)))


def test_plan_batches_shortest_first():
    batches = plan_batches(LENGTHS, max_texts=4, max_tokens=512)

    flat_lengths = [LENGTHS[index] for batch in batches for index in batch]
    assert flat_lengths == sorted(LENGTHS)


def test_plan_batches_respects_limits():
    batches = plan_batches(LENGTHS, max_texts=3, max_tokens=300)

    for batch in batches:
        assert len(batch) <= 3
        padded = max(LENGTHS[index] for index in batch) * len(batch)
        assert padded <= 300 or len(batch) == 1


def test_plan_batches_long_text_alone():
    batches = plan_batches([300, 10, 20], max_texts=8, max_tokens=256)

    assert batches == [[1, 2], [0]]


def test_plan_batches_empty():
    assert plan_batches([], max_texts=8, max_tokens=512) == []


def test_constructor_rejects_zero_batch_tokens():
    with pytest.raises(ValueError, match="batch_tokens=0"):
        MiniLMEmbedder(batch_tokens=0)


def test_parallel_vectors_match_serial():
    texts = [f"Sentence {number} is about {'attention ' * number}in transformer models." for number in range(1, 40)]
    serial = MiniLMEmbedder(threads=1, batch_size=2)
    parallel = MiniLMEmbedder(threads=2, batch_size=2)

    serial_vectors = serial.embed_documents(texts)
    parallel_vectors = parallel.embed_documents(texts)

    assert serial_vectors.shape == (len(texts), 384)
    assert np.allclose(serial_vectors, parallel_vectors, atol=1e-6)


def test_batched_rows_match_single_texts():
    texts = ["Short.", "A somewhat longer sentence about rainfall in the mountains.", "Mid-length text on GPUs."] * 3
    embedder = MiniLMEmbedder(batch_size=4)

    batched = embedder.embed_documents(texts)

    for index, text in enumerate(texts):
        assert float(batched[index] @ embedder.embed_query(text)) > 0.9999, f"row {index} does not match its text"
