"""Measure the offline stack's speed and memory and record them in docs/benchmarks.md.

    python scripts/benchmark.py $RAGAGENT_CORPUS_DIR/paper_*.pdf

Measures, on this machine:

- ingestion pages per second with `LocalIngestor` (model loaded first), next
  to a ceiling from the same run: pages / (parse-only seconds + embed-only
  seconds for the chunks of the same pages), and the embedder's tokens per
  second;
- peak memory (max RSS) of the ingestion process;
- `Agent.ask` latency p50 and p95 over a question file, in process, after a
  warm-up question;
- the wall time of one `ragagent ask` from a new process;
- the query Lambda handler's cold start (import, agent creation, first
  query) in a new process, when functions/query_api/app.py exists.

Ingestion and the ceiling run in child processes of this script, so the peak
memory is the ingestion's own and the parent's imports do not count. The
script rewrites only the "Speed and memory" section of the output file and
leaves the other sections as they are.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_QUESTIONS = REPOSITORY / "eval" / "qa_dev.jsonl"
DEFAULT_OUTPUT = REPOSITORY / "docs" / "benchmarks.md"
HANDLER_PATH = REPOSITORY / "functions" / "query_api" / "app.py"
SECTION_TITLE = "## Speed and memory"
RESULT_PREFIX = "RESULT "
WARM_UP_QUERY = "warm-up query for the embedder"

TARGET_PAGES_PER_SECOND = 3.0
TARGET_CEILING_SHARE = 0.8
TARGET_ASK_P50_MS = 300.0
TARGET_PEAK_MEMORY_GB = 1.5
TARGET_HANDLER_COLD_START_SECONDS = 1.5
BYTES_PER_GB = 10**9
KIB = 1024

# Environment of the handler child: a region for boto3's clients, and Powertools
# without X-Ray, as no daemon runs here. No AWS call is made before the first query.
HANDLER_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "ragagent",
    "POWERTOOLS_METRICS_NAMESPACE": "RagAgent",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}


def child_ingest(store: Path, pdfs: list[Path]) -> dict[str, Any]:
    """Ingest `pdfs` into a new local store with LocalIngestor, as `ragagent ingest` does."""
    from ragagent.factory import build_describer, build_embedder, build_parser, build_status_store, open_store
    from ragagent.ingest import LocalIngestor
    from ragagent.settings import Settings

    settings = Settings(store=str(store))
    started = time.perf_counter()
    embedder = build_embedder(settings)
    embedder.embed_query(WARM_UP_QUERY)
    ingestor = LocalIngestor(
        store_dir=settings.store_path,
        parser=build_parser(settings),
        describer=build_describer(settings),
        embedder=embedder,
        store=open_store(settings, embedder),
        batch_size=settings.batch_size,
        max_pages=settings.max_pages,
        status=build_status_store(settings),
    )
    load_seconds = time.perf_counter() - started

    cpu_before = time.process_time()
    started = time.perf_counter()
    results = ingestor.ingest(pdfs)
    seconds = time.perf_counter() - started
    failed = [f"{result.path}: {result.error}" for result in results if not result.ok]
    if failed:
        raise RuntimeError(f"ingestion failed: {failed}")
    return {
        "load_seconds": load_seconds,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_before,
        "pages": sum(result.page_count for result in results),
        "chunks": sum(result.chunk_count for result in results),
        "documents": [{"file": Path(result.path).name, "pages": result.page_count, "chunks": result.chunk_count, "seconds": result.seconds} for result in results],
    }


def child_ceiling(pdfs: list[Path]) -> dict[str, Any]:
    """Time parsing alone, then embedding alone, for the same pages and chunks as ingestion."""
    from ragagent.describe.offline import OfflineDescriber
    from ragagent.embedding.minilm import MiniLMEmbedder
    from ragagent.ingest import document_ref_for
    from ragagent.parsing.local import LocalParser
    from ragagent.pipeline.chunk import chunk_document
    from ragagent.pipeline.describe import describe_document
    from ragagent.pipeline.reindex import reindex_batches
    from ragagent.pipeline.split import split_pdf
    from ragagent.settings import Settings

    settings = Settings()
    parser = LocalParser(ocr_languages=settings.ocr_languages)
    embedder = MiniLMEmbedder()
    embedder.embed_query(WARM_UP_QUERY)

    parse_seconds = 0.0
    chunk_seconds = 0.0
    pages = 0
    texts: list[str] = []
    for path in pdfs:
        document = document_ref_for(path)
        started = time.perf_counter()
        split = split_pdf(path.read_bytes(), document, batch_size=settings.batch_size, max_pages=settings.max_pages)
        responses = [(batch.first_page, parser.parse(batch)) for batch in split.batches]
        parse_seconds += time.perf_counter() - started
        pages += split.page_count

        started = time.perf_counter()
        described = describe_document(reindex_batches(document, responses), OfflineDescriber())
        chunks = chunk_document(described, embedder.count_tokens, embedder.max_tokens)
        chunk_seconds += time.perf_counter() - started
        texts.extend(chunk.text for chunk in chunks)

    # Tokens given to the model: longer texts are truncated to max_tokens.
    tokens = sum(min(embedder.count_tokens(text), embedder.max_tokens) for text in texts)
    cpu_before = time.process_time()
    started = time.perf_counter()
    embedder.embed_documents(texts)
    embed_seconds = time.perf_counter() - started
    return {
        "pages": pages,
        "parse_seconds": parse_seconds,
        "chunk_seconds": chunk_seconds,
        "embed_seconds": embed_seconds,
        "embed_cpu_seconds": time.process_time() - cpu_before,
        "texts": len(texts),
        "tokens": tokens,
    }


def child_handler(store: Path, question: str) -> dict[str, Any]:
    """Import the query handler module, create its agent and answer one question, timing each step."""
    os.environ["RAGAGENT_STORE"] = str(store)
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location("query_api_app", HANDLER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import_seconds = time.perf_counter() - started

    # HttpApi creates its agent on the first query, so the cold start includes it.
    started = time.perf_counter()
    agent = module.api._agent(module.api.settings.top_k)
    agent_seconds = time.perf_counter() - started

    started = time.perf_counter()
    agent.ask(question)
    first_query_seconds = time.perf_counter() - started
    return {"import_seconds": import_seconds, "agent_seconds": agent_seconds, "first_query_seconds": first_query_seconds}


def run_child(arguments: list[str], environment: dict[str, str] | None = None) -> dict[str, Any]:
    """Run this script in a new process with `arguments` and return the JSON result it prints."""
    command = [sys.executable, str(Path(__file__).resolve()), *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(environment or {})}, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark child {arguments[:2]} failed with exit code {completed.returncode}:\n{completed.stderr[-2000:]}")
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise RuntimeError(f"benchmark child {arguments[:2]} printed no result line")


def machine_description() -> dict[str, str]:
    cpu_model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
            break
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    return {
        "cores": nproc,
        "cpu": cpu_model,
        "memory": f"{memory_kib / KIB / KIB:.1f} GiB",
        "python": platform.python_version(),
    }


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def read_questions(path: Path) -> list[str]:
    questions = [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not questions:
        raise ValueError(f"{path}: no questions found")
    return questions


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * share))
    return ordered[rank - 1]


def measure_ask(store: Path, questions: list[str]) -> dict[str, Any]:
    from ragagent.factory import build_agent
    from ragagent.settings import Settings

    started = time.perf_counter()
    agent = build_agent(Settings(store=str(store)))
    build_seconds = time.perf_counter() - started
    agent.ask(questions[0])

    latencies_ms = []
    for question in questions:
        started = time.perf_counter()
        agent.ask(question)
        latencies_ms.append((time.perf_counter() - started) * 1000)
    return {
        "build_seconds": build_seconds,
        "count": len(latencies_ms),
        "p50_ms": percentile(latencies_ms, 0.5),
        "p95_ms": percentile(latencies_ms, 0.95),
        "max_ms": max(latencies_ms),
    }


def measure_cli_ask(store: Path, question: str, runs: int) -> list[float]:
    """Time `ragagent ask` from a new process, `runs` times."""
    executable = shutil.which("ragagent")
    if executable is None:
        raise RuntimeError("the ragagent command is not on PATH: install the package with pip install -e .")
    command = [executable, "ask", question, "--store", str(store)]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def display_path(path: Path) -> str:
    """Write a corpus path as $RAGAGENT_CORPUS_DIR/NAME when it lies there, so the command is portable."""
    corpus = os.environ.get("RAGAGENT_CORPUS_DIR")
    if corpus and path.resolve().parent == Path(corpus).resolve():
        return f"$RAGAGENT_CORPUS_DIR/{path.name}"
    return str(path)


def status(met: bool) -> str:
    return "met" if met else "missed"


def render_section(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [
        SECTION_TITLE,
        "",
        f"Measured {report['date']} with:",
        "",
        "```sh",
        report["command"],
        "```",
        "",
        f"Machine: {machine['cores']} cores (`nproc`), {machine['cpu']}, {machine['memory']} memory, Python {machine['python']}.",
        f"Load average (1 / 5 / 15 min): {report['load_start']} at the start, {report['load_end']} at the end.",
        "Other processes may share the cores, so compare a number with the load next to it.",
        "",
        *_summary_table(report),
        "",
        "Details:",
        "",
        *_details(report),
    ]
    return "\n".join(lines) + "\n"


def _summary_table(report: dict[str, Any]) -> list[str]:
    ingest = report["ingest"]
    ceiling = report["ceiling"]
    ask = report["ask"]
    rows = [
        "| measure | value | target | status |",
        "| --- | ---: | --- | --- |",
        f"| ingestion, `LocalIngestor` | {ingest['pages_per_second']:.2f} pages/s | ≥ {TARGET_PAGES_PER_SECOND:g} pages/s | {status(ingest['pages_per_second'] >= TARGET_PAGES_PER_SECOND)} |",
        f"| ceiling: pages / (parse-only + embed-only s) | {ceiling['pages_per_second']:.2f} pages/s | | |",
        f"| ingestion / ceiling | {report['ceiling_share']:.2f} | ≥ {TARGET_CEILING_SHARE:g} | {status(report['ceiling_share'] >= TARGET_CEILING_SHARE)} |",
        f"| embedder, embed-only | {ceiling['tokens_per_second']:,.0f} tokens/s | | |",
        f"| peak memory (max RSS) of ingestion | {report['peak_memory_gb']:.2f} GB | ≤ {TARGET_PEAK_MEMORY_GB:g} GB | {status(report['peak_memory_gb'] <= TARGET_PEAK_MEMORY_GB)} |",
        f"| `Agent.ask` p50, in process | {ask['p50_ms']:.0f} ms | ≤ {TARGET_ASK_P50_MS:g} ms | {status(ask['p50_ms'] <= TARGET_ASK_P50_MS)} |",
        f"| `Agent.ask` p95, in process | {ask['p95_ms']:.0f} ms | | |",
        f"| `ragagent ask`, new process (median of {len(report['cli_seconds'])}) | {statistics.median(report['cli_seconds']):.2f} s | | |",
    ]
    handler = report.get("handler")
    if handler:
        cold = handler["import_seconds"] + handler["agent_seconds"]
        met = cold <= TARGET_HANDLER_COLD_START_SECONDS
        rows.append(f"| query handler cold start: import + agent creation | {cold:.2f} s | ≤ {TARGET_HANDLER_COLD_START_SECONDS:g} s | {status(met)} |")
    return rows


def _details(report: dict[str, Any]) -> list[str]:
    ingest = report["ingest"]
    ceiling = report["ceiling"]
    ask = report["ask"]
    documents = ", ".join(f"{d['file']} {d['pages']} pages in {d['seconds']:.1f} s" for d in ingest["documents"])
    lines = [
        f"- Ingestion: {ingest['pages']} pages, {ingest['chunks']} chunks in {ingest['seconds']:.1f} s "
        f"({ingest['cpu_seconds']:.1f} s of CPU time), after {ingest['load_seconds']:.2f} s of model loading that is not counted. "
        f"Per document: {documents}.",
        f"- Ceiling, in a separate process: parsing {ceiling['pages']} pages took {ceiling['parse_seconds']:.1f} s "
        f"({ceiling['pages'] / ceiling['parse_seconds']:.1f} pages/s), and embedding their {ceiling['texts']} chunks "
        f"({ceiling['tokens']:,} tokens) took {ceiling['embed_seconds']:.1f} s ({ceiling['embed_cpu_seconds']:.1f} s of CPU time). "
        f"Reindexing, describing and chunking, which the ceiling leaves out, took {ceiling['chunk_seconds']:.1f} s.",
        f"- Ask: {ask['count']} questions from `{report['questions']}` on the store just built, after one warm-up question; "
        f"max {ask['max_ms']:.0f} ms. Building the agent took {ask['build_seconds']:.2f} s.",
        "- `ragagent ask` runs: " + ", ".join(f"{seconds:.2f} s" for seconds in report["cli_seconds"]) + ".",
    ]
    handler = report.get("handler")
    if handler:
        lines.append(
            f"- Query handler, new process with the local store: importing `functions/query_api/app.py` took "
            f"{handler['import_seconds']:.2f} s, creating the agent {handler['agent_seconds']:.2f} s, and the first query, "
            f"which loads the ONNX model, {handler['first_query_seconds']:.2f} s. Bytecode was already compiled here, "
            "as `layers/compile.sh` compiles it into the Lambda layers."
        )
    else:
        lines.append("- Query handler: functions/query_api/app.py was not found, so its cold start was not measured.")
    lines.append(f"- Peak memory is the ingestion process's `ru_maxrss` ({report['peak_memory_kib']:,} KiB).")
    return lines


def update_section(path: Path, section: str) -> None:
    """Replace the "Speed and memory" section of `path`, or append it, leaving the other sections as they are."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION_TITLE + "\n")
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    end = text.find("\n## ", start + len(SECTION_TITLE))
    tail = "" if end < 0 else "\n" + text[end + 1 :]
    path.write_text(text[:start] + section + tail, encoding="utf-8")


