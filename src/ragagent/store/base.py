"""The vector store interface."""

from __future__ import annotations

import re
from typing import Protocol, Sequence

import numpy as np

from ragagent.models import Chunk, ScoredChunk, SearchMode


class VectorStore(Protocol):
    """Hybrid search over chunks, with replacement and deletion by document id.

    A store is bound to one embedder id: opening it with another embedder
    raises `EmbedderMismatchError`.
    """

    embedder_id: str

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Replace every chunk of `document_id` with `chunks`, leaving no old chunk behind."""
        ...

    def delete_document(self, document_id: str) -> int:
        """Delete every chunk of `document_id`; return how many were deleted."""
        ...

    def search(
        self,
        query: str,
        query_vector: np.ndarray,
        top_k: int,
        mode: SearchMode = "hybrid",
        document_ids: Sequence[str] | None = None,
    ) -> list[ScoredChunk]: ...

    def document_chunks(self, document_id: str) -> list[Chunk]: ...

    def document_ids(self) -> list[str]: ...


DOCUMENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""Document ids that every store accepts: they become file names and keyword values."""


def check_document_id(document_id: str) -> None:
    if not isinstance(document_id, str) or not DOCUMENT_ID_PATTERN.fullmatch(document_id):
        raise ValueError(
            f"document id {document_id!r} is invalid: use 1 to 128 letters, digits, '-' or '_' "
            "(ragagent.models.document_id_for derives one)"
        )


def check_chunks(document_id: str, chunks: Sequence[Chunk]) -> None:
    """Raise `ValueError` when a chunk belongs to another document or a chunk id repeats."""
    seen: set[str] = set()
    for chunk in chunks:
        if chunk.document_id != document_id:
            raise ValueError(f"chunk {chunk.chunk_id} belongs to document {chunk.document_id}, not to {document_id}")
        if chunk.chunk_id in seen:
            raise ValueError(f"document {document_id}: chunk id {chunk.chunk_id} appears twice")
        seen.add(chunk.chunk_id)
