"""OpenSearch vector store: BM25 and k-NN queries on one index, fused by reciprocal rank fusion on the client.

One index holds two kinds of documents, distinguished by the `kind` field:

- `chunk`: one chunk with its text, metadata, vector and `generation`.
- `commit`: one per document and generation, written only after every chunk of
  that generation is indexed.

A replacement writes the new chunks under a new, larger generation, then its
commit record, then deletes everything of the document from older
generations. Searches return only chunks whose generation matches the newest
commit of their document. So a reader never sees a half-written replacement,
and an ingestion that failed midway leaves chunks that no search returns and
that the next replacement of the document deletes.

Amazon OpenSearch Serverless (`serverless=True`) rejects a custom `_id` in
bulk requests and has no refresh API, and a write becomes searchable only
after a delay. In that mode the store sends no `_id` and no refresh, and waits
until the new chunks are searchable before it commits them and deletes the
older generations.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence
from urllib.parse import urlsplit

import numpy as np

from ragagent.errors import ConfigurationError, EmbedderMismatchError, ProviderError, RagAgentError
from ragagent.models import Chunk, ScoredChunk, SearchMode
from ragagent.store.base import check_chunks, check_document_id
from ragagent.store.ranking import HYBRID_RRF_K, HYBRID_WEIGHTS, fuse_reciprocal_rank

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

    from ragagent.embedding.base import Embedder

logger = logging.getLogger(__name__)

Engine = Literal["faiss", "lucene", "nmslib"]
SpaceType = Literal["l2", "innerproduct", "cosinesimil"]
AuthMode = Literal["none", "sigv4"]
AwsService = Literal["es", "aoss"]

FORMAT_VERSION = 1
DEFAULT_ENGINE: Engine = "faiss"
"""Engine of new indexes. Amazon OpenSearch Serverless vector collections accept faiss, and nmslib is deprecated."""
DEFAULT_SPACE_TYPE: SpaceType = "l2"
"""Every engine supports l2. On unit-length vectors it ranks like cosine similarity."""
SPACE_TYPES: tuple[str, ...] = ("l2", "innerproduct", "cosinesimil")
ENGINES: tuple[str, ...] = ("faiss", "lucene", "nmslib")
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128
TEXT_ANALYZER = "standard"
CJK_ANALYZER = "cjk"
"""Built-in analyzer that indexes Chinese, Japanese and Korean text as overlapping bigrams."""

MIN_CANDIDATES = 50
CANDIDATES_PER_RESULT = 4
MAX_RESULT_WINDOW = 10_000
"""OpenSearch's default `index.max_result_window`: the most hits one search request returns."""
SERVERLESS_HOST_SUFFIX = ".aoss.amazonaws.com"
MANAGED_HOST_SUFFIX = ".es.amazonaws.com"
HTTPS_DEFAULT_PORT = 443
HTTP_DEFAULT_PORT = 80
BULK_BATCH_SIZE = 200
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_VISIBILITY_TIMEOUT = 60.0
VISIBILITY_POLL_INITIAL = 0.2
VISIBILITY_POLL_MAX = 1.0
MAX_REASON_CHARS = 300
SEARCH_MODES = ("hybrid", "bm25", "vector")
INDEX_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,254}")
KIND_CHUNK = "chunk"
KIND_COMMIT = "commit"
CHUNK_FIELDS = (
    "chunk_id",
    "document_id",
    "source",
    "pages",
    "section",
    "figure_ids",
    "table_ids",
    "labels",
    "position",
    "text",
    "page_spans",
)
# Fields added to the mapping after indexes were first created. Opening an
# index whose strict mapping lacks one adds it, so older indexes keep working.
ADDED_FIELD_MAPPINGS: dict[str, dict[str, Any]] = {
    # Stored in `_source` only: [[page, offset], ...] pairs are never searched.
    "page_spans": {"type": "object", "enabled": False},
}


