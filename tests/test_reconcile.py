"""`ragagent reconcile`: documents with no status or a failed one, on S3 and DynamoDB (moto) and in a local folder."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from lambda_harness import BUCKET, REGION, ROLE_ARN, TABLE, load_definition
from ragagent.aws.keys import BACKFILL_SOURCE, execution_name, object_events
from ragagent.aws.status import DynamoDBStatusStore
from ragagent.cli import main
from ragagent.errors import ConfigurationError
from ragagent.ingest import document_ref_for
from ragagent.models import DocumentRef
from ragagent.reconcile import reconcile_bucket, reconcile_folder
from ragagent.status import EventOrder, LocalStatusStore
from test_state_machine import make_small_pdf

INDEXED_KEY = "documents/indexed paper.pdf"
FAILED_KEY = "documents/failed Größe.pdf"
MISSING_KEY = "documents/never seen 東京.pdf"
ORDER = EventOrder(sequencer="0061000000000001")


def document_for(key: str) -> DocumentRef:
    return DocumentRef.from_uri(f"s3://{BUCKET}/{key}", key.rsplit("/", 1)[-1])


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "document_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "document_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        stepfunctions = boto3.client("stepfunctions", region_name=REGION)
        arn = stepfunctions.create_state_machine(name="ragagent-ingest", definition=json.dumps(load_definition()), roleArn=ROLE_ARN)["stateMachineArn"]
        status = DynamoDBStatusStore(TABLE, dynamodb)
        for key in (INDEXED_KEY, FAILED_KEY, MISSING_KEY, "documents/notes.txt"):
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"%PDF-1.7 stand-in bytes")
        status.mark_indexed(document_for(INDEXED_KEY), page_count=1, chunk_count=2, order=ORDER)
        status.mark_failed(document_for(FAILED_KEY), "InvalidDocumentError: not a PDF", ORDER)
        yield {"s3": s3, "status": status, "stepfunctions": stepfunctions, "arn": arn}


def backfill_execution_name(s3, key: str) -> str:
    """Name the execution the backfill state machine would start for this object."""
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=key)["Contents"][0]
    item = {"source": BACKFILL_SOURCE, "bucket": BUCKET, "object": {**listed, "LastModified": listed["LastModified"].isoformat()}}
    return execution_name(next(object_events(item)))


# --- AWS -------------------------------------------------------------------------


def test_reconcile_bucket_lists_missing_and_failed(aws):
    items = reconcile_bucket(aws["s3"], aws["status"], BUCKET, "documents/")

    by_source = {item.source: item for item in items}
    assert sorted(by_source) == sorted([f"s3://{BUCKET}/{FAILED_KEY}", f"s3://{BUCKET}/{MISSING_KEY}"])
    assert by_source[f"s3://{BUCKET}/{FAILED_KEY}"].state == "failed"
    assert by_source[f"s3://{BUCKET}/{FAILED_KEY}"].reason == "InvalidDocumentError: not a PDF"
    assert by_source[f"s3://{BUCKET}/{MISSING_KEY}"].state == "new"
    assert not any(item.started for item in items)


def test_reconcile_bucket_start_uses_backfill_names(aws):
    items = reconcile_bucket(aws["s3"], aws["status"], BUCKET, "documents/", aws["stepfunctions"], aws["arn"], start=True)

    assert all(item.started for item in items)
    executions = aws["stepfunctions"].list_executions(stateMachineArn=aws["arn"])["executions"]
    expected = sorted(backfill_execution_name(aws["s3"], key) for key in (FAILED_KEY, MISSING_KEY))
    assert sorted(execution["name"] for execution in executions) == expected
    assert aws["status"].get(document_for(MISSING_KEY).document_id).status == "queued"
    assert aws["status"].get(document_for(FAILED_KEY).document_id).status == "queued"
    assert aws["status"].get(document_for(INDEXED_KEY).document_id).status == "indexed"


def test_reconcile_bucket_second_run_empty(aws):
    reconcile_bucket(aws["s3"], aws["status"], BUCKET, "documents/", aws["stepfunctions"], aws["arn"], start=True)

    assert reconcile_bucket(aws["s3"], aws["status"], BUCKET, "documents/") == []


def test_reconcile_bucket_start_needs_arn(aws):
    with pytest.raises(ConfigurationError, match="--state-machine-arn"):
        reconcile_bucket(aws["s3"], aws["status"], BUCKET, "documents/", start=True)


def test_reconcile_cli_bucket_start(aws, capsys):
    code = main(["reconcile", "--bucket", BUCKET, "--status-table", TABLE, "--state-machine-arn", aws["arn"], "--start"])

    output = capsys.readouterr().out
    assert code == 0
    assert f"new s3://{BUCKET}/{MISSING_KEY}: started" in output
    assert f"failed s3://{BUCKET}/{FAILED_KEY} (InvalidDocumentError: not a PDF): started" in output
    assert INDEXED_KEY not in output
    assert len(aws["stepfunctions"].list_executions(stateMachineArn=aws["arn"])["executions"]) == 2


def test_reconcile_cli_folder_and_bucket_rejected(tmp_path, capsys):
    code = main(["reconcile", str(tmp_path), "--bucket", BUCKET])

    assert code == 2
    assert "exactly one" in capsys.readouterr().err


# --- local -------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path) -> Path:
    documents = tmp_path / "papers"
    documents.mkdir()
    for name in ("indexed.pdf", "failed.pdf", "missing one.pdf"):
        (documents / name).write_bytes(make_small_pdf(sentences=[f"The file {name} describes sparse attention."]))
    (documents / "notes.txt").write_text("not a document")
    assert main(["ingest", str(documents / "indexed.pdf"), "--store", str(tmp_path / "store"), "--quiet"]) == 0
    status = LocalStatusStore(tmp_path / "store")
    status.mark_failed(document_ref_for(documents / "failed.pdf"), "InvalidDocumentError: damaged")
    return documents


def test_reconcile_folder_lists_missing_and_failed(folder, tmp_path):
    items = reconcile_folder(folder, LocalStatusStore(tmp_path / "store"))

    states = {Path(item.source).name: item.state for item in items}
    assert states == {"failed.pdf": "failed", "missing one.pdf": "new"}


def test_reconcile_folder_not_found(tmp_path):
    with pytest.raises(ConfigurationError, match="not found"):
        reconcile_folder(tmp_path / "absent", LocalStatusStore(tmp_path / "store"))


def test_reconcile_cli_folder_start_reingests(folder, tmp_path, capsys):
    store = str(tmp_path / "store")

    code = main(["reconcile", str(folder), "--store", store, "--start"])

    output = capsys.readouterr().out
    assert code == 0
    assert "failed.pdf (InvalidDocumentError: damaged): ingested" in output
    assert "missing one.pdf: ingested" in output
    status = LocalStatusStore(tmp_path / "store")
    assert status.get(document_ref_for(folder / "failed.pdf").document_id).status == "indexed"
    assert status.get(document_ref_for(folder / "missing one.pdf").document_id).status == "indexed"
    assert main(["reconcile", str(folder), "--store", store]) == 0
    assert "0 documents without a status or with a failed status" in capsys.readouterr().out
