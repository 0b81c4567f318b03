"""Rankers shared by stores that search in memory: BM25 over term lists, top-k selection and reciprocal rank fusion."""

from __future__ import annotations

import logging
from typing import Sequence

import bm25s
import numpy as np

# bm25s sets its own logger to DEBUG at import, which prints a line for every index build.
logging.getLogger("bm25s").setLevel(logging.WARNING)

BM25_K1 = 1.2
BM25_B = 0.75
RRF_K = 60
"""Default rank offset of reciprocal rank fusion: a result at rank r adds weight / (k + r)."""

# Hybrid search settings, shared by every store so that they rank alike. Picked
# by scripts/tune_fusion.py (5-fold cross-validation over the questions of
# eval/qa_dev.jsonl, maximizing recall@5, then MRR@10). A small rank offset lets
# a first place in one ranker outweigh two middling places, and BM25 weighs
# more because the questions name exact terms (model names, benchmarks,
# numbers) that a small sentence embedder blurs.
HYBRID_RRF_K = 5
BM25_FUSION_WEIGHT = 3.0
VECTOR_FUSION_WEIGHT = 1.0
HYBRID_WEIGHTS = (BM25_FUSION_WEIGHT, VECTOR_FUSION_WEIGHT)
"""Fusion weights of the (BM25, vector) rankings, in that order."""


class BM25Index:
    """Okapi BM25 (k1 = 1.2, b = 0.75, Lucene's IDF) over documents given as term lists.

    bm25s builds a sparse matrix of precomputed term scores, so scoring a query
    costs one sparse row sum per query term.
    """

    def __init__(self, documents: Sequence[Sequence[str]]) -> None:
        self.document_count = len(documents)
        self._retriever: bm25s.BM25 | None = None
        if documents:
            self._retriever = bm25s.BM25(k1=BM25_K1, b=BM25_B)
            self._retriever.index([list(terms) for terms in documents], show_progress=False)

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """Return the float32 BM25 score of every document for `query_terms`, 0 where no term matches."""
        if self._retriever is None or not query_terms:
            return np.zeros(self.document_count, dtype=np.float32)
        term_ids = self._retriever.get_tokens_ids(list(query_terms))
        if not term_ids:
            return np.zeros(self.document_count, dtype=np.float32)
        return np.asarray(self._retriever.get_scores_from_ids(term_ids), dtype=np.float32)


def top_indices(scores: np.ndarray, allowed: np.ndarray, count: int) -> list[int]:
    """Return the indexes of the `count` highest `scores` among the `allowed` ones, best first.

    Ties go to the lower index, so results are deterministic.
    """
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0:
        return []
    candidate_scores = scores[candidates]
    if candidates.size > count:
        # Keep everything that ties with the count-th score, so the final sort decides ties by index.
        threshold = np.partition(candidate_scores, candidates.size - count)[candidates.size - count]
        kept = candidate_scores >= threshold
        candidates = candidates[kept]
        candidate_scores = candidate_scores[kept]
    order = np.lexsort((candidates, -candidate_scores))
    return candidates[order][:count].tolist()


def fuse_reciprocal_rank(
    rankings: Sequence[Sequence[int]],
    k: int = RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Fuse ranked lists of ids by weighted reciprocal rank fusion into (id, fused score) pairs, best first.

    List i adds weights[i] / (k + rank) to the score of each id it contains,
    rank counting from 1. Without `weights` every list weighs 1. Ties go to
    the lower id.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} fusion weights given for {len(rankings)} rankings: give one weight per ranking")
    if any(weight < 0 for weight in weights):
        raise ValueError(f"fusion weights {list(weights)} are invalid: each must be 0 or more")
    if k < 0:
        raise ValueError(f"k={k} is invalid: the rank offset must be 0 or more")
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda pair: (-pair[1], pair[0]))
