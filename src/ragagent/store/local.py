"""Embedded vector store: one directory on disk, searched in memory with BM25, k-NN and reciprocal rank fusion.

Layout of the store directory:

- `manifest.json`: format version, embedder id and vector dimension.
- `documents/<document_id>.npz`: one file per document with the chunks as
  JSON, their BM25 terms and their float32 vectors. A replacement writes a
  temporary file and renames it over the old one, so readers and crashes see
  either the whole old document or the whole new one.
- `.lock`: the file that writers lock with `fcntl.flock`, so writes from
  several processes or threads do not interleave.

Readers take no lock. Every call checks the documents directory and reloads
only the files that changed, so a write by another process is visible at the
next call. The whole index lives in memory, which suits tens of thousands of
chunks.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ragagent.embedding.base import Embedder
from ragagent.errors import EmbedderMismatchError, RagAgentError
from ragagent.models import Chunk, ScoredChunk, SearchMode
from ragagent.store.base import check_chunks, check_document_id
from ragagent.store.ranking import HYBRID_RRF_K, HYBRID_WEIGHTS, BM25Index, fuse_reciprocal_rank, top_indices
from ragagent.text import TOKENIZER_VERSION, tokenize

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DOCUMENTS_DIR = "documents"
LOCK_NAME = ".lock"
DOCUMENT_SUFFIX = ".npz"
TEMPORARY_SUFFIX = ".tmp"
FILE_MODE = 0o644
MIN_CANDIDATES = 50
CANDIDATES_PER_RESULT = 4
SEARCH_MODES = ("hybrid", "bm25", "vector")


class InvalidStoreError(RagAgentError):
    """A directory cannot be opened as a store: it is not one, or its files are damaged."""


@dataclass(frozen=True)
class _StoredDocument:
    """One document file as loaded into memory."""

    chunks: list[Chunk]
    terms: list[list[str]]
    vectors: np.ndarray


@dataclass(frozen=True)
class _Index:
    """All chunks of the store, with row `i` of `vectors` and of the BM25 index belonging to `chunks[i]`."""

    chunks: list[Chunk]
    vectors: np.ndarray
    document_rows: dict[str, np.ndarray]
    bm25: BM25Index


class LocalStore:
    """Hybrid search over chunks kept in one local directory, laid out as the module docstring describes."""

    def __init__(self, path: Path, embedder_id: str, dimension: int) -> None:
        """Bind to an existing store directory. Use `LocalStore.open` to create or check one."""
        self.path = path
        self.embedder_id = embedder_id
        self.dimension = dimension
        self._documents_dir = path / DOCUMENTS_DIR
        self._lock_path = path / LOCK_NAME
        self._thread_lock = threading.RLock()
        self._loaded: dict[str, tuple[tuple[int, int, int], _StoredDocument]] = {}
        self._fingerprint: tuple | None = None
        self._index: _Index | None = None

    @classmethod
    def open(cls, path: Path, embedder: Embedder) -> LocalStore:
        """Open the store at `path`, creating it when the directory is missing or empty.

        Raises `EmbedderMismatchError` when the store was built with another
        embedder id or dimension, and `InvalidStoreError` when `path` is a file,
        a non-empty directory without a manifest, or a store of a newer format.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise InvalidStoreError(f"{path}: not a directory. Set the store to a directory path.")
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path, embedder.embedder_id, embedder.dimension)
        with store._write_lock():
            manifest = store._read_manifest()
            if manifest is None:
                store._create(path)
            else:
                _check_manifest(path, manifest, embedder)
        return store

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace every chunk of `document_id` with `chunks`, in one atomic rename.

        `vectors` has one row per chunk. Passing no chunks deletes the document.
        """
        check_document_id(document_id)
        matrix = self._check_vectors(document_id, chunks, vectors)
        check_chunks(document_id, chunks)
        if not chunks:
            self.delete_document(document_id)
            return

        started = time.perf_counter()
        terms = [tokenize(chunk.text) for chunk in chunks]
        payload = _encode_document(chunks, terms, matrix)
        with self._write_lock():
            self._remove_temporary_files()
            _write_atomically(self._document_path(document_id), payload)
        logger.info(
            "replaced document_id=%s chunk_count=%d in %.2f s", document_id, len(chunks), time.perf_counter() - started
        )

    def delete_document(self, document_id: str) -> int:
        """Delete every chunk of `document_id` and return how many were deleted.

        Returns 0 when the document is not stored, or when its file is damaged and its chunks cannot be counted.
        """
        check_document_id(document_id)
        path = self._document_path(document_id)
        with self._write_lock():
            try:
                count = len(_read_document(path).chunks)
            except FileNotFoundError:
                return 0
            except InvalidStoreError as error:
                # A damaged file is deleted too, so deleting is how a user recovers from it.
                logger.warning("deleting damaged file of document_id=%s: %s", document_id, error)
                count = 0
            path.unlink()
            _sync_directory(self._documents_dir)
        logger.info("deleted document_id=%s chunk_count=%d", document_id, count)
        return count

    def search(
        self,
        query: str,
        query_vector: np.ndarray,
        top_k: int,
        mode: SearchMode = "hybrid",
        document_ids: Sequence[str] | None = None,
    ) -> list[ScoredChunk]:
        """Return up to `top_k` chunks for `query`, best first.

        "bm25" and "vector" return one ranker's list: BM25 matches only (chunks
        with a score above 0), or the chunks with the highest cosine similarity.
        "hybrid" fuses the top max(50, 4 * top_k) chunks of each ranker by
        weighted reciprocal rank fusion (`HYBRID_RRF_K`, `HYBRID_WEIGHTS` of
        ragagent.store.ranking). A ranker's score is set on every
        result of a mode that uses it, and its 1-based rank only on results
        within its candidate list. `document_ids` restricts the search to
        those documents.
        """
        if top_k < 1:
            raise ValueError(f"top_k={top_k} is invalid: it must be at least 1")
        if mode not in SEARCH_MODES:
            raise ValueError(f"mode={mode!r} is not a search mode. Use one of {', '.join(SEARCH_MODES)}.")
        query_vector = self._check_query_vector(query_vector) if mode != "bm25" else query_vector

        index = self._current_index()
        allowed = _allowed_rows(index, document_ids)
        if not allowed.any():
            return []

        candidate_count = max(MIN_CANDIDATES, CANDIDATES_PER_RESULT * top_k)
        bm25_scores = vector_scores = None
        bm25_ranking: list[int] = []
        vector_ranking: list[int] = []
        if mode in ("hybrid", "bm25"):
            bm25_scores = index.bm25.scores(tokenize(query))
            matched = allowed & (bm25_scores > 0)
            bm25_ranking = top_indices(bm25_scores, matched, candidate_count)
        if mode in ("hybrid", "vector"):
            vector_scores = _cosine_scores(index.vectors, query_vector)
            vector_ranking = top_indices(vector_scores, allowed, candidate_count)

        if mode == "bm25":
            ranked = [(row, float(bm25_scores[row])) for row in bm25_ranking]
        elif mode == "vector":
            ranked = [(row, float(vector_scores[row])) for row in vector_ranking]
        else:
            ranked = fuse_reciprocal_rank([bm25_ranking, vector_ranking], HYBRID_RRF_K, HYBRID_WEIGHTS)
        return _scored_chunks(index, ranked[:top_k], bm25_scores, vector_scores, bm25_ranking, vector_ranking)

    def document_chunks(self, document_id: str) -> list[Chunk]:
        """Return the chunks of `document_id` ordered by position, or [] when it is not stored."""
        index = self._current_index()
        rows = index.document_rows.get(document_id)
        if rows is None:
            return []
        chunks = [index.chunks[row].model_copy(deep=True) for row in rows]
        return sorted(chunks, key=lambda chunk: chunk.position)

    def document_ids(self) -> list[str]:
        """Return the ids of the stored documents, sorted."""
        return sorted(self._current_index().document_rows)

    def _document_path(self, document_id: str) -> Path:
        return self._documents_dir / f"{document_id}{DOCUMENT_SUFFIX}"

    def _create(self, path: Path) -> None:
        entries = [entry for entry in path.iterdir() if entry.name != LOCK_NAME]
        if entries:
            raise InvalidStoreError(
                f"{path}: directory is not empty and has no {MANIFEST_NAME}, so it is not a store. "
                "Set the store to a new or empty directory."
            )
        self._documents_dir.mkdir()
        manifest = {"format_version": FORMAT_VERSION, "embedder_id": self.embedder_id, "dimension": self.dimension}
        _write_atomically(path / MANIFEST_NAME, json.dumps(manifest, indent=2).encode("utf-8"))
        logger.info("created store at %s for embedder %s", path, self.embedder_id)

    def _read_manifest(self) -> dict | None:
        manifest_path = self.path / MANIFEST_NAME
        try:
            return json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InvalidStoreError(f"{manifest_path}: invalid JSON ({error}). Delete the store and ingest again.") from error

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        # NOTE: fcntl is POSIX-only, so this store runs on Linux and macOS but not on Windows.
        with self._thread_lock, open(self._lock_path, "a+b") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _remove_temporary_files(self) -> None:
        # Only called under the write lock, so no other writer owns these files.
        for entry in self._documents_dir.glob(f".*{TEMPORARY_SUFFIX}"):
            entry.unlink(missing_ok=True)

    def _check_vectors(self, document_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> np.ndarray:
        matrix = np.asarray(vectors, dtype=np.float32)
        expected_shape = (len(chunks), self.dimension)
        if len(chunks) == 0 and matrix.size == 0:
            return np.zeros(expected_shape, dtype=np.float32)
        if matrix.shape != expected_shape:
            raise ValueError(
                f"document {document_id}: vectors have shape {matrix.shape}, expected {expected_shape} "
                f"(one row per chunk, embedder {self.embedder_id})"
            )
        if not np.isfinite(matrix).all():
            raise ValueError(f"document {document_id}: vectors contain NaN or infinite values")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValueError(f"document {document_id}: a vector is all zeros, so it has no direction to compare")
        return matrix / norms

    def _check_query_vector(self, query_vector: np.ndarray) -> np.ndarray:
        vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        if vector.shape != (self.dimension,):
            raise ValueError(
                f"query vector has {vector.size} values, expected {self.dimension} for embedder {self.embedder_id}"
            )
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0:
            raise ValueError("query vector is all zeros or contains NaN or infinite values")
        return vector / norm

    def _current_index(self) -> _Index:
        with self._thread_lock:
            fingerprint = self._scan_documents()
            if self._index is None or fingerprint != self._fingerprint:
                self._index = self._load_index(fingerprint)
                self._fingerprint = fingerprint
            return self._index

    def _scan_documents(self) -> tuple[tuple[str, tuple[int, int, int]], ...]:
        entries = []
        with os.scandir(self._documents_dir) as scan:
            for entry in scan:
                if entry.name.startswith(".") or not entry.name.endswith(DOCUMENT_SUFFIX):
                    continue
                try:
                    stat = entry.stat()
                except FileNotFoundError:
                    continue
                entries.append((entry.name[: -len(DOCUMENT_SUFFIX)], (stat.st_ino, stat.st_size, stat.st_mtime_ns)))
        return tuple(sorted(entries))

    def _load_index(self, fingerprint: tuple[tuple[str, tuple[int, int, int]], ...]) -> _Index:
        started = time.perf_counter()
        loaded: dict[str, tuple[tuple[int, int, int], _StoredDocument]] = {}
        for document_id, signature in fingerprint:
            cached = self._loaded.get(document_id)
            if cached is not None and cached[0] == signature:
                loaded[document_id] = cached
                continue
            try:
                loaded[document_id] = (signature, _read_document(self._document_path(document_id)))
            except FileNotFoundError:
                # Another process deleted the file after the scan, and the next call rescans.
                continue
        self._loaded = loaded

        chunks: list[Chunk] = []
        terms: list[list[str]] = []
        matrices: list[np.ndarray] = []
        document_rows: dict[str, np.ndarray] = {}
        for document_id, (_, document) in loaded.items():
            document_rows[document_id] = np.arange(len(chunks), len(chunks) + len(document.chunks))
            chunks.extend(document.chunks)
            terms.extend(document.terms)
            matrices.append(document.vectors)
        vectors = np.vstack(matrices) if matrices else np.zeros((0, self.dimension), dtype=np.float32)
        index = _Index(chunks=chunks, vectors=vectors, document_rows=document_rows, bm25=BM25Index(terms))
        logger.info(
            "loaded store %s: document_count=%d chunk_count=%d in %.2f s",
            self.path,
            len(document_rows),
            len(chunks),
            time.perf_counter() - started,
        )
        return index


def _check_manifest(path: Path, manifest: dict, embedder: Embedder) -> None:
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InvalidStoreError(
            f"{path}: store format version {version!r} is not supported by this ragagent (it reads up to "
            f"{FORMAT_VERSION}). Upgrade ragagent or ingest into a new store."
        )
    stored_id = manifest.get("embedder_id")
    stored_dimension = manifest.get("dimension")
    if stored_id != embedder.embedder_id or stored_dimension != embedder.dimension:
        raise EmbedderMismatchError(
            f"{path}: the store was built with embedder {stored_id!r} ({stored_dimension} dimensions), "
            f"but the configured embedder is {embedder.embedder_id!r} ({embedder.dimension} dimensions). "
            "Ingest the documents into a new store (another RAGAGENT_STORE directory), "
            f"or delete {path} and ingest again."
        )


def _cosine_scores(vectors: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
    # einsum runs on one thread. The BLAS matrix-vector product measured 0.06 ms alone but 12 to 20 ms
    # right after an ONNX Runtime batch on 2 busy cores, because its threads waited for a free core.
    return np.einsum("ij,j->i", vectors, query_vector)


def _allowed_rows(index: _Index, document_ids: Sequence[str] | None) -> np.ndarray:
    if document_ids is None:
        return np.ones(len(index.chunks), dtype=bool)
    if isinstance(document_ids, str):
        raise TypeError("document_ids must be a sequence of ids, not one string")
    allowed = np.zeros(len(index.chunks), dtype=bool)
    for document_id in document_ids:
        rows = index.document_rows.get(document_id)
        if rows is not None:
            allowed[rows] = True
    return allowed


def _scored_chunks(
    index: _Index,
    ranked: list[tuple[int, float]],
    bm25_scores: np.ndarray | None,
    vector_scores: np.ndarray | None,
    bm25_ranking: list[int],
    vector_ranking: list[int],
) -> list[ScoredChunk]:
    bm25_ranks = {row: rank for rank, row in enumerate(bm25_ranking, start=1)}
    vector_ranks = {row: rank for rank, row in enumerate(vector_ranking, start=1)}
    results = []
    for row, score in ranked:
        results.append(
            ScoredChunk(
                chunk=index.chunks[row].model_copy(deep=True),
                score=score,
                bm25_score=float(bm25_scores[row]) if bm25_scores is not None else None,
                vector_score=float(vector_scores[row]) if vector_scores is not None else None,
                bm25_rank=bm25_ranks.get(row),
                vector_rank=vector_ranks.get(row),
            )
        )
    return results


def _encode_document(chunks: Sequence[Chunk], terms: list[list[str]], vectors: np.ndarray) -> bytes:
    records = {
        "tokenizer_version": TOKENIZER_VERSION,
        "chunks": [chunk.model_dump(mode="json") for chunk in chunks],
        "terms": terms,
    }
    metadata = np.frombuffer(json.dumps(records, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, vectors=vectors.astype(np.float32), metadata=metadata)
    return buffer.getvalue()


def _read_document(path: Path) -> _StoredDocument:
    try:
        with np.load(path, allow_pickle=False) as archive:
            vectors = archive["vectors"]
            records = json.loads(archive["metadata"].tobytes().decode("utf-8"))
        chunks = [Chunk.model_validate(record) for record in records["chunks"]]
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise InvalidStoreError(f"{path}: damaged document file ({error}). Delete it and ingest the document again.") from error

    terms = records["terms"]
    if records.get("tokenizer_version") != TOKENIZER_VERSION:
        terms = [tokenize(chunk.text) for chunk in chunks]
    if vectors.shape[0] != len(chunks) or len(terms) != len(chunks):
        raise InvalidStoreError(f"{path}: {len(chunks)} chunks but {vectors.shape[0]} vectors. Ingest the document again.")
    return _StoredDocument(chunks=chunks, terms=terms, vectors=vectors)


def _write_atomically(path: Path, payload: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        # mkstemp creates the file readable by its owner only, but store files should be as readable as other data files.
        os.chmod(temporary, FILE_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
