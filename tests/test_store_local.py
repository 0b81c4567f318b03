"""LocalStore on a temporary directory, with vectors from the real MiniLM model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ragagent.embedding.minilm import MiniLMEmbedder
from ragagent.errors import EmbedderMismatchError
from ragagent.models import Chunk
from ragagent.store.local import InvalidStoreError, LocalStore
from ragagent.store.ranking import HYBRID_RRF_K, HYBRID_WEIGHTS, fuse_reciprocal_rank

REPO_ROOT = Path(__file__).resolve().parent.parent


class OtherEmbedder(MiniLMEmbedder):
    """The same model under another id, as a store built by another embedder would record."""

    embedder_id = "other-embedder/2"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture
def store(tmp_path, embedder) -> LocalStore:
    return LocalStore.open(tmp_path / "store", embedder)


def make_chunks(document_id: str, texts: list[str], source: str = "paper.pdf") -> list[Chunk]:
    return [
        Chunk(chunk_id=f"{document_id}-{position}", document_id=document_id, source=source, pages=[position + 1], position=position, text=text)
        for position, text in enumerate(texts)
    ]


def add_document(store: LocalStore, embedder: MiniLMEmbedder, document_id: str, texts: list[str]) -> list[Chunk]:
    chunks = make_chunks(document_id, texts)
    store.replace_document(document_id, chunks, embedder.embed_documents(texts))
    return chunks


def search_ids(store: LocalStore, embedder: MiniLMEmbedder, query: str, mode: str = "hybrid", **options) -> list[str]:
    results = store.search(query, embedder.embed_query(query), top_k=options.pop("top_k", 5), mode=mode, **options)
    return [result.chunk.chunk_id for result in results]


def test_open_writes_manifest(tmp_path, embedder):
    LocalStore.open(tmp_path / "store", embedder)
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())

    assert manifest["embedder_id"] == embedder.embedder_id
    assert manifest["dimension"] == 384
    assert manifest["format_version"] == 1


def test_open_rejects_other_embedder(tmp_path, embedder):
    LocalStore.open(tmp_path / "store", embedder)

    with pytest.raises(EmbedderMismatchError) as raised:
        LocalStore.open(tmp_path / "store", OtherEmbedder())

    message = str(raised.value)
    assert embedder.embedder_id in message
    assert "other-embedder/2" in message
    assert "new store" in message


def test_open_rejects_non_store_directory(tmp_path, embedder):
    (tmp_path / "notes.txt").write_text("not a store")

    with pytest.raises(InvalidStoreError, match="not a store"):
        LocalStore.open(tmp_path, embedder)


def test_open_rejects_file_path(tmp_path, embedder):
    path = tmp_path / "file"
    path.write_text("x")

    with pytest.raises(InvalidStoreError, match="not a directory"):
        LocalStore.open(path, embedder)


def test_open_rejects_newer_format(tmp_path, embedder):
    LocalStore.open(tmp_path / "store", embedder)
    manifest_path = tmp_path / "store" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))

    with pytest.raises(InvalidStoreError, match="format version 99"):
        LocalStore.open(tmp_path / "store", embedder)


def test_persistence_across_reopen(tmp_path, embedder):
    path = tmp_path / "store"
    first = LocalStore.open(path, embedder)
    chunks = add_document(first, embedder, "doc-a", ["The pump needs a new gasket.", "The valve is rated for 16 bar."])

    reopened = LocalStore.open(path, embedder)

    assert reopened.document_ids() == ["doc-a"]
    assert reopened.document_chunks("doc-a") == chunks
    assert search_ids(reopened, embedder, "valve pressure rating")[0] == "doc-a-1"


def test_replace_leaves_no_old_chunk(store, embedder):
    add_document(store, embedder, "doc-a", ["Old text about zeppelins.", "More old text about zeppelins.", "A third old part."])
    new_chunks = add_document(store, embedder, "doc-a", ["New text about submarines."])

    assert store.document_chunks("doc-a") == new_chunks
    assert search_ids(store, embedder, "zeppelins", mode="bm25") == []
    assert search_ids(store, embedder, "zeppelins", mode="vector") == ["doc-a-0"]


def test_replace_keeps_other_documents(store, embedder):
    add_document(store, embedder, "doc-a", ["Text of the first document."])
    kept = add_document(store, embedder, "doc-b", ["Text of the second document."])
    add_document(store, embedder, "doc-a", ["Replacement text."])

    assert store.document_chunks("doc-b") == kept
    assert store.document_ids() == ["doc-a", "doc-b"]


def test_replace_failure_keeps_old_document(store, embedder, monkeypatch):
    old = add_document(store, embedder, "doc-a", ["The original text."])

    def fail_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        add_document(store, embedder, "doc-a", ["A new text.", "That never lands."])
    monkeypatch.undo()

    assert store.document_chunks("doc-a") == old
    assert list((store.path / "documents").glob(".*")) == []


def test_replace_with_no_chunks_deletes(store, embedder):
    add_document(store, embedder, "doc-a", ["Some text."])

    store.replace_document("doc-a", [], np.zeros((0, 384), dtype=np.float32))

    assert store.document_ids() == []


def test_delete_returns_count(store, embedder):
    add_document(store, embedder, "doc-a", ["One.", "Two.", "Three."])
    add_document(store, embedder, "doc-b", ["Other document."])

    assert store.delete_document("doc-a") == 3
    assert store.delete_document("doc-a") == 0
    assert store.document_ids() == ["doc-b"]
    assert store.document_chunks("doc-a") == []


def test_delete_removes_from_search(store, embedder):
    add_document(store, embedder, "doc-a", ["Zeppelins float on hydrogen."])
    store.delete_document("doc-a")

    assert search_ids(store, embedder, "zeppelins hydrogen") == []


def test_filter_by_document_ids(store, embedder):
    add_document(store, embedder, "doc-a", ["Gaskets seal the pump housing."])
    add_document(store, embedder, "doc-b", ["Gaskets seal the valve housing."])
    add_document(store, embedder, "doc-c", ["Gaskets seal the engine housing."])

    for mode in ("hybrid", "bm25", "vector"):
        ids = search_ids(store, embedder, "gaskets", mode=mode, document_ids=["doc-b", "doc-c"])
        assert sorted(ids) == ["doc-b-0", "doc-c-0"], mode


def test_filter_with_unknown_id_returns_nothing(store, embedder):
    add_document(store, embedder, "doc-a", ["Gaskets seal the pump housing."])

    assert search_ids(store, embedder, "gaskets", document_ids=["missing"]) == []
    assert search_ids(store, embedder, "gaskets", document_ids=[]) == []


def test_hybrid_beats_vector_ranker(store, embedder):
    # The relevant chunk is second for both rankers, while each ranker puts a different wrong chunk first:
    # a keyword-rich chunk about a fashion model for BM25 and a paraphrased question for the vectors.
    # BM25 weighs more in the fusion, so its first chunk may stay first, but the relevant chunk
    # must rise above the vector ranker's paraphrase and into the top 2.
    relevant = "Our model was trained for two months on 2048 GPUs with a data mix of web text, source code and math problems."
    texts = [
        relevant,
        "How much time did the network need to learn?",
        "Backstage at the autumn show in Milan, a fashion model trained long hours; the long runway had red carpets, "
        "bright lights, photographers, and loud music playing all evening until midnight.",
        "Neural networks learn from examples over many epochs.",
        "How many epochs does a neural network need?",
        "Cats sleep for most of the day and hunt at night.",
        "Heavy rain caused flooding in the city center.",
    ]
    add_document(store, embedder, "doc-a", texts)
    query = "How long was the model trained?"

    bm25_first = search_ids(store, embedder, query, mode="bm25")[0]
    vector_first = search_ids(store, embedder, query, mode="vector")[0]
    hybrid = search_ids(store, embedder, query, mode="hybrid")

    assert bm25_first != "doc-a-0"
    assert vector_first != "doc-a-0"
    assert "doc-a-0" in hybrid[:2]
    assert hybrid.index("doc-a-0") < hybrid.index(vector_first)


def test_hybrid_result_fields(store, embedder):
    add_document(store, embedder, "doc-a", ["The pump needs a new gasket.", "Cats sleep all day."])
    query = "pump gasket"

    result = store.search(query, embedder.embed_query(query), top_k=2)[0]

    assert result.chunk.chunk_id == "doc-a-0"
    assert result.bm25_rank == 1
    assert result.vector_rank == 1
    assert result.bm25_score > 0
    assert 0 < result.vector_score <= 1
    assert result.score == pytest.approx(sum(HYBRID_WEIGHTS) / (HYBRID_RRF_K + 1))


def test_fusion_default_weights_equal():
    fused = fuse_reciprocal_rank([[1, 2], [2, 1]])

    assert fused[0][1] == pytest.approx(fused[1][1])
    assert [item for item, _ in fused] == [1, 2]


def test_fusion_weight_favors_ranking():
    fused = fuse_reciprocal_rank([[1, 2], [2, 1]], k=5, weights=(3.0, 1.0))

    assert [item for item, _ in fused] == [1, 2]
    assert fused[0][1] == pytest.approx(3 / 6 + 1 / 7)


def test_fusion_weight_count_checked():
    with pytest.raises(ValueError, match="one weight per ranking"):
        fuse_reciprocal_rank([[1], [2]], weights=(1.0,))


def test_fusion_negative_weight_rejected():
    with pytest.raises(ValueError, match="0 or more"):
        fuse_reciprocal_rank([[1], [2]], weights=(1.0, -1.0))


def test_bm25_mode_returns_matches_only(store, embedder):
    add_document(store, embedder, "doc-a", ["The pump needs a new gasket.", "Cats sleep all day."])
    query = "gasket"

    results = store.search(query, embedder.embed_query(query), top_k=5, mode="bm25")

    assert [result.chunk.chunk_id for result in results] == ["doc-a-0"]
    assert results[0].score == results[0].bm25_score
    assert results[0].vector_score is None


def test_vector_mode_scores_are_cosine(store, embedder):
    texts = ["The pump needs a new gasket.", "Cats sleep all day."]
    add_document(store, embedder, "doc-a", texts)
    query_vector = embedder.embed_query("pump repair")

    results = store.search("pump repair", query_vector, top_k=5, mode="vector")
    expected = embedder.embed_documents(texts) @ query_vector

    assert [result.chunk.chunk_id for result in results] == ["doc-a-0", "doc-a-1"]
    assert results[0].score == pytest.approx(float(expected[0]), abs=1e-5)
    assert results[0].bm25_score is None


def test_top_k_limits_results(store, embedder):
    add_document(store, embedder, "doc-a", [f"Sentence number {n} about pumps." for n in range(10)])

    assert len(search_ids(store, embedder, "pumps", top_k=3)) == 3


def test_cjk_query_finds_japanese_chunk(store, embedder):
    add_document(
        store,
        embedder,
        "doc-a",
        [
            "The pump needs a new gasket.",
            "東京大学の研究チームは新しい学習手法を開発した。",
            "大雨により市の中心部で洪水が発生した。",
        ],
    )

    assert search_ids(store, embedder, "学習手法", mode="bm25") == ["doc-a-1"]
    assert search_ids(store, embedder, "学習手法")[0] == "doc-a-1"


def test_german_query_finds_inflected_form(store, embedder):
    add_document(store, embedder, "doc-a", ["Die Messungen der Temperatur wurden täglich wiederholt.", "The pump needs a new gasket."])

    assert search_ids(store, embedder, "Wie wurde die Messung wiederholt?", mode="bm25")[0] == "doc-a-0"


def test_write_by_other_process_visible(tmp_path, embedder):
    path = tmp_path / "store"
    reader = LocalStore.open(path, embedder)
    assert reader.document_ids() == []
    script = textwrap.dedent(
        f"""
        import numpy as np
        from pathlib import Path
        from ragagent.embedding.minilm import MiniLMEmbedder
        from ragagent.models import Chunk
        from ragagent.store.local import LocalStore

        store = LocalStore.open(Path({str(path)!r}), MiniLMEmbedder())
        chunk = Chunk(chunk_id="doc-x-0", document_id="doc-x", source="x.pdf", pages=[1], position=0, text="Written elsewhere.")
        vector = np.ones((1, 384), dtype=np.float32)
        store.replace_document("doc-x", [chunk], vector)
        """
    )

    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, cwd=REPO_ROOT)

    assert reader.document_ids() == ["doc-x"]
    assert [chunk.text for chunk in reader.document_chunks("doc-x")] == ["Written elsewhere."]


def test_replace_rejects_wrong_vector_shape(store, embedder):
    chunks = make_chunks("doc-a", ["One.", "Two."])

    with pytest.raises(ValueError, match=r"shape \(1, 384\), expected \(2, 384\)"):
        store.replace_document("doc-a", chunks, embedder.embed_documents(["One."]))


def test_replace_rejects_chunk_of_other_document(store, embedder):
    chunks = make_chunks("doc-b", ["One."])

    with pytest.raises(ValueError, match="belongs to document doc-b, not to doc-a"):
        store.replace_document("doc-a", chunks, embedder.embed_documents(["One."]))


def test_replace_rejects_duplicate_chunk_ids(store, embedder):
    chunk = make_chunks("doc-a", ["One."])[0]

    with pytest.raises(ValueError, match="appears twice"):
        store.replace_document("doc-a", [chunk, chunk], embedder.embed_documents(["One.", "One."]))


def test_replace_rejects_unsafe_document_id(store, embedder):
    with pytest.raises(ValueError, match="document id '../escape' is invalid"):
        store.replace_document("../escape", make_chunks("../escape", ["One."]), embedder.embed_documents(["One."]))


def test_search_rejects_wrong_query_dimension(store, embedder):
    add_document(store, embedder, "doc-a", ["One."])

    with pytest.raises(ValueError, match="query vector has 10 values, expected 384"):
        store.search("one", np.ones(10, dtype=np.float32), top_k=1)


def test_search_rejects_unknown_mode(store, embedder):
    with pytest.raises(ValueError, match="mode='fuzzy' is not a search mode"):
        store.search("one", embedder.embed_query("one"), top_k=1, mode="fuzzy")


def test_search_rejects_zero_top_k(store, embedder):
    with pytest.raises(ValueError, match="top_k=0"):
        store.search("one", embedder.embed_query("one"), top_k=0)


def test_search_empty_store(store, embedder):
    assert search_ids(store, embedder, "anything") == []


def test_damaged_file_reported_and_deletable(store, embedder):
    add_document(store, embedder, "doc-a", ["Some text."])
    (store.path / "documents" / "doc-a.npz").write_bytes(b"not an archive")

    with pytest.raises(InvalidStoreError, match="doc-a.npz: damaged document file"):
        store.document_ids()
    assert store.delete_document("doc-a") == 0
    assert store.document_ids() == []
