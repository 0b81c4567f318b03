"""S3ArtifactStore against moto's S3."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from ragagent.aws.artifacts import S3ArtifactStore


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bucket")
        yield client


def test_artifacts_put_get_roundtrip(s3):
    store = S3ArtifactStore("bucket", "", s3)

    key = store.put("work/doc/run/batches/00000.pdf", b"%PDF-1.7 bytes")

    assert key == "work/doc/run/batches/00000.pdf"
    assert store.get(key) == b"%PDF-1.7 bytes"


def test_artifacts_prefix_in_object_key(s3):
    S3ArtifactStore("bucket", "stage/", s3).put("work/a.json", b"{}")

    assert s3.get_object(Bucket="bucket", Key="stage/work/a.json")["Body"].read() == b"{}"


def test_artifacts_delete_prefix_only_that_run(s3):
    store = S3ArtifactStore("bucket", "", s3)
    for index in range(3):
        store.put(f"work/doc/run1/ocr/{index:05d}.json", b"{}")
    store.put("work/doc/run10/ocr/00000.json", b"{}")

    store.delete_prefix("work/doc/run1")

    remaining = [item["Key"] for item in s3.list_objects_v2(Bucket="bucket").get("Contents", [])]
    assert remaining == ["work/doc/run10/ocr/00000.json"]


@pytest.mark.parametrize("key", ["../escape.json", "/absolute.json", "work//double.json", "work/./dot.json"])
def test_artifacts_reject_bad_keys(s3, key):
    with pytest.raises(ValueError, match="artifact key"):
        S3ArtifactStore("bucket", "", s3).put(key, b"x")
