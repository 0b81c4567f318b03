"""The work of each Lambda in the ingestion state machine, separate from Lambda plumbing.

Each task validates its input with a pydantic model, calls one pipeline step or
status write, and returns a small JSON-ready dict: only S3 keys and counts
travel between states, because a state's input and output are limited to 256 KB.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime, timezone
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from ragagent.artifacts import ArtifactStore
from ragagent.aws.keys import ObjectEvent, execution_name, object_events, run_id_for
from ragagent.models import Chunk, DocumentRef
from ragagent.pipeline import steps
from ragagent.settings import Settings
from ragagent.status import EventOrder, StaleEventError, StatusStore, WriteResult, compare

if TYPE_CHECKING:
    import numpy as np

    from ragagent.store.base import VectorStore

logger = logging.getLogger(__name__)

EXECUTION_ALREADY_EXISTS = "ExecutionAlreadyExists"
PDF_SUFFIX = ".pdf"
MAX_REASON_LENGTH = 1000
# The Map state's input lists every batch and its output every OCR result, about
# 350 bytes per batch together; 400 batches keep the state under 256 KB.
MAX_BATCHES_PER_RUN = 400


class Services:
    """Clients and providers of one Lambda container, created once and reused by warm invocations."""

    def __init__(
        self,
        settings: Settings,
        artifacts: ArtifactStore,
        status: StatusStore,
        s3_client: Any = None,
        stepfunctions_client: Any = None,
    ) -> None:
        self.settings = settings
        self.artifacts = artifacts
        self.status = status
        self.s3 = s3_client
        self.stepfunctions = stepfunctions_client

    @functools.cached_property
    def parser(self):
        from ragagent.factory import build_parser

        return build_parser(self.settings)

    @functools.cached_property
    def describer(self):
        from ragagent.factory import build_describer

        return build_describer(self.settings)

    @functools.cached_property
    def embedder(self):
        from ragagent.factory import build_embedder

        return build_embedder(self.settings)

    @functools.cached_property
    def store(self):
        from ragagent.factory import open_store

        return open_store(self.settings, self.embedder)


class RunInput(BaseModel):
    """The execution input that start_ingestion builds and every state passes on."""

    bucket: str
    key: str
    document: DocumentRef
    run_id: str
    etag: str | None = None
    sequencer: str | None = None
    event_time: str | None = None

    def order(self) -> EventOrder:
        return EventOrder(sequencer=self.sequencer, event_time=self.event_time)


class StatusInput(BaseModel):
    document: DocumentRef
    sequencer: str | None = None
    event_time: str | None = None
    execution_id: str | None = None

    def order(self) -> EventOrder:
        return EventOrder(sequencer=self.sequencer, event_time=self.event_time)


class OcrInput(BaseModel):
    document: DocumentRef
    run_id: str
    batch: steps.BatchRef


class ReindexInput(BaseModel):
    document: DocumentRef
    run_id: str
    batches: list[steps.OcrOutput]


class DescribeInput(BaseModel):
    document: DocumentRef
    run_id: str
    parsed_key: str


class IndexInput(BaseModel):
    document: DocumentRef
    described_key: str
    sequencer: str | None = None
    event_time: str | None = None

    def order(self) -> EventOrder:
        return EventOrder(sequencer=self.sequencer, event_time=self.event_time)


class IndexedInput(StatusInput):
    page_count: int
    chunk_count: int
    started_at: str | None = Field(default=None, description="Execution start time, ISO 8601")


class FailureInput(StatusInput):
    error: dict[str, Any] = Field(description="The Catch output: {'Error': ..., 'Cause': ...}")


# --- start and remove --------------------------------------------------------


class StartResult(BaseModel):
    document_id: str
    execution_name: str
    started: bool
    reason: str


def start_ingestion(event: dict, services: Services, state_machine_arn: str, documents_prefix: str) -> list[StartResult]:
    """Start one execution per created PDF; a re-delivered event maps to the same execution name."""
    results = []
    for change in object_events(event):
        if change.kind != "created":
            logger.info("skipped key=%s kind=%s: not an Object Created event", change.key, change.kind)
            continue
        if not change.key.startswith(documents_prefix) or not change.key.lower().endswith(PDF_SUFFIX):
            logger.info("skipped key=%s: not a .pdf under %s", change.key, documents_prefix)
            continue
        results.append(start_object(change, services, state_machine_arn))
    return results


def start_object(change: ObjectEvent, services: Services, state_machine_arn: str) -> StartResult:
    """Record the upload as queued and start its execution, unless a newer upload is recorded or it already started."""
    document = change.document()
    name = execution_name(change)
    order = EventOrder(sequencer=change.sequencer, event_time=change.event_time)
    queued = services.status.mark_queued(document, order, etag=change.etag)
    if queued is WriteResult.STALE:
        logger.info("skipped document_id=%s execution=%s: a newer upload is recorded", document.document_id, name)
        return StartResult(document_id=document.document_id, execution_name=name, started=False, reason="stale event")

    run = RunInput(
        bucket=change.bucket,
        key=change.key,
        document=document,
        run_id=run_id_for(change),
        etag=change.etag,
        sequencer=change.sequencer,
        event_time=change.event_time,
    )
    from botocore.exceptions import ClientError

    try:
        services.stepfunctions.start_execution(stateMachineArn=state_machine_arn, name=name, input=run.model_dump_json())
    except ClientError as error:
        if error.response["Error"]["Code"] != EXECUTION_ALREADY_EXISTS:
            raise
        logger.info("execution exists document_id=%s execution=%s: event re-delivered", document.document_id, name)
        return StartResult(document_id=document.document_id, execution_name=name, started=False, reason="execution exists")
    logger.info("started document_id=%s execution=%s", document.document_id, name)
    return StartResult(document_id=document.document_id, execution_name=name, started=True, reason=queued.value)


class RemoveResult(BaseModel):
    document_id: str
    removed_chunks: int
    reason: str


def remove_documents(event: dict, services: Services, documents_prefix: str) -> list[RemoveResult]:
    """Delete the chunks, status and work files of each deleted PDF, unless a newer upload replaced it."""
    results = []
    for change in object_events(event):
        if change.kind != "deleted" or not change.key.startswith(documents_prefix):
            continue
        document = change.document()
        order = EventOrder(sequencer=change.sequencer, event_time=change.event_time)
        outcome = services.status.delete(document.document_id, order)
        if outcome is WriteResult.STALE:
            logger.info("kept document_id=%s: a newer upload is recorded", document.document_id)
            results.append(RemoveResult(document_id=document.document_id, removed_chunks=0, reason="stale event"))
            continue
        removed = services.store.delete_document(document.document_id)
        services.artifacts.delete_prefix(f"work/{document.document_id}")
        logger.info("removed document_id=%s chunk_count=%d", document.document_id, removed)
        results.append(RemoveResult(document_id=document.document_id, removed_chunks=removed, reason=outcome.value))
    return results


# --- state machine tasks -------------------------------------------------------


def mark_processing(event: dict, services: Services) -> dict:
    request = StatusInput.model_validate(event)
    services.status.mark_processing(request.document, request.order(), execution_id=request.execution_id)
    return {"status": "processing"}


def split(event: dict, services: Services) -> dict:
    run = RunInput.model_validate(event)
    response = services.s3.get_object(Bucket=run.bucket, Key=run.key)
    pdf = response["Body"].read()
    settings = services.settings
    max_pages = min(settings.max_pages, settings.batch_size * MAX_BATCHES_PER_RUN)
    output = steps.split_step(pdf, run.document, run.run_id, services.artifacts, settings.batch_size, max_pages)
    return output.model_dump(mode="json")


def ocr_batch(event: dict, services: Services) -> dict:
    request = OcrInput.model_validate(event)
    output = steps.ocr_step(request.document, request.run_id, request.batch, services.artifacts, services.parser)
    return output.model_dump(mode="json")


def reindex(event: dict, services: Services) -> dict:
    request = ReindexInput.model_validate(event)
    batches = sorted(request.batches, key=lambda batch: batch.batch_index)
    output = steps.reindex_step(request.document, request.run_id, batches, services.artifacts)
    return output.model_dump(mode="json")


def describe_tables(event: dict, services: Services) -> dict:
    request = DescribeInput.model_validate(event)
    output = steps.describe_step(request.document, request.run_id, request.parsed_key, services.artifacts, services.describer)
    return output.model_dump(mode="json")


def index_document(event: dict, services: Services) -> dict:
    """Chunk, embed and index the document, but only while its upload is the newest one recorded.

    Only status writes are conditional, so without the checks an older run that
    reaches this step after a newer run would replace the newer run's chunks.
    """
    request = IndexInput.model_validate(event)
    store = NewestUploadStore(services.store, services.status, request.document, request.order())
    output = steps.index_step(request.document, request.described_key, services.artifacts, services.embedder, store)
    return output.model_dump(mode="json")


class NewestUploadStore:
    """A vector store whose `replace_document` writes only for the newest recorded upload of one document.

    It checks the status right before the write and again after it, and raises
    `StaleEventError` when a newer upload was recorded, so the run ends in
    SkipStaleRun and the newer upload's own run indexes the document.
    """

    def __init__(self, store: VectorStore, status: StatusStore, document: DocumentRef, order: EventOrder) -> None:
        self.store = store
        self.status = status
        self.document = document
        self.order = order

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def replace_document(self, document_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        self._raise_unless_newest("before indexing")
        self.store.replace_document(document_id, chunks, vectors)
        try:
            self._raise_unless_newest("while indexing")
        except StaleEventError:
            if self.status.get(document_id) is None:
                # The object was deleted during the write: no run will replace these chunks.
                removed = self.store.delete_document(document_id)
                logger.info("removed chunks of deleted document_id=%s chunk_count=%d", document_id, removed)
            raise
        # NOTE: when the two runs' writes overlap, an older write can still finish after
        # the newer run's checks; the store keeps whichever write commits last.

    def _raise_unless_newest(self, moment: str) -> None:
        current = self.status.get(self.document.document_id)
        if current is None:
            raise StaleEventError(f"{self.document.source_uri}: the status was removed {moment}, so the object was deleted; this run stops")
        if compare(current.order_key, self.order.key()) > 0:
            logger.info("newer upload recorded %s document_id=%s", moment, self.document.document_id)
            raise StaleEventError(f"{self.document.source_uri}: a newer upload of this document was recorded {moment}; its own run indexes it")


def mark_indexed(event: dict, services: Services) -> dict:
    request = IndexedInput.model_validate(event)
    timings = {}
    if request.started_at:
        started = datetime.fromisoformat(request.started_at.replace("Z", "+00:00"))
        timings["total_seconds"] = round((datetime.now(timezone.utc) - started).total_seconds(), 3)
    services.status.mark_indexed(request.document, request.page_count, request.chunk_count, request.order(), timings)
    return {"status": "indexed", "chunk_count": request.chunk_count}


def record_failure(event: dict, services: Services) -> dict:
    """Record the failure and delete the document's chunks, unless a newer upload was recorded.

    The object at this key no longer yields chunks, so the chunks of an earlier
    version must not keep answering questions, as in the local run. When a newer
    upload was recorded, its own execution owns the chunks and they stay.
    """
    request = FailureInput.model_validate(event)
    document_id = request.document.document_id
    reason = failure_reason(request.error)
    result = services.status.mark_failed(request.document, reason, request.order())
    logger.warning("ingestion failed document_id=%s reason=%s recorded=%s", document_id, reason, result.value)

    removed = 0
    if result is WriteResult.STALE:
        logger.info("kept chunks document_id=%s: a newer upload is recorded", document_id)
    else:
        removed = services.store.delete_document(document_id)
        logger.info("removed chunks of failed document_id=%s chunk_count=%d", document_id, removed)
    return {"status": "failed", "reason": reason, "recorded": result is WriteResult.APPLIED, "removed_chunks": removed}


def failure_reason(error: dict[str, Any]) -> str:
    """Turn a Catch output into "ErrorType: message", reading the message out of a Lambda error's Cause JSON."""
    error_type = str(error.get("Error") or "UnknownError")
    cause = error.get("Cause") or ""
    message = cause
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    if isinstance(parsed, dict):
        message = parsed.get("errorMessage") or cause
    reason = f"{error_type}: {message}" if message else error_type
    return reason[:MAX_REASON_LENGTH]

