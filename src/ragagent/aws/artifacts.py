"""Intermediate files of an ingestion run as S3 objects under one prefix."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

# DeleteObjects accepts at most 1000 keys per request.
DELETE_BATCH_SIZE = 1000


class S3ArtifactStore:
    """An `ArtifactStore` on S3: artifact `key` lives at `s3://bucket/<prefix>/<key>`."""

    def __init__(self, bucket: str, prefix: str = "", s3_client: Any = None) -> None:
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.s3 = s3_client

    def _object_key(self, key: str) -> str:
        parts = key.split("/")
        if key.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"artifact key {key!r} is invalid: use a relative path without empty, . or .. parts")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data)
        return key

    def get(self, key: str) -> bytes:
        response = self.s3.get_object(Bucket=self.bucket, Key=self._object_key(key))
        return response["Body"].read()

    def delete_prefix(self, prefix: str) -> None:
        object_prefix = self._object_key(prefix.rstrip("/")) + "/"
        paginator = self.s3.get_paginator("list_objects_v2")
        deleted = 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=object_prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(keys), DELETE_BATCH_SIZE):
                batch = keys[start : start + DELETE_BATCH_SIZE]
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                deleted += len(batch)
        logger.info("deleted artifacts bucket=%s prefix=%s count=%d", self.bucket, object_prefix, deleted)
