"""The vector store interface."""

from __future__ import annotations

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
