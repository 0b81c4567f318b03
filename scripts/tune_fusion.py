"""Tune hybrid search fusion (rank offset k and BM25 weight) by k-fold cross-validation over questions.

Reads an already-built store and a JSON Lines question set, fetches each
question's BM25 and vector candidate lists once, and replays weighted
reciprocal rank fusion for every grid point. A point is scored by recall@5
(a chunk from the evidence file and pages among the top 5), with the mean
reciprocal rank of the first evidence chunk in the top 10 to break ties.
Prints the held-out recall of each fold next to BM25's and the vector
ranker's, then the best point on all questions.

    python scripts/tune_fusion.py --store /tmp/ragstore --questions eval/qa_dev.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ragagent.embedding.minilm import MiniLMEmbedder
from ragagent.evaluation import RECALL_K, EvalQuestion, is_evidence_hit, load_questions
from ragagent.models import ScoredChunk
from ragagent.store.local import CANDIDATES_PER_RESULT, MIN_CANDIDATES, LocalStore
from ragagent.store.ranking import HYBRID_RRF_K, HYBRID_WEIGHTS, fuse_reciprocal_rank

RANK_OFFSETS = (5, 10, 20, 30, 60)
BM25_WEIGHTS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
MRR_DEPTH = 10

FusionPoint = tuple[int, float]


@dataclass
class Candidates:
    """One question's candidate lists: chunk ids in rank order, and which ids are evidence."""

    question: EvalQuestion
    bm25: list[str]
    vector: list[str]
    evidence: set[str]

    def fused(self, point: FusionPoint) -> list[str]:
        k, bm25_weight = point
        ids = list(dict.fromkeys(self.bm25 + self.vector))
        numbers = {chunk_id: number for number, chunk_id in enumerate(ids)}
        rankings = [[numbers[chunk_id] for chunk_id in self.bm25], [numbers[chunk_id] for chunk_id in self.vector]]
        return [ids[number] for number, _ in fuse_reciprocal_rank(rankings, k, (bm25_weight, 1.0))]

    def quality(self, ranking: Sequence[str]) -> tuple[float, float]:
        """Return (hit in the top 5, reciprocal rank of the first evidence chunk within MRR_DEPTH)."""
        first = next((rank for rank, chunk_id in enumerate(ranking[:MRR_DEPTH], start=1) if chunk_id in self.evidence), None)
        return float(first is not None and first <= RECALL_K), 1.0 / first if first else 0.0


def fetch_candidates(question: EvalQuestion, store: LocalStore, embedder: MiniLMEmbedder, count: int) -> Candidates:
    vector = embedder.embed_query(question.question)
    bm25 = store.search(question.question, vector, count, "bm25")
    nearest = store.search(question.question, vector, count, "vector")
    evidence = {scored.chunk.chunk_id for scored in [*bm25, *nearest] if is_evidence_hit(question, [scored])}
    return Candidates(question, _ids(bm25), _ids(nearest), evidence)


def _ids(results: Sequence[ScoredChunk]) -> list[str]:
    return [scored.chunk.chunk_id for scored in results]


def score(candidates: Sequence[Candidates], point: FusionPoint) -> tuple[float, float]:
    qualities = np.array([item.quality(item.fused(point)) for item in candidates])
    return float(qualities[:, 0].mean()), float(qualities[:, 1].mean())


def best_point(candidates: Sequence[Candidates]) -> FusionPoint:
    points = list(itertools.product(RANK_OFFSETS, BM25_WEIGHTS))
    return max(points, key=lambda point: score(candidates, point))


def single_ranker_recall(candidates: Sequence[Candidates], ranker: str) -> float:
    return float(np.mean([item.quality(getattr(item, ranker))[0] for item in candidates]))


def cross_validate(candidates: Sequence[Candidates], folds: int, seed: int) -> None:
    order = list(range(len(candidates)))
    random.Random(seed).shuffle(order)
    hybrid, bm25, vector = [], [], []
    for fold in range(folds):
        test = [candidates[index] for position, index in enumerate(order) if position % folds == fold]
        train = [candidates[index] for position, index in enumerate(order) if position % folds != fold]
        point = best_point(train)
        hybrid += [item.quality(item.fused(point))[0] for item in test]
        bm25 += [item.quality(item.bm25)[0] for item in test]
        vector += [item.quality(item.vector)[0] for item in test]
        print(f"fold {fold + 1}: train n={len(train)} best k={point[0]} bm25_weight={point[1]} held-out n={len(test)}")
    print(f"held-out recall@5: hybrid {np.mean(hybrid):.3f} BM25 {np.mean(bm25):.3f} vector {np.mean(vector):.3f}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="directory of a store built by ragagent ingest")
    parser.add_argument("--questions", type=Path, default=Path("eval/qa_dev.jsonl"), help="JSON Lines question set")
    parser.add_argument("--folds", type=int, default=5, help="number of cross-validation folds")
    parser.add_argument("--seed", type=int, default=13, help="seed of the question shuffle before splitting into folds")
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.WARNING)
    if not (arguments.store / "manifest.json").is_file():
        raise SystemExit(f"{arguments.store}: no store found; build one with ragagent ingest first")

    embedder = MiniLMEmbedder()
    store = LocalStore.open(arguments.store, embedder)
    # The same candidate count as the store's hybrid search for the agent's top 5.
    count = max(MIN_CANDIDATES, CANDIDATES_PER_RESULT * RECALL_K)
    questions = [question for question in load_questions(arguments.questions) if question.answerable]
    candidates = [fetch_candidates(question, store, embedder, count) for question in questions]

    cross_validate(candidates, arguments.folds, arguments.seed)
    point = best_point(candidates)
    recall, mrr = score(candidates, point)
    print(f"best on all {len(candidates)} answerable questions: k={point[0]} bm25_weight={point[1]} recall@5 {recall:.3f} MRR@10 {mrr:.3f}")
    current = (HYBRID_RRF_K, HYBRID_WEIGHTS[0] / HYBRID_WEIGHTS[1])
    recall, mrr = score(candidates, current)
    print(f"current k={current[0]} bm25_weight={current[1]}: recall@5 {recall:.3f} MRR@10 {mrr:.3f}")
    print(f"single rankers: BM25 {single_ranker_recall(candidates, 'bm25'):.3f} vector {single_ranker_recall(candidates, 'vector'):.3f}")


if __name__ == "__main__":
    main()
