"""The ingestion status of each document: queued, processing, indexed or failed.

Events about one object can arrive late, twice or out of order, so every write
carries the `EventOrder` of the upload it belongs to, and a store never lets an
older upload overwrite the status of a newer one. S3 sequencers order events on
one key: they are hex strings, compared after left-padding to equal length.
Without a sequencer the event time orders them.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from ragagent.errors import RagAgentError
from ragagent.models import DocumentRef

logger = logging.getLogger(__name__)

STATUS_DIRECTORY = "status"
# Sequencers are about 18 hex digits today; padding to 64 leaves room to grow.
SEQUENCER_WIDTH = 64

DocumentState = Literal["queued", "processing", "indexed", "failed"]


class StaleEventError(RagAgentError):
    """A newer upload of the document was recorded, so this event's run must stop.

    The state machine catches this class name and ends the run as succeeded.
    """


class WriteResult(str, Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"


class EventOrder(BaseModel):
    """What orders the events of one object: the S3 sequencer, or else the event time."""

    sequencer: str | None = None
    event_time: str | None = None

    def key(self) -> str | None:
        """Return a string that sorts like the events, or None when the event carries neither field."""
        if self.sequencer:
            digits = self.sequencer.strip().upper()
            if len(digits) > SEQUENCER_WIDTH or any(c not in "0123456789ABCDEF" for c in digits):
                raise ValueError(f"sequencer {self.sequencer!r} is invalid: expected up to {SEQUENCER_WIDTH} hex digits")
            return "S" + digits.rjust(SEQUENCER_WIDTH, "0")
        if self.event_time:
            return "T" + _utc_iso(self.event_time)
        return None


class DocumentStatus(BaseModel):
    document_id: str
    status: DocumentState
    source_uri: str
    file_name: str
    reason: str | None = Field(default=None, description="Why ingestion failed: the error type and message")
    page_count: int | None = None
    chunk_count: int | None = None
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per phase, e.g. total_seconds")
    etag: str | None = None
    sequencer: str | None = None
    event_time: str | None = None
    order_key: str | None = Field(default=None, description="EventOrder.key() of the upload this status belongs to")
    execution_id: str | None = None
    updated_at: str


class StatusStore(Protocol):
    def mark_queued(self, document: DocumentRef, order: EventOrder | None = None, etag: str | None = None) -> WriteResult:
        """Record a new upload; DUPLICATE for a re-delivered event, STALE for an event older than the recorded one."""
        ...

    def mark_processing(self, document: DocumentRef, order: EventOrder | None = None, execution_id: str | None = None) -> None:
        """Raise `StaleEventError` when a newer upload was recorded."""
        ...

    def mark_indexed(
        self,
        document: DocumentRef,
        page_count: int,
        chunk_count: int,
        order: EventOrder | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        """Raise `StaleEventError` when a newer upload was recorded."""
        ...

    def mark_failed(self, document: DocumentRef, reason: str, order: EventOrder | None = None) -> WriteResult: ...

    def get(self, document_id: str) -> DocumentStatus | None: ...

    def list(self) -> list[DocumentStatus]: ...

    def delete(self, document_id: str, order: EventOrder | None = None) -> WriteResult:
        """Forget a deleted document unless a newer upload of it was recorded."""
        ...


def compare(recorded: str | None, incoming: str | None) -> int:
    """Return -1, 0 or 1 as the recorded order key is older than, equal to or newer than the incoming one.

    A missing key on either side compares as older, so writes without an order always apply.
    """
    if recorded is None or incoming is None:
        return -1
    if recorded[0] != incoming[0]:
        # A sequencer and an event time cannot be compared; the later write wins.
        return -1
    return (recorded > incoming) - (recorded < incoming)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utc_iso(value: str) -> str:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")


class LocalStatusStore:
    """One JSON file per document under `<store>/status/`, written atomically."""

    def __init__(self, store_directory: Path) -> None:
        self.directory = Path(store_directory) / STATUS_DIRECTORY
        self._lock = threading.Lock()

    def _path(self, document_id: str) -> Path:
        if not document_id or not document_id.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"document id {document_id!r} is invalid: expected letters, digits, - or _")
        return self.directory / f"{document_id}.json"

    def get(self, document_id: str) -> DocumentStatus | None:
        path = self._path(document_id)
        if not path.is_file():
            return None
        return DocumentStatus.model_validate_json(path.read_bytes())

    def list(self) -> list[DocumentStatus]:
        if not self.directory.is_dir():
            return []
        statuses = [DocumentStatus.model_validate_json(path.read_bytes()) for path in sorted(self.directory.glob("*.json"))]
        return sorted(statuses, key=lambda status: status.file_name)

    def _write(self, status: DocumentStatus) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(status.document_id)
        with tempfile.NamedTemporaryFile("w", dir=self.directory, delete=False, suffix=".tmp", encoding="utf-8") as handle:
            handle.write(status.model_dump_json(indent=2))
        os.replace(handle.name, path)

    def _update(
        self,
        document: DocumentRef,
        order: EventOrder | None,
        state: DocumentState,
        allow_equal: bool,
        **fields: object,
    ) -> WriteResult:
        incoming = order.key() if order else None
        with self._lock:
            current = self.get(document.document_id)
            recorded = current.order_key if current else None
            relation = compare(recorded, incoming)
            if relation > 0:
                return WriteResult.STALE
            if relation == 0 and not allow_equal:
                return WriteResult.DUPLICATE
            base = current.model_dump() if current is not None and relation == 0 else {}
            base.update(
                document_id=document.document_id,
                source_uri=document.source_uri,
                file_name=document.file_name,
                status=state,
                order_key=incoming,
                sequencer=order.sequencer if order else None,
                event_time=order.event_time if order else None,
                updated_at=now_iso(),
            )
            base.update(fields)
            self._write(DocumentStatus.model_validate(base))
        return WriteResult.APPLIED

    def mark_queued(self, document: DocumentRef, order: EventOrder | None = None, etag: str | None = None) -> WriteResult:
        return self._update(document, order, "queued", allow_equal=False, etag=etag, reason=None)

    def mark_processing(self, document: DocumentRef, order: EventOrder | None = None, execution_id: str | None = None) -> None:
        result = self._update(document, order, "processing", allow_equal=True, execution_id=execution_id, reason=None)
        _raise_if_stale(result, document)

    def mark_indexed(
        self,
        document: DocumentRef,
        page_count: int,
        chunk_count: int,
        order: EventOrder | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        result = self._update(
            document, order, "indexed", allow_equal=True, page_count=page_count, chunk_count=chunk_count, timings=timings or {}, reason=None
        )
        _raise_if_stale(result, document)

    def mark_failed(self, document: DocumentRef, reason: str, order: EventOrder | None = None) -> WriteResult:
        return self._update(document, order, "failed", allow_equal=True, reason=reason)

    def delete(self, document_id: str, order: EventOrder | None = None) -> WriteResult:
        incoming = order.key() if order else None
        with self._lock:
            current = self.get(document_id)
            if current is None:
                return WriteResult.DUPLICATE
            if compare(current.order_key, incoming) > 0:
                return WriteResult.STALE
            self._path(document_id).unlink(missing_ok=True)
        return WriteResult.APPLIED


def _raise_if_stale(result: WriteResult, document: DocumentRef) -> None:
    if result is WriteResult.STALE:
        raise StaleEventError(f"{document.source_uri}: a newer upload of this document was recorded; this run stops")


def status_to_json(status: DocumentStatus) -> dict:
    """Return the public JSON form of a status, without the internal order key."""
    data = json.loads(status.model_dump_json(exclude={"order_key"}))
    return data
