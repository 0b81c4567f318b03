"""Document status in a DynamoDB table, with conditional writes that keep the newest upload's status.

Table schema: partition key `document_id` (string), on-demand capacity. Each
item stores `order_key` (see `ragagent.status.EventOrder.key`); a write states
the order key of its upload and DynamoDB rejects it when the item records a
newer one, so two Lambdas racing on the same document cannot reorder events.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from ragagent.models import DocumentRef
from ragagent.status import DocumentState, DocumentStatus, EventOrder, StaleEventError, WriteResult, compare, now_iso

logger = logging.getLogger(__name__)

CONDITION_FAILED = "ConditionalCheckFailedException"
# Fields a new upload clears, so no count or reason of an older upload survives.
UPLOAD_FIELDS = ("reason", "page_count", "chunk_count", "timings", "execution_id")


class DynamoDBStatusStore:
    def __init__(self, table_name: str, dynamodb_resource: Any = None) -> None:
        if dynamodb_resource is None:
            import boto3

            dynamodb_resource = boto3.resource("dynamodb")
        self.table = dynamodb_resource.Table(table_name)

    def get(self, document_id: str) -> DocumentStatus | None:
        item = self.table.get_item(Key={"document_id": document_id}, ConsistentRead=True).get("Item")
        return _to_status(item) if item else None

    def list(self) -> list[DocumentStatus]:
        # NOTE: a Scan reads the whole table; fine for thousands of documents, not for millions.
        items: list[dict] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self.table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted((_to_status(item) for item in items), key=lambda status: status.file_name)

    def mark_queued(self, document: DocumentRef, order: EventOrder | None = None, etag: str | None = None) -> WriteResult:
        fields = {"etag": etag} if etag else {}
        return self._update(document, order, "queued", fields, remove=UPLOAD_FIELDS, allow_equal=False)

    def mark_processing(self, document: DocumentRef, order: EventOrder | None = None, execution_id: str | None = None) -> None:
        fields = {"execution_id": execution_id} if execution_id else {}
        result = self._update(document, order, "processing", fields, remove=("reason", "page_count", "chunk_count", "timings"), allow_equal=True)
        _raise_if_stale(result, document)

    def mark_indexed(
        self,
        document: DocumentRef,
        page_count: int,
        chunk_count: int,
        order: EventOrder | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        fields = {"page_count": page_count, "chunk_count": chunk_count, "timings": _decimals(timings or {})}
        result = self._update(document, order, "indexed", fields, remove=("reason",), allow_equal=True)
        _raise_if_stale(result, document)

    def mark_failed(self, document: DocumentRef, reason: str, order: EventOrder | None = None) -> WriteResult:
        return self._update(document, order, "failed", {"reason": reason}, remove=(), allow_equal=True)

    def delete(self, document_id: str, order: EventOrder | None = None) -> WriteResult:
        incoming = order.key() if order else None
        kwargs: dict[str, Any] = {"Key": {"document_id": document_id}, "ReturnValues": "ALL_OLD"}
        if incoming is not None:
            kwargs.update(_order_condition(incoming, allow_equal=True))
        try:
            response = self.table.delete_item(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] != CONDITION_FAILED:
                raise
            return WriteResult.STALE
        return WriteResult.APPLIED if response.get("Attributes") else WriteResult.DUPLICATE

    def _update(
        self,
        document: DocumentRef,
        order: EventOrder | None,
        state: DocumentState,
        fields: dict[str, Any],
        remove: tuple[str, ...],
        allow_equal: bool,
    ) -> WriteResult:
        incoming = order.key() if order else None
        values: dict[str, Any] = {
            "status": state,
            "source_uri": document.source_uri,
            "file_name": document.file_name,
            "updated_at": now_iso(),
            "order_key": incoming,
            "sequencer": order.sequencer if order else None,
            "event_time": order.event_time if order else None,
            **fields,
        }
        names = {f"#{name}": name for name in values}
        names.update({f"#{name}": name for name in remove})
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in values)
        if remove:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in remove)
        kwargs: dict[str, Any] = {
            "Key": {"document_id": document.document_id},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":{name}": value for name, value in values.items()},
        }
        if incoming is not None:
            condition = _order_condition(incoming, allow_equal)
            kwargs["ConditionExpression"] = condition["ConditionExpression"]
            kwargs["ExpressionAttributeNames"].update(condition["ExpressionAttributeNames"])
            kwargs["ExpressionAttributeValues"].update(condition["ExpressionAttributeValues"])
        try:
            self.table.update_item(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] != CONDITION_FAILED:
                raise
            return self._classify_rejection(document.document_id, incoming)
        return WriteResult.APPLIED

    def _classify_rejection(self, document_id: str, incoming: str | None) -> WriteResult:
        current = self.get(document_id)
        recorded = current.order_key if current else None
        return WriteResult.DUPLICATE if compare(recorded, incoming) == 0 else WriteResult.STALE


def _order_condition(incoming: str, allow_equal: bool) -> dict[str, Any]:
    """Accept a write when the item is new, has no order key, records another kind of order, or an older upload."""
    operator = "<=" if allow_equal else "<"
    return {
        "ConditionExpression": (
            f"attribute_not_exists(#pk) OR attribute_not_exists(#ok) OR NOT begins_with(#ok, :kind) OR #ok {operator} :incoming"
        ),
        "ExpressionAttributeNames": {"#pk": "document_id", "#ok": "order_key"},
        "ExpressionAttributeValues": {":incoming": incoming, ":kind": incoming[0]},
    }


def _decimals(timings: dict[str, float]) -> dict[str, Decimal]:
    return {name: Decimal(str(round(seconds, 3))) for name, seconds in timings.items()}


def _to_status(item: dict[str, Any]) -> DocumentStatus:
    data = dict(item)
    for name in ("page_count", "chunk_count"):
        if isinstance(data.get(name), Decimal):
            data[name] = int(data[name])
    data["timings"] = {name: float(value) for name, value in (data.get("timings") or {}).items()}
    return DocumentStatus.model_validate(data)


def _raise_if_stale(result: WriteResult, document: DocumentRef) -> None:
    if result is WriteResult.STALE:
        raise StaleEventError(f"{document.source_uri}: a newer upload of this document was recorded; this run stops")