class IndexingError(RagAgentError):
    """A bulk request rejected some chunks; `failures` lists each chunk id with the reason."""

    def __init__(self, document_id: str, failures: list[tuple[str, str]]) -> None:
        listed = "; ".join(f"{chunk_id}: {reason}" for chunk_id, reason in failures[:10])
        more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
        super().__init__(f"document {document_id}: {len(failures)} chunk(s) failed to index: {listed}{more}")
        self.document_id = document_id
        self.failures = failures


@dataclass(frozen=True)
class OpenSearchLocation:
    """Scheme, host, port and index name parsed from `http(s)://HOST[:PORT]/INDEX`."""

    scheme: str
    host: str
    port: int
    index: str

    @property
    def use_ssl(self) -> bool:
        return self.scheme == "https"


def parse_opensearch_url(url: str) -> OpenSearchLocation:
    """Parse `http(s)://HOST[:PORT]/INDEX`. Without a port, the scheme's default applies: 443 for https, 80 for http."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigurationError(f"OpenSearch URL {url!r} is invalid: the scheme must be http or https")
    if not parts.hostname:
        raise ConfigurationError(f"OpenSearch URL {url!r} is invalid: the host is missing")
    if parts.username or parts.password:
        raise ConfigurationError(
            f"OpenSearch URL for host {parts.hostname!r} is invalid: credentials in the URL are not supported; "
            "use RAGAGENT_OPENSEARCH_AUTH=sigv4"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"OpenSearch URL {url!r} is invalid: remove the query string or fragment")
    try:
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(f"OpenSearch URL {url!r} is invalid: {error}") from error

    index = parts.path.strip("/")
    if not index:
        raise ConfigurationError(f"OpenSearch URL {url!r} is invalid: the index name is missing; use http(s)://HOST:PORT/INDEX")
    if "/" in index or not INDEX_NAME_PATTERN.fullmatch(index) or index in (".", ".."):
        raise ConfigurationError(
            f"OpenSearch URL {url!r} is invalid: index name {index!r} must be one path segment of lowercase "
            "letters, digits, '.', '_' or '-', not starting with '.', '_' or '-'"
        )
    default_port = HTTPS_DEFAULT_PORT if parts.scheme == "https" else HTTP_DEFAULT_PORT
    return OpenSearchLocation(scheme=parts.scheme, host=parts.hostname, port=port or default_port, index=index)


def build_client(
    location: OpenSearchLocation,
    *,
    auth: AuthMode = "none",
    service: AwsService = "es",
    region: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> OpenSearch:
    """Build a client; with `auth="sigv4"` it signs requests for `service` with boto3's default credentials."""
    try:
        from opensearchpy import AWSV4SignerAuth, OpenSearch, RequestsHttpConnection
    except ImportError as error:
        raise ConfigurationError("an OpenSearch store needs opensearch-py: pip install 'ragagent[providers]'") from error

    _check_aws_host(location, auth, service)

    options: dict[str, Any] = {
        "hosts": [{"host": location.host, "port": location.port}],
        "use_ssl": location.use_ssl,
        "verify_certs": location.use_ssl,
        "timeout": timeout,
        "max_retries": max_retries,
        "retry_on_timeout": True,
    }
    if auth == "sigv4":
        import boto3

        session = boto3.Session(region_name=region)
        if not session.region_name:
            raise ConfigurationError("RAGAGENT_OPENSEARCH_AUTH=sigv4 needs a region: set RAGAGENT_AWS_REGION or AWS_DEFAULT_REGION")
        credentials = session.get_credentials()
        if credentials is None:
            raise ConfigurationError(
                "RAGAGENT_OPENSEARCH_AUTH=sigv4 but boto3 found no AWS credentials: set AWS_PROFILE, "
                "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an IAM role"
            )
        options["http_auth"] = AWSV4SignerAuth(credentials, session.region_name, service)
        options["connection_class"] = RequestsHttpConnection
    elif auth != "none":
        raise ConfigurationError(f"RAGAGENT_OPENSEARCH_AUTH={auth!r} is not an authentication mode; use none or sigv4")
    return OpenSearch(**options)


