"""MiniLMEmbedder against the real int8 ONNX model."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from ragagent.embedding.minilm import DIMENSION, MAX_TOKENS, MiniLMEmbedder

FILLER_SENTENCE = "The encoder reads each token of the input and writes a hidden state for it. "


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def text_of_tokens(embedder: MiniLMEmbedder, minimum: int) -> str:
    """Repeat the filler sentence until the text has at least `minimum` tokens."""
    text = ""
    while embedder.count_tokens(text) < minimum:
        text += FILLER_SENTENCE
    return text


def test_attributes_match_model(embedder):
    assert embedder.dimension == DIMENSION == 384
    assert embedder.max_tokens == MAX_TOKENS == 256
    assert embedder.embedder_id == "minilm-l6-v2-int8-onnx/1"


def test_embed_documents_shape_dtype_norm(embedder):
    vectors = embedder.embed_documents(["A first sentence.", "A second, somewhat longer sentence about retrieval."])

    assert vectors.shape == (2, DIMENSION)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_query_shape_dtype_norm(embedder):
    vector = embedder.embed_query("what is retrieval augmented generation")

    assert vector.shape == (DIMENSION,)
    assert vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_similar_sentences_closer_than_unrelated(embedder):
    eating, bread, market = embedder.embed_documents(
        ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today."]
    )

    assert float(eating @ bread) > float(eating @ market) + 0.3
    assert float(eating @ bread) > float(bread @ market) + 0.3


def test_query_finds_matching_passage(embedder):
    passages = [
        "The model was trained on 2048 GPUs for two months.",
        "Cats sleep for most of the day and hunt at night.",
        "Heavy rain caused flooding in the city center.",
    ]
    scores = embedder.embed_documents(passages) @ embedder.embed_query("What caused the flooding?")

    assert int(np.argmax(scores)) == 2


def test_batch_order_restored(embedder):
    # Lengths differ, so sorting by length reorders them inside the embedder.
    texts = [
        "A long sentence that talks about the attention mechanism of transformer models in some detail.",
        "Short one.",
        "A medium sentence about rainfall.",
    ] * 4
    batched = embedder.embed_documents(texts)

    for index, text in enumerate(texts):
        single = embedder.embed_query(text)
        # Dynamic int8 quantization depends slightly on the batch, so rows match closely but not bit for bit.
        assert float(batched[index] @ single) > 0.99, f"row {index} does not match its text"


def test_last_sentence_changes_vector_within_limit(embedder):
    body = text_of_tokens(embedder, 200)
    first = body + "The results were measured on a cluster in Zurich."
    second = body + "Bananas are rich in potassium and grow in warm climates."
    assert embedder.count_tokens(second) <= MAX_TOKENS

    vectors = embedder.embed_documents([first, second])

    assert float(vectors[0] @ vectors[1]) < 0.999


def test_text_beyond_limit_is_truncated(embedder):
    body = text_of_tokens(embedder, MAX_TOKENS + 10)
    vectors = embedder.embed_documents([body + "Zurich.", body + "Bananas are rich in potassium."])

    assert float(vectors[0] @ vectors[1]) > 0.9999


def test_count_tokens_includes_special_tokens(embedder):
    assert embedder.count_tokens("") == 2
    assert embedder.count_tokens("hello") == 3


def test_count_tokens_not_truncated(embedder):
    text = text_of_tokens(embedder, 300)

    assert embedder.count_tokens(text) >= 300
    assert embedder.count_tokens(text) > MAX_TOKENS


def test_embed_documents_empty_list(embedder):
    vectors = embedder.embed_documents([])

    assert vectors.shape == (0, DIMENSION)
    assert vectors.dtype == np.float32


def test_embed_documents_rejects_string(embedder):
    with pytest.raises(TypeError, match="not one string"):
        embedder.embed_documents("a single text")


def test_embed_documents_rejects_non_string_item(embedder):
    with pytest.raises(TypeError, match=r"texts\[1\] must be a string"):
        embedder.embed_documents(["fine", 42])


def test_constructor_rejects_zero_batch_size():
    with pytest.raises(ValueError, match="batch_size=0"):
        MiniLMEmbedder(batch_size=0)


def test_model_load_writes_nothing_under_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    script = "from ragagent.embedding.minilm import MiniLMEmbedder; MiniLMEmbedder().embed_query('x')"

    environment = {name: value for name, value in os.environ.items() if name != "ORT_DISABLE_TELEMETRY"}
    environment["HOME"] = str(home)

    subprocess.run([sys.executable, "-c", script], env=environment, check=True, timeout=120)

    assert list(home.iterdir()) == []
