"""The real statemachine/backfill.asl.json: a Distributed Map over a bucket prefix, run by moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from moto import mock_aws

from lambda_harness import (
    BUCKET,
    ROLE_ARN,
    AwsApp,
    aws_environment,
    create_app,
    function_arn,
    wait_for_execution,
)
from ragagent.models import DocumentRef
from test_state_machine import make_small_pdf

BACKFILL_PATH = Path(__file__).resolve().parent.parent / "statemachine" / "backfill.asl.json"
PDF_KEYS = [
    "documents/annual report 2024.pdf",
    "documents/Größenordnung – 東京 é.pdf",
    "documents/smith, jones (2021) c++.PDF",
]
NOT_A_PDF_KEY = "documents/readme.txt"


def load_backfill_definition() -> dict:
    """Apply the DefinitionSubstitutions that template.yaml sets for the backfill state machine."""
    text = BACKFILL_PATH.read_text()
    text = text.replace("${BackfillConcurrency}", "2")
    text = text.replace("${StartIngestionFunctionArn}", function_arn("StartIngestion"))
    assert "${" not in text, "a placeholder in the definition has no substitution"
    definition = json.loads(text)
    # NOTE: moto 5.2.5's ASL lexer reads an integer ToleratedFailurePercentage as a
    # syntax error and ignores the field when it runs; a float parses.
    map_state = definition["States"]["StartIngestions"]
    map_state["ToleratedFailurePercentage"] = float(map_state["ToleratedFailurePercentage"])
    return definition


@pytest.fixture
def app(tmp_path, monkeypatch):
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        aws_environment(monkeypatch, tmp_path / "store", batch_size=2)
        application = create_app(tmp_path / "store")
        application.bridge.handlers["StartIngestion"] = application.modules["start_ingestion"].handler
        yield application
        application.bridge.uninstall()


@pytest.fixture
def backfill_arn(app: AwsApp) -> str:
    return app.stepfunctions.create_state_machine(
        name="ragagent-backfill",
        definition=json.dumps(load_backfill_definition()),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]


def run_backfill(app: AwsApp, backfill_arn: str, name: str = "backfill-1") -> dict:
    """Run the backfill, then wait for every ingestion execution it started."""
    # moto 5.2.5 names every unnamed execution "None", so a second unnamed one would collide.
    started = app.stepfunctions.start_execution(
        stateMachineArn=backfill_arn, name=name, input=json.dumps({"bucket": BUCKET, "prefix": "documents/"})
    )
    description = wait_for_execution(app.stepfunctions, started["executionArn"])
    for execution in ingest_executions(app):
        wait_for_execution(app.stepfunctions, execution["executionArn"])
    return description


def ingest_executions(app: AwsApp) -> list[dict]:
    return app.stepfunctions.list_executions(stateMachineArn=app.state_machine_arn)["executions"]


def document_id(key: str) -> str:
    return DocumentRef.from_uri(f"s3://{BUCKET}/{key}", key.rsplit("/", 1)[-1]).document_id


def chunk_count(app: AwsApp, key: str) -> int:
    return len(app.modules["index_document"].services.store.document_chunks(document_id(key)))


def upload_documents(app: AwsApp) -> None:
    for number, key in enumerate(PDF_KEYS):
        app.s3.put_object(Bucket=BUCKET, Key=key, Body=make_small_pdf(sentences=[f"Document {number} covers topic {number}."]))
    app.s3.put_object(Bucket=BUCKET, Key=NOT_A_PDF_KEY, Body=b"not a document")


def test_state_machine_backfill_starts_each_pdf_once(app: AwsApp, backfill_arn: str):
    upload_documents(app)

    description = run_backfill(app, backfill_arn)

    assert description["status"] == "SUCCEEDED"
    assert app.bridge.count("StartIngestion") == len(PDF_KEYS) + 1
    executions = ingest_executions(app)
    assert len(executions) == len(PDF_KEYS)
    assert len({execution["name"] for execution in executions}) == len(PDF_KEYS)
    assert all(execution["status"] == "SUCCEEDED" for execution in executions)
    for key in PDF_KEYS:
        status = app.status(document_id(key))
        assert status is not None, key
        assert status["status"] == "indexed", key
        assert status["source_uri"] == f"s3://{BUCKET}/{key}"
        assert chunk_count(app, key) == int(status["chunk_count"]), key
    assert app.status(document_id(NOT_A_PDF_KEY)) is None
    items = [payload for task, payload in app.bridge.calls if task == "StartIngestion"]
    assert sorted(item["object"]["Key"] for item in items) == sorted([*PDF_KEYS, NOT_A_PDF_KEY])


def test_state_machine_backfill_twice_adds_nothing(app: AwsApp, backfill_arn: str):
    upload_documents(app)
    run_backfill(app, backfill_arn)
    chunks_before = {key: chunk_count(app, key) for key in PDF_KEYS}

    second = run_backfill(app, backfill_arn, name="backfill-2")

    assert second["status"] == "SUCCEEDED"
    assert app.bridge.count("StartIngestion") == 2 * (len(PDF_KEYS) + 1)
    assert len(ingest_executions(app)) == len(PDF_KEYS)
    assert app.bridge.count("IndexDocument") == len(PDF_KEYS)
    for key in PDF_KEYS:
        assert chunk_count(app, key) == chunks_before[key], key
        assert app.status(document_id(key))["status"] == "indexed", key
