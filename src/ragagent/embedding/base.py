"""The embedder interface."""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class Embedder(Protocol):
    """Turn texts into L2-normalized float32 vectors.

    `embedder_id` names the model and its settings; an index stores it and
    refuses vectors from any other embedder. `max_tokens` is the input limit:
    the chunker keeps every chunk within it, so no tail is truncated away.
    """

    embedder_id: str
    dimension: int
    max_tokens: int

    def count_tokens(self, text: str) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...
