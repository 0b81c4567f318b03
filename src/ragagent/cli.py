"""The `ragagent` command: ingest PDFs, ask questions, evaluate, serve the HTTP API."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ragagent.errors import RagAgentError
from ragagent.settings import Settings

logger = logging.getLogger("ragagent")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# Provider choices of the --parser, --describer, --embedder and --chat options; each overrides its RAGAGENT_* variable.
PARSERS = ("local", "mistral")
DESCRIBERS = ("offline", "bedrock", "openai")
EMBEDDERS = ("minilm", "bedrock")
CHAT_MODELS = ("offline", "bedrock", "openai")
PROVIDER_OPTIONS = ("parser", "describer", "embedder", "chat")


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "store", None):
        overrides["store"] = args.store
    if getattr(args, "batch_size", None):
        overrides["batch_size"] = args.batch_size
    for option in PROVIDER_OPTIONS:
        if getattr(args, option, None):
            overrides[option] = getattr(args, option)
    return Settings(**overrides)


def _print_progress(progress) -> None:
    print(
        f"\r{progress.documents_done}/{progress.documents_total} documents, "
        f"{progress.pages_done} pages done ({progress.document})",
        end="",
        file=sys.stderr,
        flush=True,
    )


def command_ingest(args: argparse.Namespace) -> int:
    from ragagent.factory import build_describer, build_embedder, build_parser, build_status_store, open_store
    from ragagent.ingest import LOCAL_WORK_DIRECTORY, LocalIngestor

    settings = _settings(args)
    embedder = build_embedder(settings)
    store = open_store(settings, embedder)
    ingestor = LocalIngestor(
        store_dir=settings.store_path if not settings.store_is_url else LOCAL_WORK_DIRECTORY,
        parser=build_parser(settings),
        describer=build_describer(settings),
        embedder=embedder,
        store=store,
        batch_size=settings.batch_size,
        max_pages=settings.max_pages,
        status=build_status_store(settings),
    )
    progress = None if args.quiet or not sys.stderr.isatty() else _print_progress
    results = ingestor.ingest([Path(p) for p in args.paths], progress=progress)
    if progress:
        print(file=sys.stderr)

    for result in results:
        for warning in result.warnings:
            print(f"warning: {result.path}: {warning}", file=sys.stderr)
        if result.ok:
            print(f"ingested {result.path}: {_count(result.page_count, 'page')}, {_count(result.chunk_count, 'chunk')} in {result.seconds:.1f} s")
        else:
            print(f"error: {result.path}: {result.error}", file=sys.stderr)
    failed = sum(1 for result in results if not result.ok)
    print(f"{len(results) - failed} of {len(results)} files ingested into {settings.store}")
    return EXIT_FAILED if failed else EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _format_answer(answer) -> str:
    lines = [answer.answer]
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for number, citation in enumerate(answer.citations, start=1):
            element = f", {citation.figure_or_table}" if citation.figure_or_table else ""
            lines.append(f"  [{number}] {citation.document}, page {citation.page}{element}")
    return "\n".join(lines)


def _store_exists(settings: Settings) -> bool:
    """Report a missing local store instead of creating an empty one and answering from nothing."""
    from ragagent.store.local import MANIFEST_NAME

    if settings.store_is_url or (settings.store_path / MANIFEST_NAME).is_file():
        return True
    print(f"error: no store at {settings.store}: run `ragagent ingest PDF_OR_FOLDER --store {settings.store}` first", file=sys.stderr)
    return False


def command_ask(args: argparse.Namespace) -> int:
    from ragagent.factory import build_agent

    settings = _settings(args)
    if args.top_k:
        settings.top_k = args.top_k
    if not _store_exists(settings):
        return EXIT_FAILED
    agent = build_agent(settings)
    if not agent.store.document_ids():
        print(f"error: the store {settings.store} contains no documents: run `ragagent ingest` first", file=sys.stderr)
        return EXIT_FAILED
    answer = agent.ask(args.question, document_ids=args.document or None)
    if args.json:
        print(json.dumps(answer.to_json_dict(), ensure_ascii=False, indent=2))
    else:
        print(_format_answer(answer))
    return EXIT_OK


def command_eval(args: argparse.Namespace) -> int:
    from ragagent.evaluation import evaluate_file

    settings = _settings(args)
    if not _store_exists(settings):
        return EXIT_FAILED
    report = evaluate_file(Path(args.file), settings)
    if args.json:
        print(json.dumps(report.summary(), indent=2))
    else:
        print(report.format_text())
    return EXIT_OK


def command_serve(args: argparse.Namespace) -> int:
    from ragagent.server import serve

    settings = _settings(args)
    serve(args.host, args.port, settings)
    return EXIT_OK


def command_reconcile(args: argparse.Namespace) -> int:
    from ragagent.aws.config import AwsSettings
    from ragagent.factory import build_status_store
    from ragagent.reconcile import reconcile_aws, reconcile_folder, reingest_local

    if bool(args.folder) == bool(args.bucket):
        print("error: pass exactly one of a folder of PDFs and --bucket", file=sys.stderr)
        return EXIT_USAGE
    settings = _settings(args)
    if args.bucket:
        aws_settings = AwsSettings()
        status_table = args.status_table or aws_settings.status_table
        state_machine_arn = args.state_machine_arn or aws_settings.state_machine_arn
        items = reconcile_aws(args.bucket, args.prefix, status_table, state_machine_arn, start=args.start)
    else:
        items = reconcile_folder(Path(args.folder), build_status_store(settings))
        if args.start and items:
            reingest_local(items, settings)

    for item in items:
        reason = f" ({item.reason})" if item.reason else ""
        outcome = f": {item.detail}" if item.detail else ""
        print(f"{item.state} {item.source}{reason}{outcome}")
    print(f"{len(items)} documents without a status or with a failed status")
    if args.start and not all(item.started for item in items):
        return EXIT_FAILED
    return EXIT_OK


def build_argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragagent", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to standard error")
    store_help = "store directory, or an OpenSearch URL http(s)://HOST:PORT/INDEX (default: $RAGAGENT_STORE or .ragagent)"
    embedder_help = "embedder; must be the one the store was built with (default: $RAGAGENT_EMBEDDER or minilm)"
    chat_help = "grader, rewriter and generator (default: $RAGAGENT_CHAT or offline)"
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="parse, chunk, embed and index PDFs (files or folders)")
    ingest.add_argument("paths", nargs="+", help="PDF files or folders of PDFs")
    ingest.add_argument("--store", help=store_help)
    ingest.add_argument("--batch-size", type=int, help="pages per page batch (default 8)")
    ingest.add_argument("--parser", choices=PARSERS, help="OCR provider (default: $RAGAGENT_PARSER or local)")
    ingest.add_argument("--describer", choices=DESCRIBERS, help="table and figure describer (default: $RAGAGENT_DESCRIBER or offline)")
    ingest.add_argument("--embedder", choices=EMBEDDERS, help=embedder_help)
    ingest.add_argument("-q", "--quiet", action="store_true", help="print no progress")
    ingest.set_defaults(handler=command_ingest)

    ask = commands.add_parser("ask", help="answer a question from the ingested documents")
    ask.add_argument("question")
    ask.add_argument("--store", help=store_help)
    ask.add_argument("--json", action="store_true", help="print the answer, citations and steps as JSON")
    ask.add_argument("--top-k", type=int, help="chunks retrieved per query (default 5)")
    ask.add_argument("--document", action="append", metavar="DOCUMENT_ID", help="search only this document (repeatable)")
    ask.add_argument("--embedder", choices=EMBEDDERS, help=embedder_help)
    ask.add_argument("--chat", choices=CHAT_MODELS, help=chat_help)
    ask.set_defaults(handler=command_ask)

    evaluate = commands.add_parser("eval", help="measure retrieval and answer quality on a question file (JSON lines)")
    evaluate.add_argument("file")
    evaluate.add_argument("--store", help=store_help)
    evaluate.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    evaluate.add_argument("--embedder", choices=EMBEDDERS, help=embedder_help)
    evaluate.add_argument("--chat", choices=CHAT_MODELS, help=chat_help)
    evaluate.set_defaults(handler=command_eval)

    serve = commands.add_parser("serve", help="serve the HTTP API locally (POST /query, GET /documents)")
    serve.add_argument("--store", help=store_help)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    serve.add_argument("--embedder", choices=EMBEDDERS, help=embedder_help)
    serve.add_argument("--chat", choices=CHAT_MODELS, help=chat_help)
    serve.set_defaults(handler=command_serve)

    reconcile = commands.add_parser("reconcile", help="list documents never ingested or failed; --start ingests them again")
    reconcile.add_argument("folder", nargs="?", help="local folder of PDFs (omit with --bucket)")
    reconcile.add_argument("--store", help=store_help)
    reconcile.add_argument("--bucket", help="S3 bucket of the documents, to reconcile the AWS deployment")
    reconcile.add_argument("--prefix", default="documents/", help="key prefix of the documents in the bucket (default documents/)")
    reconcile.add_argument("--state-machine-arn", help="ingestion state machine, for --bucket --start (default: $RAGAGENT_STATE_MACHINE_ARN)")
    reconcile.add_argument("--status-table", help="DynamoDB status table (default: $RAGAGENT_STATUS_TABLE)")
    reconcile.add_argument("--embedder", choices=EMBEDDERS, help=embedder_help)
    reconcile.add_argument("--start", action="store_true", help="ingest the listed documents again")
    reconcile.set_defaults(handler=command_reconcile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_argument_parser().parse_args(argv)
    level = logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=os.environ.get("RAGAGENT_LOG_LEVEL", logging.getLevelName(level)), format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except RagAgentError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
