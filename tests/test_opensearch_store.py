"""OpenSearchStore against a real OpenSearch with the k-NN plugin.

The server URL comes from RAGAGENT_OPENSEARCH_URL. Without it, the session
starts one with scripts/opensearch-local and stops it afterwards. When the
server cannot be had, the tests skip, or fail when CI=true. Indexes use the
lucene engine because the k-NN plugin from Maven Central ships no native
faiss or nmslib libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest
from opensearchpy import OpenSearch

from opensearch_proxy import ServerlessProxy
from ragagent.embedding.minilm import MiniLMEmbedder
from ragagent.errors import ConfigurationError, EmbedderMismatchError
from ragagent.models import Chunk
from ragagent.store.opensearch import (
    IndexingError,
    OpenSearchStore,
    cosine_from_score,
    index_body,
    parse_opensearch_url,
)
from ragagent.store.ranking import HYBRID_RRF_K, HYBRID_WEIGHTS

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "opensearch-local"
TEST_ENGINE = "lucene"
SERVERLESS_REFRESH_INTERVAL = "2s"
"""Refresh interval of the Serverless-mode index, so new writes stay unsearchable for a while as on Serverless."""

TEXTS_A = [
    "The transformer architecture relies on self-attention to model long-range dependencies in sequences.",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "Graphene exhibits remarkable electrical conductivity and mechanical strength at the atomic scale.",
]
TEXTS_B = [
    "Table 2 reports the mean absolute error of each regression model on the held-out test set.",
    "機械学習モデルの評価には交差検証が用いられる。",
]


class RenamedEmbedder:
    """The MiniLM embedder under another id, to open an index built by a different embedder."""

    def __init__(self, inner: MiniLMEmbedder, embedder_id: str) -> None:
        self.embedder_id = embedder_id
        self.dimension = inner.dimension
        self.max_tokens = inner.max_tokens
        self._inner = inner

    def count_tokens(self, text: str) -> int:
        return self._inner.count_tokens(text)

    def embed_documents(self, texts):
        return self._inner.embed_documents(texts)

    def embed_query(self, text: str):
        return self._inner.embed_query(text)


def _server_failure(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def opensearch_url():
    url = os.environ.get("RAGAGENT_OPENSEARCH_URL")
    if url:
        yield url.rstrip("/")
        return
    status = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True)
    already_running = status.returncode == 0
    started = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        _server_failure(f"scripts/opensearch-local start failed: {started.stderr.strip()[-2000:]}")
    yield started.stdout.strip()
    if not already_running:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, text=True)


@pytest.fixture(scope="session")
def admin(opensearch_url) -> OpenSearch:
    """A client straight to the server, for checks that bypass the store."""
    location = parse_opensearch_url(f"{opensearch_url}/unused")
    return OpenSearch(hosts=[{"host": location.host, "port": location.port}], timeout=30)


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture
def index_name(admin):
    name = f"ragagent-test-{uuid.uuid4().hex[:10]}"
    yield name
    admin.indices.delete(index=name, ignore_unavailable=True)


@pytest.fixture
def store(opensearch_url, index_name, embedder) -> OpenSearchStore:
    return OpenSearchStore.open(f"{opensearch_url}/{index_name}", embedder, engine=TEST_ENGINE)


@pytest.fixture
def proxy(opensearch_url):
    server = ServerlessProxy(opensearch_url).start()
    yield server
    server.stop()


def make_chunks(document_id: str, texts: list[str], prefix: str = "c") -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{prefix}{position}",
            document_id=document_id,
            source=f"{document_id}.pdf",
            pages=[position + 1],
            section=["Results"],
            table_ids=["tbl-2.html"] if "Table 2" in text else [],
            labels={"tbl-2.html": "Table 2"} if "Table 2" in text else {},
            position=position,
            text=text,
        )
        for position, text in enumerate(texts)
    ]


def ingest(store: OpenSearchStore, embedder: MiniLMEmbedder, document_id: str, texts: list[str], prefix: str = "c") -> list[Chunk]:
    chunks = make_chunks(document_id, texts, prefix)
    store.replace_document(document_id, chunks, embedder.embed_documents([chunk.text for chunk in chunks]))
    return chunks


def stored_records(admin: OpenSearch, index: str, document_id: str) -> list[dict]:
    """Every record of a document on the server, searchable or not yet, after a refresh."""
    admin.indices.refresh(index=index)
    response = admin.search(index=index, body={"size": 1000, "query": {"term": {"document_id": document_id}}, "_source": {"excludes": ["vector"]}})
    return [hit["_source"] for hit in response["hits"]["hits"]]


def search(store: OpenSearchStore, embedder: MiniLMEmbedder, query: str, **options):
    return store.search(query, embedder.embed_query(query), options.pop("top_k", 5), **options)


# URL parsing


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:9200/chunks", ("http", "localhost", 9200, "chunks")),
        ("https://search-x.eu-west-1.es.amazonaws.com/rag-index", ("https", "search-x.eu-west-1.es.amazonaws.com", 443, "rag-index")),
        ("http://127.0.0.1/idx/", ("http", "127.0.0.1", 80, "idx")),
    ],
)
def test_opensearch_url_parsed(url, expected):
    location = parse_opensearch_url(url)
    assert (location.scheme, location.host, location.port, location.index) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://host/index", "scheme"),
        ("http://host:9200", "index name is missing"),
        ("http://host:9200/Upper", "index name"),
        ("http://host:9200/a/b", "index name"),
        ("http://user:secret@host/index", "credentials"),
        ("http://host:99999/index", "invalid"),
    ],
)
def test_opensearch_url_invalid(url, reason):
    with pytest.raises(ConfigurationError, match=reason):
        parse_opensearch_url(url)


@pytest.mark.parametrize("space_type", ["l2", "innerproduct", "cosinesimil"])
def test_opensearch_cosine_from_score_inverts_plugin_scores(space_type):
    for cosine in (-0.6, 0.0, 0.35, 1.0):
        if space_type == "l2":
            score = 1.0 / (1.0 + (2.0 - 2.0 * cosine))
        elif space_type == "innerproduct":
            score = 1.0 + cosine if cosine >= 0 else 1.0 / (1.0 - cosine)
        else:
            score = (1.0 + cosine) / 2.0
        assert cosine_from_score(score, space_type) == pytest.approx(cosine)


# Index creation


def test_opensearch_index_created_with_mapping(store, admin, index_name, embedder):
    mapping = admin.indices.get_mapping(index=index_name)[index_name]["mappings"]
    assert mapping["_meta"]["embedder_id"] == embedder.embedder_id
    assert mapping["_meta"]["dimension"] == embedder.dimension
    vector = mapping["properties"]["vector"]
    assert vector["type"] == "knn_vector"
    assert vector["dimension"] == embedder.dimension
    assert vector["method"]["engine"] == TEST_ENGINE
    assert vector["method"]["name"] == "hnsw"
    assert mapping["properties"]["text"]["fields"]["cjk"]["analyzer"] == "cjk"
    for field in ("document_id", "chunk_id", "source", "pages", "figure_ids", "table_ids"):
        assert mapping["properties"][field]["type"] == "keyword", field


def test_opensearch_open_existing_index_keeps_data(store, opensearch_url, index_name, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    reopened = OpenSearchStore.open(f"{opensearch_url}/{index_name}", embedder, engine=TEST_ENGINE)
    assert reopened.document_ids() == ["doc-a"]


def test_opensearch_embedder_mismatch_rejected(store, opensearch_url, index_name, embedder):
    other = RenamedEmbedder(embedder, "other-embedder/1")
    with pytest.raises(EmbedderMismatchError, match="other-embedder/1"):
        OpenSearchStore.open(f"{opensearch_url}/{index_name}", other, engine=TEST_ENGINE)


# Indexing and search


def test_opensearch_hybrid_search_finds_chunk(store, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    ingest(store, embedder, "doc-b", TEXTS_B)
    results = search(store, embedder, "How does self-attention capture long-range dependencies?")
    assert results[0].chunk.chunk_id == "c0"
    assert results[0].chunk.document_id == "doc-a"
    assert results[0].bm25_rank == 1
    assert results[0].vector_rank == 1
    # First in both rankings: each ranking adds its fusion weight / (k + 1).
    assert results[0].score == pytest.approx(sum(weight / (HYBRID_RRF_K + 1) for weight in HYBRID_WEIGHTS))


def test_opensearch_search_returns_chunk_fields(store, embedder):
    chunks = ingest(store, embedder, "doc-b", TEXTS_B)
    results = search(store, embedder, "mean absolute error regression", mode="bm25")
    assert results[0].chunk == chunks[0]


def test_opensearch_page_spans_round_trip(store, embedder):
    chunk = make_chunks("doc-s", ["First page text. Second page text."])[0]
    chunk = chunk.model_copy(update={"pages": [3, 4], "page_spans": [(3, 0), (4, 17)]})
    store.replace_document("doc-s", [chunk], embedder.embed_documents([chunk.text]))
    stored = store.document_chunks("doc-s")[0]
    assert stored.page_spans == [(3, 0), (4, 17)]
    assert stored.page_at(20) == 4


def test_opensearch_index_without_page_spans_gets_field(admin, opensearch_url, index_name, embedder):
    body = index_body(embedder.embedder_id, embedder.dimension, TEST_ENGINE, "l2")
    del body["mappings"]["properties"]["page_spans"]
    admin.indices.create(index=index_name, body=body)
    store = OpenSearchStore.open(f"{opensearch_url}/{index_name}", embedder, engine=TEST_ENGINE)
    chunk = make_chunks("doc-o", ["Old index text."])[0].model_copy(update={"page_spans": [(1, 0)]})
    store.replace_document("doc-o", [chunk], embedder.embed_documents([chunk.text]))
    properties = admin.indices.get_mapping(index=index_name)[index_name]["mappings"]["properties"]
    assert "page_spans" in properties
    assert store.document_chunks("doc-o")[0].page_spans == [(1, 0)]


def test_opensearch_bm25_mode_returns_matches_only(store, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    results = search(store, embedder, "graphene conductivity", mode="bm25")
    assert [result.chunk.chunk_id for result in results] == ["c2"]
    assert results[0].vector_score is None
    assert results[0].bm25_score > 0


def test_opensearch_bm25_mode_matches_japanese(store, embedder):
    ingest(store, embedder, "doc-b", TEXTS_B)
    results = search(store, embedder, "交差検証", mode="bm25")
    assert results[0].chunk.chunk_id == "c1"


def test_opensearch_vector_mode_scores_are_cosine(store, embedder):
    chunks = ingest(store, embedder, "doc-a", TEXTS_A)
    query = "plants turn sunlight into sugar"
    query_vector = embedder.embed_query(query)
    results = store.search(query, query_vector, 3, mode="vector")
    expected = embedder.embed_documents([chunk.text for chunk in chunks]) @ query_vector
    assert results[0].chunk.chunk_id == "c1"
    assert len(results) == 3
    for result in results:
        position = result.chunk.position
        assert result.vector_score == pytest.approx(float(expected[position]), abs=1e-3)
        assert result.bm25_score is None


def test_opensearch_document_ids_filter(store, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    ingest(store, embedder, "doc-b", TEXTS_B)
    results = search(store, embedder, "test set error", document_ids=["doc-a"])
    assert results
    assert {result.chunk.document_id for result in results} == {"doc-a"}


def test_opensearch_empty_document_ids_returns_nothing(store, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    assert search(store, embedder, "graphene", document_ids=[]) == []


def test_opensearch_wrong_vector_shape_rejected(store):
    chunks = make_chunks("doc-a", TEXTS_A)
    with pytest.raises(ValueError, match="shape"):
        store.replace_document("doc-a", chunks, np.zeros((2, store.dimension), dtype=np.float32))


# Replacement and deletion


def test_opensearch_replace_unchanged_leaves_one_copy(store, admin, index_name, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    ingest(store, embedder, "doc-a", TEXTS_A)
    records = stored_records(admin, index_name, "doc-a")
    chunk_records = [record for record in records if record["kind"] == "chunk"]
    assert sorted(record["chunk_id"] for record in chunk_records) == ["c0", "c1", "c2"]
    assert len({record["generation"] for record in records}) == 1
    assert len(search(store, embedder, "graphene", top_k=10, mode="bm25")) == 1


def test_opensearch_replace_changed_leaves_new_chunks_only(store, admin, index_name, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    ingest(store, embedder, "doc-a", TEXTS_A[:2], prefix="v2-")
    records = stored_records(admin, index_name, "doc-a")
    assert sorted(record["chunk_id"] for record in records if record["kind"] == "chunk") == ["v2-0", "v2-1"]
    assert [chunk.chunk_id for chunk in store.document_chunks("doc-a")] == ["v2-0", "v2-1"]
    assert search(store, embedder, "graphene", mode="bm25") == []


def test_opensearch_delete_document(store, admin, index_name, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    ingest(store, embedder, "doc-b", TEXTS_B)
    assert store.delete_document("doc-a") == 3
    assert stored_records(admin, index_name, "doc-a") == []
    assert store.document_ids() == ["doc-b"]
    assert store.delete_document("doc-a") == 0


def test_opensearch_bulk_failure_names_chunk(store, admin, index_name, embedder):
    ingest(store, embedder, "doc-a", TEXTS_A)
    chunks = make_chunks("doc-a", TEXTS_A, prefix="v2-")
    # A keyword value longer than Lucene's 32766-byte term limit fails that one item.
    chunks[1] = chunks[1].model_copy(update={"source": "x" * 40_000})
    vectors = embedder.embed_documents([chunk.text for chunk in chunks])
    with pytest.raises(IndexingError) as raised:
        store.replace_document("doc-a", chunks, vectors)
    assert [chunk_id for chunk_id, _ in raised.value.failures] == ["v2-1"]
    assert "immense term" in raised.value.failures[0][1]
    assert [chunk.chunk_id for chunk in store.document_chunks("doc-a")] == ["c0", "c1", "c2"]
    records = stored_records(admin, index_name, "doc-a")
    assert sorted(record["chunk_id"] for record in records if record["kind"] == "chunk") == ["c0", "c1", "c2"]


# Serverless mode, through a proxy that rejects custom ids and refresh


@pytest.fixture
def serverless_store(proxy, index_name, embedder) -> OpenSearchStore:
    return OpenSearchStore.open(
        f"{proxy.url}/{index_name}",
        embedder,
        engine=TEST_ENGINE,
        serverless=True,
        extra_index_settings={"index.refresh_interval": SERVERLESS_REFRESH_INTERVAL},
        visibility_timeout=20,
    )


def assert_serverless_requests(proxy: ServerlessProxy) -> None:
    bulk_bodies = [request.body for request in proxy.requests if request.path.endswith("/_bulk")]
    assert bulk_bodies, "no bulk request went through the proxy"
    assert not [request.path for request in proxy.requests if "refresh" in request.query or request.path.endswith("/_refresh")]
    assert not [request.path for request in proxy.requests if request.status == 400]
    for body in bulk_bodies:
        for line in body.decode().splitlines():
            action = json.loads(line)
            if "index" in action:
                assert "_id" not in action["index"]


def test_opensearch_proxy_rejects_custom_id(proxy, index_name, admin):
    admin.indices.create(index=index_name)
    body = b'{"index":{"_index":"%s","_id":"x"}}\n{"a":1}\n' % index_name.encode()
    request = urllib.request.Request(f"{proxy.url}/_bulk", data=body, headers={"Content-Type": "application/x-ndjson"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 400


def test_opensearch_serverless_reingest_leaves_one_copy(serverless_store, proxy, admin, index_name, embedder):
    ingest(serverless_store, embedder, "doc-a", TEXTS_A)
    ingest(serverless_store, embedder, "doc-a", TEXTS_A)
    first = stored_records(admin, index_name, "doc-a")
    ingest(serverless_store, embedder, "doc-a", TEXTS_A[:2], prefix="v2-")
    second = stored_records(admin, index_name, "doc-a")

    assert sorted(record["chunk_id"] for record in first if record["kind"] == "chunk") == ["c0", "c1", "c2"]
    assert len([record for record in first if record["kind"] == "commit"]) == 1
    assert sorted(record["chunk_id"] for record in second if record["kind"] == "chunk") == ["v2-0", "v2-1"]
    assert len({record["generation"] for record in second}) == 1
    assert [result.chunk.chunk_id for result in search(serverless_store, embedder, "photosynthesis glucose", mode="bm25")] == ["v2-1"]
    assert_serverless_requests(proxy)


def test_opensearch_serverless_retry_leaves_one_copy(serverless_store, proxy, admin, index_name, embedder):
    ingest(serverless_store, embedder, "doc-a", TEXTS_A)
    proxy.fail("POST", f"/{index_name}/_doc")
    with pytest.raises(Exception, match="500"):
        ingest(serverless_store, embedder, "doc-a", TEXTS_A[:2], prefix="v2-")
    # The failed attempt committed nothing, so searches still return the first version.
    assert [chunk.chunk_id for chunk in serverless_store.document_chunks("doc-a")] == ["c0", "c1", "c2"]

    ingest(serverless_store, embedder, "doc-a", TEXTS_A[:2], prefix="v2-")
    records = stored_records(admin, index_name, "doc-a")
    assert sorted(record["chunk_id"] for record in records if record["kind"] == "chunk") == ["v2-0", "v2-1"]
    assert len([record for record in records if record["kind"] == "commit"]) == 1
    assert [chunk.chunk_id for chunk in serverless_store.document_chunks("doc-a")] == ["v2-0", "v2-1"]
    assert_serverless_requests(proxy)


# Wiring


def test_opensearch_open_store_from_settings(opensearch_url, index_name, embedder):
    from ragagent.factory import open_store
    from ragagent.settings import Settings

    settings = Settings(store=f"{opensearch_url}/{index_name}", opensearch_engine=TEST_ENGINE)
    store = open_store(settings, embedder)
    assert isinstance(store, OpenSearchStore)
    assert store.index == index_name


def test_opensearch_server_reports_knn_plugin(opensearch_url):
    with urllib.request.urlopen(f"{opensearch_url}/_cat/plugins?format=json", timeout=10) as response:
        plugins = {entry["component"] for entry in json.load(response)}
    assert "opensearch-knn" in plugins
