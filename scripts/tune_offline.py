"""Tune the offline agent's thresholds by k-fold cross-validation over questions.

Reads an already-built store (it ingests nothing) and a JSON Lines question
set, runs every retrieval attempt the agent could make for each question,
and then replays the agent's decisions for each grid point of (grader overlap
weight, grader threshold, generator coverage threshold, focus weight,
answer-type weight, specific coverage threshold). The metric is the share of questions handled correctly:
an accepted answer in the reply, or an abstention on an unanswerable
question. Ties go to the grader settings that grade the first retrieval's
chunks best (balanced accuracy against the evidence pages), so that a chunk
off the question's topic is graded out and the agent rewrites the query.

    python scripts/tune_offline.py --store /tmp/ragstore --questions eval/qa_dev.jsonl eval/qa_holdout.jsonl
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

from ragagent.agent.offline import MAX_ANSWER_UNITS, ExtractiveGenerator, FeedbackRewriter, GradeFeatures, OverlapGrader, ScoredUnit
from ragagent.agent.terms import TermStatistics
from ragagent.embedding.minilm import MiniLMEmbedder
from ragagent.evaluation import EvalQuestion, is_correct, is_evidence_hit, load_questions
from ragagent.models import Answer, ScoredChunk
from ragagent.store.local import LocalStore

logger = logging.getLogger("tune_offline")

OVERLAP_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
GRADER_THRESHOLDS = tuple(round(float(value), 2) for value in np.arange(0.1, 1.0, 0.1))
COVERAGE_THRESHOLDS = tuple(round(float(value), 2) for value in np.arange(0.2, 0.75, 0.05))
FOCUS_WEIGHTS = (1.0, 2.0, 3.0, 4.0, 5.0)
ANSWER_TYPE_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
SPECIFIC_THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
AXES = (OVERLAP_WEIGHTS, GRADER_THRESHOLDS, COVERAGE_THRESHOLDS, FOCUS_WEIGHTS, ANSWER_TYPE_WEIGHTS, SPECIFIC_THRESHOLDS)
AXIS_NAMES = ("overlap_weight", "grader_threshold", "coverage_threshold", "focus_weight", "answer_type_weight", "specific_threshold")
ABSTAINED = Answer(answer="", grounded=False)

GridPoint = tuple[float, float, float, float, float, float]


@dataclass
class Attempt:
    query: str
    retrieved: list[ScoredChunk]
    features: list[GradeFeatures]


@dataclass
class QuestionTrace:
    question: EvalQuestion
    attempts: list[Attempt]


def trace_question(
    question: EvalQuestion,
    store: LocalStore,
    embedder: MiniLMEmbedder,
    grader: OverlapGrader,
    rewriter: FeedbackRewriter,
    top_k: int,
    max_retries: int,
) -> QuestionTrace:
    """Run the first retrieval and every rewrite the retry budget allows.

    The rewrites depend only on the retrieved chunks, not on the grades, so
    one trace serves every threshold.
    """
    attempts = []
    query = question.question
    for attempt_index in range(max_retries + 1):
        if attempt_index:
            query = rewriter.rewrite(question.question, query, attempts[-1].retrieved)
        retrieved = store.search(query, embedder.embed_query(query), top_k, "hybrid")
        attempts.append(Attempt(query, retrieved, grader.features(question.question, retrieved)))
    return QuestionTrace(question, attempts)


class Replayer:
    """Replay the agent's routing and generation for a grid point, caching generated answers."""

    def __init__(self, statistics: TermStatistics, min_relevant: int) -> None:
        self.statistics = statistics
        self.min_relevant = min_relevant
        self._units: dict[tuple[str, tuple[str, ...], float, float], list[ScoredUnit]] = {}
        self._answers: dict[tuple[str, tuple[str, ...], tuple[int, ...]], Answer] = {}

    def answer(self, trace: QuestionTrace, point: GridPoint) -> Answer:
        return self.run(trace, point)[0]

    def run(self, trace: QuestionTrace, point: GridPoint) -> tuple[Answer, int]:
        """Return the agent's answer for the grid point and how many retrieval attempts it made."""
        overlap_weight, grader_threshold, coverage_threshold, focus_weight, answer_type_weight, specific_threshold = point
        for attempt_count, attempt in enumerate(trace.attempts, start=1):
            relevant = [
                scored
                for scored, features in zip(attempt.retrieved, attempt.features)
                if features.score(overlap_weight) >= grader_threshold
            ]
            if len(relevant) >= self.min_relevant:
                answer = self._generate(trace.question, relevant, point[2:])
                return answer, attempt_count
        return ABSTAINED, len(trace.attempts)

    def correct(self, trace: QuestionTrace, point: GridPoint) -> bool:
        return is_correct(trace.question, self.answer(trace, point))

    def _generate(self, question: EvalQuestion, relevant: list[ScoredChunk], generator_point: tuple[float, ...]) -> Answer:
        """Generate as ExtractiveGenerator.generate does, scoring the units once per chunk set and weights."""
        coverage_threshold, focus_weight, answer_type_weight, specific_threshold = generator_point
        chunk_ids = tuple(scored.chunk.chunk_id for scored in relevant)
        generator = ExtractiveGenerator(
            self.statistics,
            coverage_threshold=coverage_threshold,
            focus_weight=focus_weight,
            answer_type_weight=answer_type_weight,
            specific_threshold=specific_threshold,
        )
        units_key = (question.id, chunk_ids, focus_weight, answer_type_weight)
        if units_key not in self._units:
            self._units[units_key] = generator.score_units(question.question, relevant)
        supported = generator.supported_units(self._units[units_key])
        if not supported:
            return ABSTAINED
        answer_key = (question.id, chunk_ids, tuple(id(item) for item in supported[:MAX_ANSWER_UNITS]))
        if answer_key not in self._answers:
            self._answers[answer_key] = generator.compose(question.question, supported, relevant)
        return self._answers[answer_key]


