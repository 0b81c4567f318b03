"""Bedrock embedder: Amazon Titan Text Embeddings V2 through LangChain's `BedrockEmbeddings`."""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Sequence

import numpy as np

from ragagent.errors import ConfigurationError, ProviderError
from ragagent.providers.errors import provider_errors

logger = logging.getLogger(__name__)

TITAN_V2_MODEL = "amazon.titan-embed-text-v2:0"
TITAN_V2_DIMENSIONS = (256, 512, 1024)
TITAN_V2_MAX_TOKENS = 8192
# NOTE: Titan's tokenizer is not public, so tokens are estimated from characters.
# Three characters per token overestimates English text, which keeps chunks inside
# the limit, and 8192 tokens then stays under Titan V2's 50,000-character input limit.
CHARACTERS_PER_TOKEN = 3


class BedrockEmbedder:
    """Embed texts with Titan Text Embeddings V2, one InvokeModel call per text.

    Titan normalizes each vector on the server (`"normalize": true`) and the
    vector is normalized again locally, so the store's cosine scores hold even
    for a model that ignores the flag.
    """

    max_tokens: int = TITAN_V2_MAX_TOKENS

    def __init__(self, client: Any, model_id: str = TITAN_V2_MODEL, dimension: int = 1024) -> None:
        if model_id == TITAN_V2_MODEL and dimension not in TITAN_V2_DIMENSIONS:
            raise ConfigurationError(f"RAGAGENT_EMBEDDING_DIMENSION={dimension} is invalid for {model_id}: use 256, 512 or 1024")
        try:
            from langchain_aws import BedrockEmbeddings
        except ImportError as error:
            raise ConfigurationError("the bedrock embedder needs langchain-aws: pip install 'ragagent[providers]'") from error

        self.model_id = model_id
        self.dimension = dimension
        self.embedder_id = f"bedrock:{model_id}:{dimension}"
        self._embeddings = BedrockEmbeddings(
            client=client,
            model_id=model_id,
            dimensions=dimension,
            normalize=True,
            model_kwargs={"normalize": True},
        )

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text) / CHARACTERS_PER_TOKEN)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        started = time.monotonic()
        vectors = self._call(lambda: self._embeddings.embed_documents(list(texts)))
        logger.info("Embedded %d texts with %s in %.2f s", len(texts), self.embedder_id, time.monotonic() - started)
        return self._to_array(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._call(lambda: self._embeddings.embed_query(text))
        return self._to_array([vector])[0]

    def _call(self, embed: Callable[[], Any]) -> Any:
        with provider_errors("Bedrock"):
            try:
                return embed()
            except ValueError as error:
                # LangChain raises ValueError for a body without an embedding, json for one that is not JSON.
                raise ProviderError(f"{self.model_id} returned a malformed response: {error}") from error

    def _to_array(self, vectors: list[list[float]]) -> np.ndarray:
        lengths = {len(vector) for vector in vectors}
        if lengths != {self.dimension}:
            raise ProviderError(f"{self.model_id} returned vectors of length {sorted(lengths)}, expected {self.dimension}")
        array = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        return array / np.maximum(norms, np.finfo(np.float32).tiny)
