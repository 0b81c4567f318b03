"""Measure the offline embedder's throughput and the local store's search latency.

Chunks are cut from the text layer of PDFs given on the command line, so the
numbers reflect real scientific text. Vectors for the store benchmark are
embeddings of a sample of chunks repeated with small noise, because embedding
thousands of chunks would take minutes.

    python scripts/benchmark_local_retrieval.py documents/*.pdf
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pypdf

from ragagent.embedding.minilm import MiniLMEmbedder
from ragagent.models import Chunk
from ragagent.store.local import LocalStore

CHUNK_TOKENS = 200
QUERIES = [
    "How many GPUs were used for training?",
    "multi-token prediction objective",
    "Which attention mechanism does the model use?",
    "accuracy on MMLU",
    "Wie ist eine Topologie definiert?",
    "load balancing without auxiliary loss",
]


def read_words(paths: list[Path]) -> list[str]:
    words: list[str] = []
    for path in paths:
        reader = pypdf.PdfReader(path)
        for page in reader.pages:
            words.extend((page.extract_text() or "").split())
    return words


def cut_chunks(embedder: MiniLMEmbedder, words: list[str], count: int) -> list[str]:
    """Cut `count` texts of about CHUNK_TOKENS model tokens each, cycling through `words`."""
    chunks: list[str] = []
    start = 0
    while len(chunks) < count:
        length = 120
        text = " ".join(words[start : start + length])
        while embedder.count_tokens(text) < CHUNK_TOKENS and length < 400:
            length += 10
            text = " ".join(words[start : start + length])
        chunks.append(text)
        start = (start + length) % max(1, len(words) - 400)
    return chunks


def measure_embedding(embedder: MiniLMEmbedder, texts: list[str], batch_size: int) -> float:
    embedder.batch_size = batch_size
    embedder.embed_documents(texts[:batch_size])
    started = time.perf_counter()
    embedder.embed_documents(texts)
    return len(texts) / (time.perf_counter() - started)


def measure_store(embedder: MiniLMEmbedder, texts: list[str], chunk_count: int, chunks_per_document: int) -> None:
    sample = texts[:64]
    sample_vectors = embedder.embed_documents(sample)
    rng = np.random.default_rng(0)

    with tempfile.TemporaryDirectory() as directory:
        store = LocalStore.open(Path(directory) / "store", embedder)
        started = time.perf_counter()
        for first in range(0, chunk_count, chunks_per_document):
            document_id = f"doc-{first // chunks_per_document}"
            positions = range(min(chunks_per_document, chunk_count - first))
            chunks = [
                Chunk(chunk_id=f"{document_id}-{p}", document_id=document_id, source=f"{document_id}.pdf", pages=[1], position=p, text=texts[(first + p) % len(texts)])
                for p in positions
            ]
            vectors = sample_vectors[[(first + p) % len(sample) for p in positions]] + rng.normal(0, 0.02, (len(chunks), embedder.dimension))
            store.replace_document(document_id, chunks, vectors.astype(np.float32))
        print(f"ingest {chunk_count} chunks: {time.perf_counter() - started:.2f} s")

        reopened = LocalStore.open(Path(directory) / "store", embedder)
        started = time.perf_counter()
        reopened.document_ids()
        print(f"first load of the index (read files, build BM25): {time.perf_counter() - started:.2f} s")

        query_vectors = [embedder.embed_query(query) for query in QUERIES]
        for mode in ("hybrid", "bm25", "vector"):
            timings = []
            for _ in range(20):
                for query, vector in zip(QUERIES, query_vectors):
                    started = time.perf_counter()
                    reopened.search(query, vector, top_k=5, mode=mode)
                    timings.append(time.perf_counter() - started)
            timings.sort()
            p95 = timings[int(len(timings) * 0.95)]
            print(f"search {mode}: p50 {statistics.median(timings) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms over {len(timings)} queries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdfs", nargs="+", type=Path, help="PDF files with a text layer")
    parser.add_argument("--chunks", type=int, default=5000, help="chunk count of the store benchmark")
    parser.add_argument("--embed-texts", type=int, default=96, help="texts embedded per throughput measurement")
    arguments = parser.parse_args()

    embedder = MiniLMEmbedder()
    started = time.perf_counter()
    embedder.embed_query("load")
    print(f"model load and first query: {time.perf_counter() - started:.2f} s")

    texts = cut_chunks(embedder, read_words(arguments.pdfs), max(arguments.embed_texts, 64))
    mean_tokens = statistics.mean(embedder.count_tokens(text) for text in texts)
    for batch_size in (8, 32):
        rate = measure_embedding(embedder, texts[: arguments.embed_texts], batch_size)
        print(f"embed batch {batch_size}: {rate:.1f} texts/s (mean {mean_tokens:.0f} tokens)")

    started = time.perf_counter()
    for text in texts:
        embedder.count_tokens(text)
    print(f"count_tokens: {(time.perf_counter() - started) / len(texts) * 1e6:.0f} µs per {mean_tokens:.0f}-token text")

    measure_store(embedder, texts, arguments.chunks, chunks_per_document=100)


if __name__ == "__main__":
    main()