def grid() -> list[GridPoint]:
    return list(itertools.product(*AXES))


def score_grid(traces: Sequence[QuestionTrace], replayer: Replayer) -> dict[GridPoint, float]:
    return {point: float(np.mean([replayer.correct(trace, point) for trace in traces])) for point in grid()}


def grader_accuracy(traces: Sequence[QuestionTrace], overlap_weight: float, threshold: float) -> float:
    """Return the balanced accuracy of the first attempt's grades, a chunk being relevant when it is on an evidence page.

    Every chunk retrieved for an unanswerable question counts as not relevant.
    """
    hits: dict[bool, list[bool]] = {True: [], False: []}
    for trace in traces:
        attempt = trace.attempts[0]
        for scored, features in zip(attempt.retrieved, attempt.features):
            truth = trace.question.answerable and is_evidence_hit(trace.question, [scored])
            hits[truth].append((features.score(overlap_weight) >= threshold) == truth)
    rates = [float(np.mean(values)) for values in hits.values() if values]
    return float(np.mean(rates)) if rates else 0.0


def grader_accuracies(traces: Sequence[QuestionTrace]) -> dict[tuple[float, float], float]:
    return {
        (weight, threshold): grader_accuracy(traces, weight, threshold) for weight in OVERLAP_WEIGHTS for threshold in GRADER_THRESHOLDS
    }


def neighbour_mean(scores: dict[GridPoint, float], point: GridPoint) -> float:
    """Average the score over the point and its grid neighbors, to prefer the middle of a plateau."""
    positions = [axis.index(value) for axis, value in zip(AXES, point)]
    values = []
    for offsets in itertools.product((-1, 0, 1), repeat=len(AXES)):
        indices = [position + offset for position, offset in zip(positions, offsets)]
        if all(0 <= index < len(axis) for index, axis in zip(indices, AXES)):
            values.append(scores[tuple(axis[index] for axis, index in zip(AXES, indices))])
    return float(np.mean(values))


def best_point(scores: dict[GridPoint, float], grading: dict[tuple[float, float], float]) -> GridPoint:
    """Pick the best correct share, then the best grader accuracy, then the best neighborhood."""
    best = max(scores.values())
    tied = [point for point in scores if scores[point] == best]
    best_grading = max(grading[point[:2]] for point in tied)
    tied = [point for point in tied if grading[point[:2]] == best_grading]
    return max(tied, key=lambda point: neighbour_mean(scores, point))