def run_benchmark(arguments: argparse.Namespace) -> dict[str, Any]:
    pdfs = [Path(path) for path in arguments.pdfs]
    missing = [str(path) for path in pdfs if not path.is_file()]
    if missing:
        raise SystemExit(f"error: PDF not found: {', '.join(missing)}")
    questions = read_questions(arguments.questions)
    command = "python scripts/benchmark.py " + " ".join(display_path(path) for path in pdfs)
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": machine_description(),
        "load_start": load_average(),
        "questions": os.path.relpath(arguments.questions, REPOSITORY),
    }
    print(f"load average at start: {report['load_start']}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="ragagent-benchmark-") as directory:
        store = Path(directory) / "store"
        ingest = run_child(["--role", "ingest", "--store", str(store), *map(str, pdfs)])
        # Read right away: later children would raise the maximum.
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        ingest["pages_per_second"] = ingest["pages"] / ingest["seconds"]
        print(f"ingestion: {ingest['pages_per_second']:.2f} pages/s, load {load_average()}", file=sys.stderr)

        ceiling = run_child(["--role", "ceiling", *map(str, pdfs)])
        ceiling["pages_per_second"] = ceiling["pages"] / (ceiling["parse_seconds"] + ceiling["embed_seconds"])
        ceiling["tokens_per_second"] = ceiling["tokens"] / ceiling["embed_seconds"]
        print(f"ceiling: {ceiling['pages_per_second']:.2f} pages/s, load {load_average()}", file=sys.stderr)

        report["ask"] = measure_ask(store, questions)
        report["cli_seconds"] = measure_cli_ask(store, questions[0], arguments.cli_runs)
        if HANDLER_PATH.exists():
            report["handler"] = run_child(["--role", "handler", "--store", str(store), "--question", questions[0]], HANDLER_ENVIRONMENT)

    report.update(
        ingest=ingest,
        ceiling=ceiling,
        ceiling_share=ingest["pages_per_second"] / ceiling["pages_per_second"],
        peak_memory_kib=peak_kib,
        peak_memory_gb=peak_kib * KIB / BYTES_PER_GB,
        load_end=load_average(),
    )
    return report


def build_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pdfs", nargs="*", help="PDF files to ingest, such as the scientific papers of the corpus")
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="question file, JSON lines with a 'question' field (default: eval/qa_dev.jsonl)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown file whose 'Speed and memory' section is written (default: docs/benchmarks.md)")
    parser.add_argument("--cli-runs", type=int, default=3, help="new-process `ragagent ask` runs to time (default 3)")
    parser.add_argument("--json", action="store_true", help="also print all measurements as JSON")
    # Internal: the child processes that this script starts.
    parser.add_argument("--role", choices=["ingest", "ceiling", "handler"], help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--question", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    arguments = build_argument_parser().parse_args()
    if arguments.role == "ingest":
        print(RESULT_PREFIX + json.dumps(child_ingest(arguments.store, [Path(p) for p in arguments.pdfs])))
        return
    if arguments.role == "ceiling":
        print(RESULT_PREFIX + json.dumps(child_ceiling([Path(p) for p in arguments.pdfs])))
        return
    if arguments.role == "handler":
        print(RESULT_PREFIX + json.dumps(child_handler(arguments.store, arguments.question)))
        return
    if not arguments.pdfs:
        raise SystemExit("error: no PDF given: pass the PDFs to ingest, such as $RAGAGENT_CORPUS_DIR/paper_*.pdf")
    if arguments.cli_runs < 1:
        raise SystemExit(f"error: --cli-runs={arguments.cli_runs} is invalid: it must be at least 1")

    report = run_benchmark(arguments)
    section = render_section(report)
    update_section(arguments.output, section)
    print(section)
    if arguments.json:
        print(json.dumps(report, indent=2))
    print(f"wrote the '{SECTION_TITLE[3:]}' section of {arguments.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
