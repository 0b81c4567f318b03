"""Find documents that were never ingested or whose ingestion failed, and optionally start them again.

On AWS the documents are the `.pdf` objects under a bucket prefix and their
status is in the DynamoDB table; starting one goes through the same
`start_ingestion` task as the EventBridge rule, so it records `queued` and names
the execution with the same hash. A listing has no S3 sequencer, so the hash
covers bucket, key and ETag, as for the backfill state machine: reconciling and
backfilling the same unchanged object start one execution between them.

Locally the documents are the PDFs in a folder and their status is in the store
directory; starting one re-ingests it in this process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ragagent.aws.keys import ObjectEvent, execution_name
from ragagent.errors import ConfigurationError
from ragagent.ingest import LOCAL_WORK_DIRECTORY, DocumentResult, LocalIngestor, document_ref_for, find_pdfs
from ragagent.settings import Settings
from ragagent.status import DocumentStatus, StatusStore

logger = logging.getLogger(__name__)

PDF_SUFFIX = ".pdf"
# The state of a document with no recorded status.
NEW = "new"

ReconcileState = Literal["new", "failed"]


class ReconcileItem(BaseModel):
    """A document without a status or with a failed status, and what starting it did."""

    source: str
    document_id: str
    state: ReconcileState
    reason: str | None = None
    execution_name: str | None = None
    started: bool = Field(default=False, description="True when the execution started, or the local re-ingestion succeeded")
    detail: str | None = None


def state_to_reconcile(status: DocumentStatus | None) -> ReconcileState | None:
    """Return "new" (no status recorded) or "failed" when the document needs ingesting, else None."""
    if status is None:
        return NEW
    if status.status == "failed":
        return "failed"
    return None


# --- AWS -----------------------------------------------------------------------


def list_bucket_pdfs(s3_client: Any, bucket: str, prefix: str) -> Iterator[ObjectEvent]:
    """Yield one Object Created event per `.pdf` object under the prefix, from ListObjectsV2."""
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for listed in page.get("Contents", []):
            key = listed["Key"]
            if not key.lower().endswith(PDF_SUFFIX):
                continue
            last_modified = listed.get("LastModified")
            yield ObjectEvent(
                kind="created",
                bucket=bucket,
                key=key,
                etag=(listed.get("ETag") or "").strip('"') or None,
                event_time=last_modified.isoformat() if isinstance(last_modified, datetime) else last_modified,
                size=listed.get("Size"),
            )


def reconcile_bucket(
    s3_client: Any,
    status: StatusStore,
    bucket: str,
    prefix: str,
    stepfunctions_client: Any = None,
    state_machine_arn: str | None = None,
    start: bool = False,
) -> list[ReconcileItem]:
    """List the bucket's PDFs that have no status or a failed one; with `start`, start an execution for each."""
    if start and (stepfunctions_client is None or not state_machine_arn):
        raise ConfigurationError("starting executions needs the ingestion state machine ARN: pass --state-machine-arn")

    items = []
    for change in list_bucket_pdfs(s3_client, bucket, prefix):
        document = change.document()
        current = status.get(document.document_id)
        state = state_to_reconcile(current)
        if state is None:
            continue
        item = ReconcileItem(
            source=change.source_uri,
            document_id=document.document_id,
            state=state,
            reason=current.reason if current else None,
            execution_name=execution_name(change),
        )
        if start:
            _start_execution(item, change, s3_client, status, stepfunctions_client, state_machine_arn)
        items.append(item)
    logger.info("reconciled bucket=%s prefix=%s documents=%d started=%d", bucket, prefix, len(items), sum(item.started for item in items))
    return items


def _start_execution(
    item: ReconcileItem,
    change: ObjectEvent,
    s3_client: Any,
    status: StatusStore,
    stepfunctions_client: Any,
    state_machine_arn: str | None,
) -> None:
    from ragagent.aws.artifacts import S3ArtifactStore
    from ragagent.aws.tasks import Services, start_object

    services = Services(Settings(), S3ArtifactStore(change.bucket, "", s3_client), status, s3_client, stepfunctions_client)
    result = start_object(change, services, state_machine_arn or "")
    item.started = result.started
    item.execution_name = result.execution_name
    if result.started:
        item.detail = "started"
    elif result.reason == "execution exists":
        # NOTE: Step Functions keeps a closed execution's name for 90 days, so a failed
        # run of this unchanged object cannot start again under its name. Redrive it instead.
        item.detail = "an execution of this upload already ran; redrive it with aws stepfunctions redrive-execution, or upload the file again"
    else:
        item.detail = result.reason


def reconcile_aws(
    bucket: str,
    prefix: str,
    status_table: str,
    state_machine_arn: str | None = None,
    start: bool = False,
) -> list[ReconcileItem]:
    """Run `reconcile_bucket` with boto3 clients from the default credentials and region."""
    import boto3

    from ragagent.aws.status import DynamoDBStatusStore

    if not status_table:
        raise ConfigurationError("the status table is missing: pass --status-table or set RAGAGENT_STATUS_TABLE")
    status = DynamoDBStatusStore(status_table, boto3.resource("dynamodb"))
    stepfunctions = boto3.client("stepfunctions") if start else None
    return reconcile_bucket(boto3.client("s3"), status, bucket, prefix, stepfunctions, state_machine_arn, start)


# --- local ---------------------------------------------------------------------


def reconcile_folder(folder: Path, status: StatusStore) -> list[ReconcileItem]:
    """List the folder's PDFs that have no status or a failed one in the local status store."""
    if not folder.is_dir():
        raise ConfigurationError(f"folder {str(folder)!r} not found: pass a folder of PDFs")
    paths, _ = find_pdfs([folder])
    items = []
    for path in paths:
        document = document_ref_for(path)
        current = status.get(document.document_id)
        state = state_to_reconcile(current)
        if state is None:
            continue
        items.append(
            ReconcileItem(source=str(path), document_id=document.document_id, state=state, reason=current.reason if current else None)
        )
    return items


def reingest_local(items: Sequence[ReconcileItem], settings: Settings) -> list[DocumentResult]:
    """Ingest the listed local PDFs again into the settings' store, recording their status."""
    from ragagent.factory import build_describer, build_embedder, build_parser, build_status_store, open_store

    embedder = build_embedder(settings)
    ingestor = LocalIngestor(
        store_dir=settings.store_path if not settings.store_is_url else LOCAL_WORK_DIRECTORY,
        parser=build_parser(settings),
        describer=build_describer(settings),
        embedder=embedder,
        store=open_store(settings, embedder),
        batch_size=settings.batch_size,
        max_pages=settings.max_pages,
        status=build_status_store(settings),
    )
    results = ingestor.ingest([Path(item.source) for item in items])
    by_path = {result.path: result for result in results}
    for item in items:
        result = by_path.get(item.source)
        item.started = result is not None and result.ok
        item.detail = "ingested" if item.started else f"failed again: {result.error if result else 'not ingested'}"
    return results
