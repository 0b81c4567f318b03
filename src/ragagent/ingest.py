"""Local ingestion: run the state machine's steps in the same order on files on disk."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from ragagent.artifacts import LocalArtifactStore
from ragagent.describe.base import Describer
from ragagent.embedding.base import Embedder
from ragagent.errors import InvalidDocumentError
from ragagent.models import DocumentRef
from ragagent.parsing.base import Parser
from ragagent.pipeline import steps
from ragagent.status import StatusStore
from ragagent.store.base import VectorStore

logger = logging.getLogger(__name__)

# Directory of a run's intermediate files when the store is an OpenSearch URL, not a directory.
LOCAL_WORK_DIRECTORY = Path(".ragagent-work")


class DocumentResult(BaseModel):
    path: str
    document_id: str | None = None
    page_count: int = 0
    chunk_count: int = 0
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class Progress(BaseModel):
    """Progress of an ingestion run, passed to the callback after each page batch and each document."""

    document: str
    documents_done: int
    documents_total: int
    pages_done: int
    pages_total: int


ProgressCallback = Callable[[Progress], None]


def find_pdfs(paths: Iterable[Path]) -> tuple[list[Path], list[DocumentResult]]:
    """Expand folders into the PDFs they contain, and report paths that do not exist.

    A file named explicitly is kept whatever its extension, so that a non-PDF
    gets a clear error from the split step. Inside a folder only `*.pdf` files count.
    """
    files: list[Path] = []
    missing: list[DocumentResult] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf"))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(DocumentResult(path=str(path), error="not found"))
    return files, missing


def _argument_order(paths: Sequence[Path], files: Sequence[Path], results: dict[str, DocumentResult]) -> list[str]:
    """Order result keys as the user named them: each argument, then the files found in it."""
    ordered: list[str] = []
    for path in paths:
        if str(path) in results and str(path) not in ordered:
            ordered.append(str(path))
        for file in files:
            if file.is_relative_to(path) and file != path and str(file) not in ordered:
                ordered.append(str(file))
    ordered.extend(key for key in results if key not in ordered)
    return ordered


def document_ref_for(path: Path) -> DocumentRef:
    return DocumentRef.from_uri(path.resolve().as_uri(), path.name)


class LocalIngestor:
    """Ingest PDFs from disk into a store, one document at a time."""

    def __init__(
        self,
        store_dir: Path,
        parser: Parser,
        describer: Describer,
        embedder: Embedder,
        store: VectorStore,
        batch_size: int = 8,
        max_pages: int | None = None,
        status: StatusStore | None = None,
    ) -> None:
        self.artifacts = LocalArtifactStore(store_dir)
        self.parser = parser
        self.describer = describer
        self.embedder = embedder
        self.store = store
        self.batch_size = batch_size
        self.max_pages = max_pages
        self.status = status

    def ingest(self, paths: Sequence[Path], progress: ProgressCallback | None = None) -> list[DocumentResult]:
        """Ingest every PDF under `paths`; results come in the order of the arguments."""
        results_by_path: dict[str, DocumentResult] = {}
        files, missing = find_pdfs(paths)
        for result in missing:
            results_by_path[result.path] = result
        pages_done = 0
        for done, path in enumerate(files):
            result = self.ingest_file(path, progress, done, len(files), pages_done)
            pages_done += result.page_count
            results_by_path[result.path] = result
            if progress:
                progress(Progress(document=path.name, documents_done=done + 1, documents_total=len(files), pages_done=pages_done, pages_total=pages_done))
        return [results_by_path[key] for key in _argument_order(paths, files, results_by_path)]

    def ingest_file(
        self,
        path: Path,
        progress: ProgressCallback | None = None,
        documents_done: int = 0,
        documents_total: int = 1,
        pages_before: int = 0,
    ) -> DocumentResult:
        document = document_ref_for(path)
        run_id = uuid.uuid4().hex[:12]
        result = DocumentResult(path=str(path), document_id=document.document_id)
        started = time.perf_counter()
        if self.status is not None:
            self.status.mark_processing(document)
        try:
            pdf = path.read_bytes()
            split = steps.split_step(pdf, document, run_id, self.artifacts, self.batch_size, self.max_pages)
            result.warnings.extend(split.warnings)
            result.page_count = split.page_count
            ocr_outputs = []
            pages_done = pages_before
            for batch in split.batches:
                ocr_outputs.append(steps.ocr_step(document, run_id, batch, self.artifacts, self.parser))
                pages_done += batch.page_count
                if progress:
                    progress(
                        Progress(
                            document=path.name,
                            documents_done=documents_done,
                            documents_total=documents_total,
                            pages_done=pages_done,
                            pages_total=pages_before + split.page_count,
                        )
                    )
            parsed = steps.reindex_step(document, run_id, ocr_outputs, self.artifacts)
            described = steps.describe_step(document, run_id, parsed.key, self.artifacts, self.describer)
            result.warnings.extend(w for w in described.warnings if w not in result.warnings)
            indexed = steps.index_step(document, described.key, self.artifacts, self.embedder, self.store)
            result.chunk_count = indexed.chunk_count
        except InvalidDocumentError as error:
            result.error = error.reason
        except OSError as error:
            result.error = f"cannot read the file: {error.strerror or error}"
        finally:
            self.artifacts.delete_prefix(steps.run_prefix(document, run_id))
        result.seconds = time.perf_counter() - started

        if result.error is not None:
            # The file at this path no longer yields chunks, so chunks of an
            # earlier version must not keep answering questions.
            removed = self.store.delete_document(document.document_id)
            if removed:
                result.warnings.append(f"removed {removed} chunks of the previous version of this file")
            if self.status is not None:
                self.status.mark_failed(document, reason=result.error)
        elif self.status is not None:
            self.status.mark_indexed(document, result.page_count, result.chunk_count, timings={"total_seconds": round(result.seconds, 3)})
        logger.info(
            "ingested document_id=%s pages=%d chunks=%d seconds=%.2f failed=%s",
            document.document_id,
            result.page_count,
            result.chunk_count,
            result.seconds,
            result.error is not None,
        )
        return result
