"""The ingestion steps as the state machine runs them, one function per Lambda task.

Each step reads its inputs from an `ArtifactStore`, writes its outputs there,
and returns a small pydantic model of keys and counts. The local `ragagent
ingest` command calls the same functions in the same order as
`statemachine/ingest.asl.json`, so the two runs cannot drift apart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from pydantic import BaseModel, Field

from ragagent.artifacts import ArtifactStore
from ragagent.describe.base import Describer
from ragagent.embedding.base import Embedder
from ragagent.models import DocumentRef, PageBatch, ParsedDocument
from ragagent.ocr import OCRResponse
from ragagent.parsing.base import Parser
from ragagent.store.base import VectorStore

logger = logging.getLogger(__name__)


class BatchRef(BaseModel):
    batch_index: int
    first_page: int
    page_count: int
    key: str


class SplitOutput(BaseModel):
    document: DocumentRef
    run_id: str
    page_count: int
    batches: list[BatchRef]
    warnings: list[str] = Field(default_factory=list)


class OcrOutput(BaseModel):
    batch_index: int
    first_page: int
    page_count: int
    key: str
    seconds: float


class DocumentOutput(BaseModel):
    """A step's output that points at a serialized `ParsedDocument`."""

    document: DocumentRef
    key: str
    page_count: int
    table_count: int = 0
    figure_count: int = 0
    warnings: list[str] = Field(default_factory=list)


class IndexOutput(BaseModel):
    document: DocumentRef
    page_count: int
    chunk_count: int
    embedder_id: str


def run_prefix(document: DocumentRef, run_id: str) -> str:
    return f"work/{document.document_id}/{run_id}"


def batch_key_prefix(document: DocumentRef, run_id: str) -> str:
    """Return the artifact prefix of the run's page batches, stored as `<prefix>/NNNNN.pdf` by batch index."""
    return f"{run_prefix(document, run_id)}/batches"


def split_step(
    pdf: bytes,
    document: DocumentRef,
    run_id: str,
    artifacts: ArtifactStore,
    batch_size: int,
    max_pages: int | None,
) -> SplitOutput:
    from ragagent.pipeline.split import split_pdf

    result = split_pdf(pdf, document, batch_size=batch_size, max_pages=max_pages)
    prefix = batch_key_prefix(document, run_id)
    batches = [
        BatchRef(
            batch_index=batch.batch_index,
            first_page=batch.first_page,
            page_count=batch.page_count,
            key=artifacts.put(f"{prefix}/{batch.batch_index:05d}.pdf", batch.pdf),
        )
        for batch in result.batches
    ]
    logger.info("split document_id=%s pages=%d batches=%d", document.document_id, result.page_count, len(batches))
    return SplitOutput(document=document, run_id=run_id, page_count=result.page_count, batches=batches, warnings=result.warnings)


def ocr_step(document: DocumentRef, run_id: str, batch: BatchRef, artifacts: ArtifactStore, parser: Parser) -> OcrOutput:
    page_batch = PageBatch(
        document=document,
        batch_index=batch.batch_index,
        first_page=batch.first_page,
        page_count=batch.page_count,
        pdf=artifacts.get(batch.key),
    )
    started = time.perf_counter()
    response = parser.parse(page_batch)
    seconds = time.perf_counter() - started
    key = artifacts.put(f"{run_prefix(document, run_id)}/ocr/{batch.batch_index:05d}.json", response.model_dump_json().encode())
    logger.info(
        "ocr document_id=%s batch_index=%d pages=%d seconds=%.2f",
        document.document_id,
        batch.batch_index,
        batch.page_count,
        seconds,
    )
    return OcrOutput(batch_index=batch.batch_index, first_page=batch.first_page, page_count=batch.page_count, key=key, seconds=seconds)


def _write_document(parsed: ParsedDocument, key: str, artifacts: ArtifactStore) -> DocumentOutput:
    artifacts.put(key, parsed.model_dump_json().encode())
    return DocumentOutput(
        document=parsed.document,
        key=key,
        page_count=len(parsed.pages),
        table_count=sum(len(page.tables) for page in parsed.pages),
        figure_count=sum(len(page.images) for page in parsed.pages),
        warnings=parsed.warnings,
    )


def read_document(key: str, artifacts: ArtifactStore) -> ParsedDocument:
    return ParsedDocument.model_validate_json(artifacts.get(key))


def reindex_step(document: DocumentRef, run_id: str, batches: Sequence[OcrOutput], artifacts: ArtifactStore) -> DocumentOutput:
    from ragagent.pipeline.reindex import reindex_batches

    responses = [(batch.first_page, OCRResponse.model_validate_json(artifacts.get(batch.key))) for batch in batches]
    parsed = reindex_batches(document, responses)
    return _write_document(parsed, f"{run_prefix(document, run_id)}/document.json", artifacts)


def describe_step(
    document: DocumentRef,
    run_id: str,
    parsed_key: str,
    artifacts: ArtifactStore,
    describer: Describer,
    batches: Sequence[BatchRef] | None = None,
) -> DocumentOutput:
    """Describe every table and figure of the parsed document.

    A describer with a `for_document` method also gets each table's page
    batch, so it can send the page as an image. `batches` is the split step's
    batch list. Without it, the list is rebuilt from the run's stored batches.
    """
    from ragagent.pipeline.batch_pages import BatchPageDescriber, PageImageDescriber, uniform_batches
    from ragagent.pipeline.describe import describe_document

    parsed = read_document(parsed_key, artifacts)
    has_tables = any(page.tables for page in parsed.pages)
    if has_tables and isinstance(describer, PageImageDescriber):
        if batches is None:
            page_count = max(page.number for page in parsed.pages)
            batches = uniform_batches(artifacts, batch_key_prefix(document, run_id), page_count)
        describer = BatchPageDescriber(describer, artifacts, batches)

    described = describe_document(parsed, describer)
    return _write_document(described, f"{run_prefix(document, run_id)}/described.json", artifacts)


def index_step(
    document: DocumentRef,
    described_key: str,
    artifacts: ArtifactStore,
    embedder: Embedder,
    store: VectorStore,
) -> IndexOutput:
    from ragagent.pipeline.chunk import chunk_document

    parsed = read_document(described_key, artifacts)
    chunks = chunk_document(parsed, embedder.count_tokens, embedder.max_tokens)
    vectors = embedder.embed_documents([chunk.text for chunk in chunks])
    store.replace_document(document.document_id, chunks, vectors)
    logger.info("index document_id=%s chunk_count=%d", document.document_id, len(chunks))
    return IndexOutput(document=document, page_count=len(parsed.pages), chunk_count=len(chunks), embedder_id=embedder.embedder_id)
