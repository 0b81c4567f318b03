"""Object keys with special characters through every trigger path, and execution names."""

from __future__ import annotations

import json
import re
from urllib.parse import quote_plus

import pytest
from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent

from lambda_harness import eventbridge_object_event
from ragagent.aws.keys import BACKFILL_SOURCE, decode_notification_key, execution_name, object_events, run_id_for

TRICKY_KEYS = [
    "documents/annual report 2024.pdf",
    "documents/c++ notes+draft.pdf",
    "documents/smith, jones (2021).pdf",
    "documents/Größenordnung – 東京 é.pdf",
    "documents/100% done & ready?.pdf",
]


def s3_notification(key: str, event_name: str = "ObjectCreated:Put") -> dict:
    """An S3 event notification as S3 sends it to Lambda, SQS or SNS: the key form-encoded."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-01-05T10:00:00.000Z",
                "eventName": event_name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": "bucket", "arn": "arn:aws:s3:::bucket"},
                    "object": {"key": quote_plus(key, safe="/"), "size": 10, "eTag": "abc", "sequencer": "0061A"},
                },
            }
        ]
    }


def sqs_wrapped(message: dict) -> dict:
    return {"Records": [{"eventSource": "aws:sqs", "messageId": "1", "body": json.dumps(message)}]}


def sns_wrapped(message: dict) -> dict:
    return {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": json.dumps(message)}}]}


def backfill_item(key: str) -> dict:
    return {"source": BACKFILL_SOURCE, "bucket": "bucket", "key": key, "etag": '"abc"', "last_modified": "2026-01-05T10:00:00+00:00"}


TRIGGERS = {
    "eventbridge": lambda key: eventbridge_object_event("Object Created", key, "abc", "0061A", bucket="bucket"),
    "s3_to_lambda": s3_notification,
    "s3_to_sqs": lambda key: sqs_wrapped(s3_notification(key)),
    "s3_to_sns": lambda key: sns_wrapped(s3_notification(key)),
    "s3_to_sns_to_sqs": lambda key: sqs_wrapped(sns_wrapped(s3_notification(key))),
    "backfill": backfill_item,
}


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_object_events_decode_key(trigger, key):
    event = TRIGGERS[trigger](key)

    changes = list(object_events(event))

    assert len(changes) == 1
    assert changes[0].key == key
    assert changes[0].bucket == "bucket"
    assert changes[0].kind == "created"


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_eventbridge_decoding_matches_powertools(key):
    event = eventbridge_object_event("Object Created", key, "abc", "0061A", bucket="bucket")

    ours = next(object_events(event)).key
    theirs = S3EventBridgeNotificationEvent(event).detail.object.key

    assert ours == theirs


def test_decode_key_plus_and_space():
    assert decode_notification_key("a+b%2Bc.pdf") == "a b+c.pdf"


def test_decode_key_utf8_escapes():
    assert decode_notification_key("caf%C3%A9.pdf") == "café.pdf"


def test_object_deleted_event_kind():
    event = eventbridge_object_event("Object Deleted", "documents/a b.pdf", "", "0062", bucket="bucket")

    change = next(object_events(event))

    assert change.kind == "deleted"
    assert change.key == "documents/a b.pdf"


def test_s3_removed_record_kind():
    change = next(object_events(s3_notification("documents/x.pdf", "ObjectRemoved:Delete")))

    assert change.kind == "deleted"


def test_unknown_eventbridge_source_rejected():
    event = eventbridge_object_event("Object Created", "documents/x.pdf", "abc", "1", bucket="bucket")
    event["source"] = "aws.ec2"

    with pytest.raises(ValueError, match="not an S3 Object Created"):
        list(object_events(event))


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_execution_name_allowed_characters(key):
    change = next(object_events(TRIGGERS["eventbridge"](key)))

    name = execution_name(change)

    assert re.fullmatch(r"[A-Za-z0-9_-]+", name)
    assert len(name) <= 80


def test_execution_name_same_for_redelivery():
    first = next(object_events(TRIGGERS["eventbridge"](TRICKY_KEYS[0])))
    again = next(object_events(TRIGGERS["eventbridge"](TRICKY_KEYS[0])))

    assert execution_name(first) == execution_name(again)
    assert run_id_for(first) == run_id_for(again)


def test_execution_name_differs_per_upload():
    first = next(object_events(eventbridge_object_event("Object Created", "documents/a.pdf", "abc", "0061A", bucket="bucket")))
    second = next(object_events(eventbridge_object_event("Object Created", "documents/a.pdf", "abc", "0061B", bucket="bucket")))

    assert execution_name(first) != execution_name(second)


def test_execution_name_differs_per_key():
    first = next(object_events(eventbridge_object_event("Object Created", "documents/a b.pdf", "abc", "1", bucket="bucket")))
    second = next(object_events(eventbridge_object_event("Object Created", "documents/a+b.pdf", "abc", "1", bucket="bucket")))

    assert execution_name(first) != execution_name(second)


@pytest.mark.parametrize(
    ("listed", "expected_time"),
    [
        # As the Step Functions documentation shows ItemReader entries of s3:listObjectsV2.
        ({"Key": "documents/a b.pdf", "Etag": '"abc"', "LastModified": 1767607200, "Size": 10}, "2026-01-05T10:00:00+00:00"),
        # As moto 5.2.5 passes them: boto3's field names, the time as ISO 8601.
        ({"Key": "documents/a b.pdf", "ETag": '"abc"', "LastModified": "2026-01-05T10:00:00+00:00", "Size": 10}, "2026-01-05T10:00:00+00:00"),
    ],
)
def test_backfill_listing_entry_read(listed, expected_time):
    event = {"source": BACKFILL_SOURCE, "bucket": "bucket", "object": listed}

    change = next(object_events(event))

    assert change.key == "documents/a b.pdf"
    assert change.etag == "abc"
    assert change.event_time == expected_time
    assert change.kind == "created"
