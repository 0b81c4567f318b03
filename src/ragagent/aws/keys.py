"""Decode S3 object events from every trigger path into one model, and name executions.

Encoding of the object key, by source:

- S3 event notifications to Lambda, SQS and SNS: `Records[].s3.object.key` is
  URL-encoded in form style, so a space arrives as `+`, a plus as `%2B` and
  other bytes as `%XX` of their UTF-8 encoding (Amazon S3 User Guide, "Event
  message structure": "red flower.jpg" becomes "red+flower.jpg").
- Items of statemachine/backfill.asl.json: the raw key from ListObjectsV2,
  used as is.
- S3 events on EventBridge: `detail.object.key` is decoded the same way. The
  S3 User Guide page "EventBridge event message structure" shows only plain
  keys and does not say; Powertools for AWS Lambda (Python) 3.37, maintained by
  AWS, applies `unquote_plus` in `S3EventBridgeNotificationObject.key`, and we
  follow it.
  NOTE: moto 5.2.5 puts the raw key into its EventBridge events, so tests build
  EventBridge events with encoded keys themselves instead of relying on moto.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel

from ragagent.models import DocumentRef

EXECUTION_NAME_PREFIX = "ingest-"
# Step Functions execution names: 1 to 80 characters of A-Z, a-z, 0-9, - and _.
MAX_EXECUTION_NAME_LENGTH = 80
EXECUTION_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
RUN_ID_LENGTH = 16
# Items of the backfill state machine carry keys from ListObjectsV2, which are not encoded.
BACKFILL_SOURCE = "ragagent.backfill"

ObjectEventKind = Literal["created", "deleted"]

_EVENTBRIDGE_DETAIL_TYPES: dict[str, ObjectEventKind] = {"Object Created": "created", "Object Deleted": "deleted"}


class ObjectEvent(BaseModel):
    """One S3 object change, with its key already decoded."""

    kind: ObjectEventKind
    bucket: str
    key: str
    etag: str | None = None
    sequencer: str | None = None
    event_time: str | None = None
    size: int | None = None
    version_id: str | None = None

    @property
    def source_uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def document(self) -> DocumentRef:
        return DocumentRef.from_uri(self.source_uri, self.file_name)

    def change_token(self) -> str:
        """Return what identifies this version of the object: its sequencer, else its ETag, else its event time."""
        return self.sequencer or self.etag or self.event_time or ""


def decode_notification_key(encoded_key: str) -> str:
    """Decode a key from an S3 event notification or an S3 event on EventBridge."""
    return unquote_plus(encoded_key, encoding="utf-8", errors="strict")


def execution_name(event: ObjectEvent) -> str:
    """Derive a Step Functions execution name that is the same for every delivery of one upload."""
    digest = _upload_digest(event)
    name = f"{EXECUTION_NAME_PREFIX}{digest[: MAX_EXECUTION_NAME_LENGTH - len(EXECUTION_NAME_PREFIX)]}"
    return name


def run_id_for(event: ObjectEvent) -> str:
    """Name the work/ folder of one upload; a re-delivered event or a redriven execution reuses it."""
    return _upload_digest(event)[:RUN_ID_LENGTH]


def _upload_digest(event: ObjectEvent) -> str:
    material = "\n".join([event.bucket, event.key, event.change_token()])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def object_events(event: Mapping[str, Any]) -> Iterator[ObjectEvent]:
    """Yield the object events in an EventBridge event, an S3 notification, or SQS or SNS messages carrying them."""
    if event.get("source") == BACKFILL_SOURCE:
        yield _from_backfill(event)
        return
    if "detail-type" in event:
        yield from _from_eventbridge(event)
        return

    for record in event.get("Records", []):
        if "s3" in record:
            yield _from_s3_record(record)
        elif record.get("eventSource") == "aws:sqs" or "body" in record:
            yield from object_events(json.loads(record["body"]))
        elif record.get("EventSource") == "aws:sns" or "Sns" in record:
            yield from object_events(json.loads(record["Sns"]["Message"]))
        else:
            raise ValueError(f"record of unknown source: keys {sorted(record)}; expected s3, SQS body or SNS message")


def _from_eventbridge(event: Mapping[str, Any]) -> Iterator[ObjectEvent]:
    detail_type = event["detail-type"]
    kind = _EVENTBRIDGE_DETAIL_TYPES.get(detail_type)
    if event.get("source") != "aws.s3" or kind is None:
        raise ValueError(f"EventBridge event {detail_type!r} from {event.get('source')!r} is not an S3 Object Created or Object Deleted event")
    detail = event["detail"]
    obj = detail["object"]
    yield ObjectEvent(
        kind=kind,
        bucket=detail["bucket"]["name"],
        key=decode_notification_key(obj["key"]),
        etag=obj.get("etag") or obj.get("eTag"),
        sequencer=obj.get("sequencer"),
        event_time=event.get("time"),
        size=obj.get("size"),
        version_id=obj.get("version-id"),
    )


def _from_backfill(event: Mapping[str, Any]) -> ObjectEvent:
    """Read a backfill item: `object` is one ListObjectsV2 entry, else flat `key`, `etag` and `last_modified` fields."""
    listed = event.get("object")
    if isinstance(listed, Mapping):
        key = listed["Key"]
        # NOTE: the Step Functions ItemReader is reported to spell the field Etag and to give
        # LastModified in epoch seconds, which was not confirmed against AWS. moto 5.2.5 passes
        # boto3's ETag and an ISO 8601 string, so both forms are read.
        etag = listed.get("Etag") or listed.get("ETag")
        last_modified = listed.get("LastModified")
    else:
        key = event["key"]
        etag = event.get("etag")
        last_modified = event.get("last_modified")
    return ObjectEvent(
        kind="created",
        bucket=event["bucket"],
        key=key,
        etag=(etag or "").strip('"') or None,
        event_time=_iso_time(last_modified),
    )


def _iso_time(value: Any) -> str | None:
    """Return an ISO 8601 time from an ISO string or from epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc).isoformat()
    return str(value)


def _from_s3_record(record: Mapping[str, Any]) -> ObjectEvent:
    event_name: str = record["eventName"]
    if event_name.startswith("ObjectCreated"):
        kind: ObjectEventKind = "created"
    elif event_name.startswith("ObjectRemoved"):
        kind = "deleted"
    else:
        raise ValueError(f"S3 event {event_name!r} is neither ObjectCreated nor ObjectRemoved")
    s3 = record["s3"]
    obj = s3["object"]
    return ObjectEvent(
        kind=kind,
        bucket=s3["bucket"]["name"],
        key=decode_notification_key(obj["key"]),
        etag=obj.get("eTag"),
        sequencer=obj.get("sequencer"),
        event_time=record.get("eventTime"),
        size=obj.get("size"),
        version_id=obj.get("versionId"),
    )
