"""Status stores: the local JSON files and DynamoDB (moto) keep the newest upload's status."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ragagent.aws.status import DynamoDBStatusStore
from ragagent.models import DocumentRef
from ragagent.status import EventOrder, LocalStatusStore, StaleEventError, WriteResult

DOCUMENT = DocumentRef.from_uri("s3://bucket/documents/a b.pdf", "a b.pdf")
OLD = EventOrder(sequencer="0055AB", event_time="2026-01-01T00:00:00Z")
# Shorter hex string but a larger number once padded: compares as newer.
NEW = EventOrder(sequencer="0FF00000")


@pytest.fixture(params=["local", "dynamodb"])
def store(request, tmp_path, monkeypatch):
    if request.param == "local":
        yield LocalStatusStore(tmp_path)
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-east-1")
        resource.create_table(
            TableName="status",
            KeySchema=[{"AttributeName": "document_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "document_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield DynamoDBStatusStore("status", resource)


def test_status_lifecycle_indexed(store):
    assert store.mark_queued(DOCUMENT, OLD, etag="e1") is WriteResult.APPLIED
    store.mark_processing(DOCUMENT, OLD, execution_id="exec-1")
    store.mark_indexed(DOCUMENT, page_count=3, chunk_count=7, order=OLD, timings={"total_seconds": 1.5})

    status = store.get(DOCUMENT.document_id)

    assert status.status == "indexed"
    assert status.page_count == 3
    assert status.chunk_count == 7
    assert status.timings == {"total_seconds": 1.5}
    assert status.etag == "e1"
    assert status.execution_id == "exec-1"
    assert status.file_name == "a b.pdf"


def test_status_failed_reason(store):
    store.mark_processing(DOCUMENT, OLD)

    result = store.mark_failed(DOCUMENT, "InvalidDocumentError: not a PDF", OLD)

    assert result is WriteResult.APPLIED
    assert store.get(DOCUMENT.document_id).reason == "InvalidDocumentError: not a PDF"


def test_status_redelivered_queue_is_duplicate(store):
    store.mark_queued(DOCUMENT, OLD)
    store.mark_indexed(DOCUMENT, 1, 1, OLD)

    assert store.mark_queued(DOCUMENT, OLD) is WriteResult.DUPLICATE
    assert store.get(DOCUMENT.document_id).status == "indexed"


def test_status_older_event_is_stale(store):
    store.mark_indexed(DOCUMENT, 2, 4, NEW)

    assert store.mark_queued(DOCUMENT, OLD) is WriteResult.STALE
    with pytest.raises(StaleEventError):
        store.mark_processing(DOCUMENT, OLD)
    with pytest.raises(StaleEventError):
        store.mark_indexed(DOCUMENT, 9, 9, OLD)
    assert store.mark_failed(DOCUMENT, "late failure", OLD) is WriteResult.STALE
    status = store.get(DOCUMENT.document_id)
    assert status.status == "indexed"
    assert status.sequencer == "0FF00000"
    assert status.chunk_count == 4


def test_status_newer_upload_clears_counts(store):
    store.mark_indexed(DOCUMENT, 2, 4, OLD)

    store.mark_queued(DOCUMENT, NEW)

    status = store.get(DOCUMENT.document_id)
    assert status.status == "queued"
    assert status.chunk_count is None
    assert status.page_count is None


def test_status_event_time_orders_without_sequencer(store):
    later = EventOrder(event_time="2026-02-01T00:00:00Z")
    earlier = EventOrder(event_time="2026-01-31T23:59:59+00:00")
    store.mark_indexed(DOCUMENT, 1, 1, later)

    assert store.mark_queued(DOCUMENT, earlier) is WriteResult.STALE


def test_status_delete_respects_newer_upload(store):
    store.mark_indexed(DOCUMENT, 1, 1, NEW)

    assert store.delete(DOCUMENT.document_id, OLD) is WriteResult.STALE
    assert store.get(DOCUMENT.document_id) is not None
    assert store.delete(DOCUMENT.document_id, EventOrder(sequencer="1000000000")) is WriteResult.APPLIED
    assert store.get(DOCUMENT.document_id) is None


def test_status_list_sorted_by_file_name(store):
    other = DocumentRef.from_uri("s3://bucket/documents/0 first.pdf", "0 first.pdf")
    store.mark_queued(DOCUMENT)
    store.mark_queued(other)

    names = [status.file_name for status in store.list()]

    assert names == ["0 first.pdf", "a b.pdf"]


def test_status_get_unknown_is_none(store):
    assert store.get("0123456789abcdef0123") is None


def test_event_order_pads_sequencers():
    assert EventOrder(sequencer="FF").key() < EventOrder(sequencer="100").key()


def test_event_order_rejects_non_hex():
    with pytest.raises(ValueError, match="sequencer 'xyz' is invalid"):
        EventOrder(sequencer="xyz").key()


def test_local_status_file_per_document(tmp_path):
    LocalStatusStore(tmp_path).mark_queued(DOCUMENT)

    assert (tmp_path / "status" / f"{DOCUMENT.document_id}.json").is_file()


def test_local_status_rejects_path_ids(tmp_path):
    with pytest.raises(ValueError, match="document id"):
        LocalStatusStore(tmp_path).get("../etc")