def cross_validate(traces: Sequence[QuestionTrace], replayer: Replayer, folds: int, seed: int) -> list[float]:
    """Pick the best grid point on k-1 folds, score it on the held-out fold, and return the held-out scores."""
    order = list(range(len(traces)))
    random.Random(seed).shuffle(order)
    held_out_scores = []
    for fold in range(folds):
        test = [traces[index] for position, index in enumerate(order) if position % folds == fold]
        train = [traces[index] for position, index in enumerate(order) if position % folds != fold]
        point = best_point(score_grid(train, replayer), grader_accuracies(train))
        held_out = float(np.mean([replayer.correct(trace, point) for trace in test]))
        held_out_scores.append(held_out)
        print(f"fold {fold + 1}: train n={len(train)} best={point} held-out n={len(test)} correct={held_out:.3f}")
    return held_out_scores


def describe_point(traces: Sequence[QuestionTrace], replayer: Replayer, point: GridPoint) -> None:
    answerable = [replayer.correct(trace, point) for trace in traces if trace.question.answerable]
    unanswerable = [replayer.correct(trace, point) for trace in traces if not trace.question.answerable]
    print(" ".join(f"{name}={value}" for name, value in zip(AXIS_NAMES, point)))
    if answerable:
        print(f"  answer accuracy {np.mean(answerable):.3f} (n={len(answerable)})")
    if unanswerable:
        print(f"  abstention accuracy {np.mean(unanswerable):.3f} (n={len(unanswerable)})")
    print(f"  grader balanced accuracy {grader_accuracy(traces, point[0], point[1]):.3f}")
    for trace in traces:
        answer, attempts = replayer.run(trace, point)
        status = "ok  " if is_correct(trace.question, answer) else "MISS"
        print(f"  {status} {trace.question.id} [{trace.question.kind}] attempts={attempts}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="directory of a store built by ragagent ingest")
    parser.add_argument(
        "--questions", type=Path, nargs="+", default=[Path("eval/qa_dev.jsonl")], help="JSON Lines question sets, pooled"
    )
    parser.add_argument("--folds", type=int, default=5, help="number of cross-validation folds")
    parser.add_argument("--seed", type=int, default=13, help="seed of the question shuffle before splitting into folds")
    parser.add_argument("--top-k", type=int, default=5, help="chunks retrieved per query")
    parser.add_argument("--max-retries", type=int, default=2, help="query rewrites allowed per question")
    parser.add_argument("--min-relevant", type=int, default=1, help="relevant chunks needed to generate")
    parser.add_argument(
        "--current", type=float, nargs=6, metavar=("W", "TG", "TC", "F", "A", "TS"), help="also report this grid point"
    )
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    if not (arguments.store / "manifest.json").is_file():
        raise SystemExit(f"{arguments.store}: no store found; build one with ragagent ingest first")

    embedder = MiniLMEmbedder()
    store = LocalStore.open(arguments.store, embedder)
    statistics = TermStatistics.from_store(store)
    grader = OverlapGrader(statistics)
    rewriter = FeedbackRewriter(statistics)
    questions = [question for path in arguments.questions for question in load_questions(path)]
    traces = [
        trace_question(question, store, embedder, grader, rewriter, arguments.top_k, arguments.max_retries) for question in questions
    ]
    replayer = Replayer(statistics, arguments.min_relevant)

    held_out = cross_validate(traces, replayer, arguments.folds, arguments.seed)
    print(f"cross-validated correct share: mean {np.mean(held_out):.3f} over {arguments.folds} folds")

    scores = score_grid(traces, replayer)
    point = best_point(scores, grader_accuracies(traces))
    print(f"best on all {len(traces)} questions: correct share {scores[point]:.3f}")
    describe_point(traces, replayer, point)
    if arguments.current:
        current = tuple(arguments.current)
        print(f"current constants: correct share {np.mean([replayer.correct(trace, current) for trace in traces]):.3f}")
        describe_point(traces, replayer, current)


if __name__ == "__main__":
    main()