def _check_aws_host(location: OpenSearchLocation, auth: AuthMode, service: AwsService) -> None:
    """Reject settings that cannot work with an AWS endpoint, before the first request fails with HTTP 403."""
    if location.host.endswith(SERVERLESS_HOST_SUFFIX):
        if auth != "sigv4":
            raise ConfigurationError(f"{location.host} is an OpenSearch Serverless endpoint: set RAGAGENT_OPENSEARCH_AUTH=sigv4")
        if service != "aoss":
            raise ConfigurationError(f"{location.host} is an OpenSearch Serverless endpoint: set RAGAGENT_OPENSEARCH_SERVICE=aoss")
    elif location.host.endswith(MANAGED_HOST_SUFFIX) and auth == "sigv4" and service != "es":
        raise ConfigurationError(f"{location.host} is a managed OpenSearch domain: set RAGAGENT_OPENSEARCH_SERVICE=es")


def index_body(
    embedder_id: str,
    dimension: int,
    engine: str,
    space_type: str,
    extra_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the settings and mappings of a new index, with the embedder id in the mapping's `_meta`."""
    keyword = {"type": "keyword"}
    # Flat keys such as "index.refresh_interval" merge with the nested "index" object on the server.
    settings: dict[str, Any] = {"index.knn": True, **(extra_settings or {})}
    return {
        "settings": settings,
        "mappings": {
            "dynamic": "strict",
            "_meta": {"embedder_id": embedder_id, "dimension": dimension, "format_version": FORMAT_VERSION},
            "properties": {
                "kind": keyword,
                "document_id": keyword,
                "generation": {"type": "long"},
                "chunk_count": {"type": "integer"},
                "chunk_id": keyword,
                "source": keyword,
                "pages": keyword,
                "section": keyword,
                "figure_ids": keyword,
                "table_ids": keyword,
                "labels": {"type": "object", "enabled": False},
                **ADDED_FIELD_MAPPINGS,
                "position": {"type": "integer"},
                "text": {
                    "type": "text",
                    "analyzer": TEXT_ANALYZER,
                    "fields": {"cjk": {"type": "text", "analyzer": CJK_ANALYZER}},
                },
                "vector": {
                    "type": "knn_vector",
                    "dimension": dimension,
                    "method": {
                        "name": "hnsw",
                        "engine": engine,
                        "space_type": space_type,
                        "parameters": {"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
                    },
                },
            },
        },
    }


def cosine_from_score(score: float, space_type: str) -> float:
    """Convert a k-NN `_score` back to the cosine similarity of unit-length vectors.

    The k-NN plugin maps distances to scores: l2 as 1 / (1 + d²), innerproduct
    as 1 + ip when ip >= 0 and 1 / (1 - ip) otherwise, cosinesimil as (1 + cos) / 2.
    For unit vectors d² = 2 - 2 cos.
    """
    if space_type == "l2":
        squared_distance = 1.0 / score - 1.0
        return 1.0 - squared_distance / 2.0
    if space_type == "innerproduct":
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    if space_type == "cosinesimil":
        return 2.0 * score - 1.0
    raise ValueError(f"space type {space_type!r} is not supported; use one of {', '.join(SPACE_TYPES)}")


class OpenSearchStore:
    """Hybrid search over chunks in one OpenSearch index; see the module docstring for replacement and Serverless."""

    def __init__(
        self,
        client: OpenSearch,
        index: str,
        embedder_id: str,
        dimension: int,
        *,
        space_type: str = DEFAULT_SPACE_TYPE,
        serverless: bool = False,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
    ) -> None:
        """Bind to an index; use `OpenSearchStore.open` to create or check it."""
        self.client = client
        self.index = index
        self.embedder_id = embedder_id
        self.dimension = dimension
        self.space_type = space_type
        self.serverless = serverless
        self.visibility_timeout = visibility_timeout
        self._generation_lock = threading.Lock()
        self._last_generation = 0

    @classmethod
    def open(
        cls,
        url: str,
        embedder: Embedder,
        *,
        auth: AuthMode = "none",
        service: AwsService = "es",
        region: str | None = None,
        engine: str = DEFAULT_ENGINE,
        space_type: str = DEFAULT_SPACE_TYPE,
        serverless: bool | None = None,
        extra_index_settings: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
        client: OpenSearch | None = None,
    ) -> OpenSearchStore:
        """Open the index at `url` (`http(s)://HOST:PORT/INDEX`), creating it when it is missing.

        `serverless` defaults to `service == "aoss"`. `engine` and `space_type`
        apply only to a new index. Raises `EmbedderMismatchError` when the
        index was built with another embedder id or dimension.
        """
        if engine not in ENGINES:
            raise ConfigurationError(f"RAGAGENT_OPENSEARCH_ENGINE={engine!r} is not a k-NN engine; use one of {', '.join(ENGINES)}")
        if space_type not in SPACE_TYPES:
            raise ConfigurationError(f"space type {space_type!r} is not supported; use one of {', '.join(SPACE_TYPES)}")
        location = parse_opensearch_url(url)
        if client is None:
            client = build_client(location, auth=auth, service=service, region=region, timeout=timeout, max_retries=max_retries)
        if serverless is None:
            serverless = service == "aoss"

        meta = _ensure_index(client, location.index, index_body(embedder.embedder_id, embedder.dimension, engine, space_type, extra_index_settings))
        _check_meta(location, meta, embedder)
        _add_missing_fields(client, location.index)
        stored_space_type = _stored_space_type(client, location.index) or space_type
        return cls(
            client,
            location.index,
            embedder.embedder_id,
            embedder.dimension,
            space_type=stored_space_type,
            serverless=serverless,
            visibility_timeout=visibility_timeout,
        )

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace every chunk of `document_id` with `chunks`; passing no chunks deletes the document.

        Raises `IndexingError` naming each rejected chunk; the previous
        version then stays the one that searches return.
        """
        check_document_id(document_id)
        matrix = self._check_vectors(document_id, chunks, vectors)
        check_chunks(document_id, chunks)
        if not chunks:
            self.delete_document(document_id)
            return

        started = time.perf_counter()
        generation = self._next_generation()
        try:
            self._bulk_index(document_id, generation, chunks, matrix)
        except IndexingError:
            self._discard_generation(document_id, generation)
            raise
        if self.serverless:
            self._wait_until_searchable(document_id, generation, KIND_CHUNK, len(chunks))
        else:
            self.client.indices.refresh(index=self.index)
        self._commit(document_id, generation, len(chunks))
        if self.serverless:
            # Until the commit record is searchable, searches keep returning the previous generation.
            self._wait_until_searchable(document_id, generation, KIND_COMMIT, 1)
        deleted = self._delete_older_generations(document_id, generation)
        logger.info(
            "replaced document_id=%s generation=%d chunk_count=%d stale_deleted=%d in %.2f s",
            document_id,
            generation,
            len(chunks),
            deleted,
            time.perf_counter() - started,
        )

    def delete_document(self, document_id: str) -> int:
        """Delete every chunk and commit record of `document_id`; return how many chunks were deleted."""
        check_document_id(document_id)
        # Deleting the commit records first hides the chunks from searches at once.
        self._delete_by_query({"bool": {"filter": [_term("document_id", document_id), _term("kind", KIND_COMMIT)]}})
        deleted = self._delete_by_query({"bool": {"filter": [_term("document_id", document_id), _term("kind", KIND_CHUNK)]}})
        logger.info("deleted document_id=%s chunk_count=%d", document_id, deleted)
        return deleted

    def search(
        self,
        query: str,
        query_vector: np.ndarray,
        top_k: int,
        mode: SearchMode = "hybrid",
        document_ids: Sequence[str] | None = None,
    ) -> list[ScoredChunk]:
        """Return up to `top_k` chunks for `query`, best first.

        "bm25" and "vector" return one query's hits. "hybrid" runs both with
        max(50, 4 * top_k) candidates each and fuses them by weighted reciprocal
        rank fusion with the local store's settings (`HYBRID_RRF_K`,
        `HYBRID_WEIGHTS`). `vector_score` is the cosine similarity computed
        back from the k-NN score. `document_ids` restricts the search to
        those documents.
        """
        if top_k < 1:
            raise ValueError(f"top_k={top_k} is invalid: it must be at least 1")
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode={mode!r} is not a search mode; use one of {', '.join(SEARCH_MODES)}")
        if isinstance(document_ids, str):
            raise TypeError("document_ids must be a sequence of ids, not one string")
        if document_ids is not None and not document_ids:
            return []
        filters = [_term("kind", KIND_CHUNK)]
        if document_ids is not None:
            filters.append({"terms": {"document_id": list(document_ids)}})

        candidate_count = min(max(MIN_CANDIDATES, CANDIDATES_PER_RESULT * top_k), MAX_RESULT_WINDOW)
        bm25_hits: list[dict] = []
        vector_hits: list[dict] = []
        if mode in ("hybrid", "bm25"):
            bm25_hits = self._bm25_hits(query, filters, candidate_count)
        if mode in ("hybrid", "vector"):
            vector_hits = self._vector_hits(self._check_query_vector(query_vector), filters, candidate_count)

        committed = self._committed_generations({hit["_source"]["document_id"] for hit in bm25_hits + vector_hits})
        bm25_hits = _current_hits(bm25_hits, committed)
        vector_hits = _current_hits(vector_hits, committed)
        return self._scored_chunks(bm25_hits, vector_hits, mode, top_k)

    def document_chunks(self, document_id: str) -> list[Chunk]:
        """Return the chunks of the committed generation of `document_id`, by position."""
        check_document_id(document_id)
        generation = self._committed_generations({document_id}).get(document_id)
        if generation is None:
            return []
        response = self.client.search(
            index=self.index,
            body={
                "size": MAX_RESULT_WINDOW,
                "query": {
                    "bool": {
                        "filter": [_term("kind", KIND_CHUNK), _term("document_id", document_id), _term("generation", generation)]
                    }
                },
                "sort": [{"position": "asc"}],
                "_source": {"excludes": ["vector"]},
            },
        )
        return [_chunk_from_source(hit["_source"]) for hit in response["hits"]["hits"]]

    def document_ids(self) -> list[str]:
        """Return the ids of the documents with a committed generation, sorted."""
        ids: list[str] = []
        after: dict | None = None
        while True:
            composite: dict[str, Any] = {"size": 1000, "sources": [{"document_id": {"terms": {"field": "document_id"}}}]}
            if after is not None:
                composite["after"] = after
            response = self.client.search(
                index=self.index,
                body={"size": 0, "query": _term("kind", KIND_COMMIT), "aggs": {"documents": {"composite": composite}}},
            )
            aggregation = response["aggregations"]["documents"]
            ids.extend(bucket["key"]["document_id"] for bucket in aggregation["buckets"])
            after = aggregation.get("after_key")
            if not aggregation["buckets"] or after is None:
                return ids

    # Writing

    def _next_generation(self) -> int:
        # Microseconds since the epoch, so a later replacement on another process usually gets a larger value.
        # NOTE: two writers whose clocks differ by more than the time between their writes can commit out of order.
        with self._generation_lock:
            self._last_generation = max(self._last_generation + 1, time.time_ns() // 1000)
            return self._last_generation

    def _bulk_index(self, document_id: str, generation: int, chunks: Sequence[Chunk], matrix: np.ndarray) -> None:
        failures: list[tuple[str, str]] = []
        for start in range(0, len(chunks), BULK_BATCH_SIZE):
            batch = chunks[start : start + BULK_BATCH_SIZE]
            body: list[dict] = []
            for offset, chunk in enumerate(batch):
                action: dict[str, Any] = {"_index": self.index}
                if not self.serverless:
                    action["_id"] = f"{document_id}.{chunk.chunk_id}"
                body.append({"index": action})
                body.append(_chunk_source(chunk, generation, matrix[start + offset]))
            response = self.client.bulk(body=body)
            if response.get("errors"):
                failures.extend(_bulk_failures(batch, response["items"]))
        if failures:
            logger.error("bulk indexing failed for document_id=%s failed_count=%d", document_id, len(failures))
            raise IndexingError(document_id, failures)

    def _wait_until_searchable(self, document_id: str, generation: int, kind: str, expected: int) -> None:
        query = {"bool": {"filter": [_term("kind", kind), _term("document_id", document_id), _term("generation", generation)]}}
        deadline = time.monotonic() + self.visibility_timeout
        delay = VISIBILITY_POLL_INITIAL
        while True:
            visible = self._count(query)
            if visible >= expected:
                return
            if time.monotonic() + delay > deadline:
                raise ProviderError(
                    f"document {document_id}: only {visible} of {expected} {kind} records of generation {generation} became "
                    f"searchable within {self.visibility_timeout:.0f} s; retry the ingestion"
                )
            time.sleep(delay)
            delay = min(delay * 2, VISIBILITY_POLL_MAX)

    def _commit(self, document_id: str, generation: int, chunk_count: int) -> None:
        source = {"kind": KIND_COMMIT, "document_id": document_id, "generation": generation, "chunk_count": chunk_count}
        if self.serverless:
            self.client.index(index=self.index, body=source)
        else:
            self.client.index(index=self.index, id=f"{document_id}.commit.{generation}", body=source, refresh=True)

    def _delete_older_generations(self, document_id: str, generation: int) -> int:
        # NOTE: in Serverless mode a delete reaches only writes that are already searchable. An older write
        # that is not yet searchable stays until the next replacement, and searches skip it meanwhile.
        return self._delete_by_query(
            {"bool": {"filter": [_term("document_id", document_id), {"range": {"generation": {"lt": generation}}}]}}
        )

    def _discard_generation(self, document_id: str, generation: int) -> None:
        try:
            if not self.serverless:
                self.client.indices.refresh(index=self.index)
            self._delete_by_query({"bool": {"filter": [_term("document_id", document_id), _term("generation", generation)]}})
        except Exception as error:  # noqa: BLE001 - the indexing error is the one to raise; no search returns these chunks
            logger.warning("could not discard document_id=%s generation=%d: %s", document_id, generation, error)

    def _delete_by_query(self, query: dict) -> int:
        params: dict[str, Any] = {"conflicts": "proceed"}
        if not self.serverless:
            params["refresh"] = "true"
        response = self.client.delete_by_query(index=self.index, body={"query": query}, params=params)
        failures = response.get("failures") or []
        if failures:
            raise ProviderError(f"index {self.index}: delete by query failed: {str(failures[0])[:MAX_REASON_CHARS]}")
        return int(response.get("deleted", 0))

    def _count(self, query: dict) -> int:
        response = self.client.search(index=self.index, body={"size": 0, "track_total_hits": True, "query": query})
        return int(response["hits"]["total"]["value"])

    # Reading

    def _bm25_hits(self, query: str, filters: list[dict], size: int) -> list[dict]:
        body = {
            "size": size,
            "query": {
                "bool": {
                    "must": {"multi_match": {"query": query, "fields": ["text", "text.cjk"], "type": "best_fields"}},
                    "filter": filters,
                }
            },
            "_source": {"excludes": ["vector"]},
        }
        return self.client.search(index=self.index, body=body)["hits"]["hits"]

    def _vector_hits(self, vector: np.ndarray, filters: list[dict], size: int) -> list[dict]:
        knn = {"vector": vector.tolist(), "k": size, "filter": {"bool": {"filter": filters}}}
        body = {"size": size, "query": {"knn": {"vector": knn}}, "_source": {"excludes": ["vector"]}}
        return self.client.search(index=self.index, body=body)["hits"]["hits"]

    def _committed_generations(self, document_ids: set[str]) -> dict[str, int]:
        """Return the newest committed generation of each document that has one."""
        if not document_ids:
            return {}
        body = {
            "size": 0,
            "query": {"bool": {"filter": [_term("kind", KIND_COMMIT), {"terms": {"document_id": sorted(document_ids)}}]}},
            "aggs": {
                "documents": {
                    "terms": {"field": "document_id", "size": len(document_ids)},
                    "aggs": {"latest": {"max": {"field": "generation"}}},
                }
            },
        }
        buckets = self.client.search(index=self.index, body=body)["aggregations"]["documents"]["buckets"]
        return {bucket["key"]: int(bucket["latest"]["value"]) for bucket in buckets}

    def _scored_chunks(self, bm25_hits: list[dict], vector_hits: list[dict], mode: str, top_k: int) -> list[ScoredChunk]:
        sources: dict[str, dict] = {}
        bm25_scores: dict[str, float] = {}
        vector_scores: dict[str, float] = {}
        for hit in bm25_hits:
            key = _hit_key(hit)
            sources.setdefault(key, hit["_source"])
            bm25_scores.setdefault(key, float(hit["_score"]))
        for hit in vector_hits:
            key = _hit_key(hit)
            sources.setdefault(key, hit["_source"])
            vector_scores.setdefault(key, cosine_from_score(float(hit["_score"]), self.space_type))
        bm25_ranking = list(bm25_scores)
        vector_ranking = list(vector_scores)

        if mode == "bm25":
            ranked = [(key, bm25_scores[key]) for key in bm25_ranking]
        elif mode == "vector":
            ranked = [(key, vector_scores[key]) for key in vector_ranking]
        else:
            # Number the keys in order of first appearance, so fusion ties go to the better BM25 rank.
            numbers = {key: number for number, key in enumerate(dict.fromkeys(bm25_ranking + vector_ranking))}
            keys = list(numbers)
            fused = fuse_reciprocal_rank(
                [[numbers[key] for key in bm25_ranking], [numbers[key] for key in vector_ranking]], HYBRID_RRF_K, HYBRID_WEIGHTS
            )
            ranked = [(keys[number], score) for number, score in fused]

        bm25_ranks = {key: rank for rank, key in enumerate(bm25_ranking, start=1)}
        vector_ranks = {key: rank for rank, key in enumerate(vector_ranking, start=1)}
        return [
            ScoredChunk(
                chunk=_chunk_from_source(sources[key]),
                score=score,
                bm25_score=bm25_scores.get(key),
                vector_score=vector_scores.get(key),
                bm25_rank=bm25_ranks.get(key),
                vector_rank=vector_ranks.get(key),
            )
            for key, score in ranked[:top_k]
        ]

    # Checks

    def _check_vectors(self, document_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> np.ndarray:
        matrix = np.asarray(vectors, dtype=np.float32)
        if len(chunks) == 0 and matrix.size == 0:
            return matrix.reshape(0, self.dimension)
        if matrix.ndim != 2 or matrix.shape != (len(chunks), self.dimension):
            raise ValueError(
                f"document {document_id}: vectors have shape {matrix.shape}, expected ({len(chunks)}, {self.dimension}): "
                "one row per chunk from the store's embedder"
            )
        if not np.isfinite(matrix).all():
            raise ValueError(f"document {document_id}: vectors contain NaN or infinite values")
        return matrix

    def _check_query_vector(self, query_vector: np.ndarray) -> np.ndarray:
        vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        if vector.shape != (self.dimension,):
            raise ValueError(f"query vector has {vector.size} dimensions, expected {self.dimension}")
        if not np.isfinite(vector).all():
            raise ValueError("query vector contains NaN or infinite values")
        return vector


def _ensure_index(client: OpenSearch, index: str, body: dict) -> dict:
    """Create `index` unless it exists, and return its mapping's `_meta`."""
    from opensearchpy.exceptions import RequestError

    if not client.indices.exists(index=index):
        try:
            client.indices.create(index=index, body=body)
            logger.info("created index=%s", index)
        except RequestError as error:
            # Another process may have created it between the two calls.
            if error.error != "resource_already_exists_exception":
                raise
    mapping = client.indices.get_mapping(index=index)
    return next(iter(mapping.values()))["mappings"].get("_meta") or {}


def _add_missing_fields(client: OpenSearch, index: str) -> None:
    """Add the fields of `ADDED_FIELD_MAPPINGS` that the index's mapping lacks; an existing field is never changed."""
    mapping = client.indices.get_mapping(index=index)
    properties = next(iter(mapping.values()))["mappings"].get("properties", {})
    missing = {name: field for name, field in ADDED_FIELD_MAPPINGS.items() if name not in properties}
    if missing:
        client.indices.put_mapping(index=index, body={"properties": missing})
        logger.info("index=%s added mapping fields=%s", index, sorted(missing))


def _stored_space_type(client: OpenSearch, index: str) -> str | None:
    mapping = client.indices.get_mapping(index=index)
    properties = next(iter(mapping.values()))["mappings"].get("properties", {})
    method = properties.get("vector", {}).get("method", {})
    return method.get("space_type") or properties.get("vector", {}).get("space_type")


def _check_meta(location: OpenSearchLocation, meta: Mapping[str, Any], embedder: Embedder) -> None:
    stored_id = meta.get("embedder_id")
    stored_dimension = meta.get("dimension")
    if stored_id != embedder.embedder_id or stored_dimension != embedder.dimension:
        raise EmbedderMismatchError(
            f"OpenSearch index {location.index!r} on {location.host}:{location.port} was built with embedder "
            f"{stored_id!r} ({stored_dimension} dimensions), but the configured embedder is {embedder.embedder_id!r} "
            f"({embedder.dimension} dimensions). Use another index name in RAGAGENT_STORE, or delete the index and ingest again."
        )


def _term(field: str, value: Any) -> dict:
    return {"term": {field: value}}


def _chunk_source(chunk: Chunk, generation: int, vector: np.ndarray) -> dict[str, Any]:
    source = chunk.model_dump(include=set(CHUNK_FIELDS))
    source.update(kind=KIND_CHUNK, generation=generation, vector=[float(value) for value in vector])
    return source


def _chunk_from_source(source: Mapping[str, Any]) -> Chunk:
    return Chunk.model_validate({field: source[field] for field in CHUNK_FIELDS if field in source})


def _hit_key(hit: Mapping[str, Any]) -> str:
    source = hit["_source"]
    return f"{source['document_id']}/{source['chunk_id']}"


def _current_hits(hits: list[dict], committed: Mapping[str, int]) -> list[dict]:
    """Keep the hits from the committed generation of their document."""
    return [hit for hit in hits if committed.get(hit["_source"]["document_id"]) == hit["_source"]["generation"]]


def _bulk_failures(batch: Sequence[Chunk], items: list[dict]) -> list[tuple[str, str]]:
    # Bulk items come back in request order, so the position names the chunk even without a custom `_id`.
    failures = []
    for chunk, item in zip(batch, items):
        result = next(iter(item.values()))
        error = result.get("error")
        if error is None:
            continue
        if isinstance(error, dict):
            reason = f"HTTP {result.get('status')} {error.get('type')}: {error.get('reason')}"
        else:
            reason = f"HTTP {result.get('status')}: {error}"
        failures.append((chunk.chunk_id, reason[:MAX_REASON_CHARS]))
    return failures
