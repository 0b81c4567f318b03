"""Upload to answer: a real PDF through S3, EventBridge, the state machine and the query API, in moto."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from moto import mock_aws

from lambda_harness import (
    MAX_STATE_PAYLOAD_BYTES,
    AwsApp,
    FakeLambdaContext,
    aws_environment,
    create_app,
    history,
    state_payloads,
)
from ragagent.aws.keys import object_events
from ragagent.factory import build_describer, build_embedder, build_parser, open_store
from ragagent.ingest import LocalIngestor
from ragagent.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
KIMI_PDF = REPO_ROOT / "documents" / "paper_kimi_linear_technical_report.pdf"
ROTATED_PDF = REPO_ROOT / "documents" / "rotated_nics_background_checks_table.pdf"
# A key with a space, a plus sign and non-ASCII characters, as a user might upload it.
UPLOAD_KEY = "documents/Kimi Linear+report – Größe.pdf"


@pytest.fixture
def app(tmp_path, monkeypatch):
    aws_environment(monkeypatch, tmp_path / "store", batch_size=8)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        application = create_app(tmp_path / "store")
        yield application
        application.bridge.uninstall()


def query_event(question: str, document_ids: list[str] | None = None) -> dict:
    body = {"question": question}
    if document_ids is not None:
        body["document_ids"] = document_ids
    return {
        "version": "2.0",
        "routeKey": "POST /query",
        "rawPath": "/query",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/query"}, "stage": "$default"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def page_text(pdf: Path, page: int) -> str:
    import pypdf

    return pypdf.PdfReader(pdf).pages[page - 1].extract_text()


def states_total_parameters(text: str) -> bool:
    """Tell whether a page states the model's 48B total parameters (page 1 writes "48B", page 9 "48 billion")."""
    return "48B total" in text or "48 billion total" in text


@pytest.mark.slow
def test_state_machine_upload_to_answer(app: AwsApp):
    started = time.monotonic()
    event = app.put_pdf(UPLOAD_KEY, KIMI_PDF.read_bytes())
    document_id = next(object_events(event)).document().document_id

    description = app.ingest(event, timeout=900)
    ingest_seconds = time.monotonic() - started

    assert description["status"] == "SUCCEEDED", description
    assert app.bridge.count("OcrBatch") == 4, "28 pages in batches of 8"
    for event_type, payload in state_payloads(history(app.stepfunctions, description["executionArn"])):
        assert len(payload.encode("utf-8")) < MAX_STATE_PAYLOAD_BYTES, event_type

    query = app.modules["query_api"].handler(
        query_event("How many total parameters does the pretrained Kimi Linear model have?", [document_id]),
        FakeLambdaContext("QueryApi", timeout_seconds=29),
    )

    assert query["statusCode"] == 200, query["body"]
    answer = json.loads(query["body"])
    assert "48B" in answer["answer"] or "48 billion" in answer["answer"], answer["answer"]
    cited_pages = {citation["page"] for citation in answer["citations"]}
    assert any(states_total_parameters(page_text(KIMI_PDF, page)) for page in cited_pages), cited_pages
    assert all(citation["document"] == "Kimi Linear+report – Größe.pdf" for citation in answer["citations"])
    print(f"ingested 28 pages in {ingest_seconds:.1f} s")


def test_state_machine_matches_local_run(app: AwsApp, tmp_path):
    event = app.put_pdf("documents/rotated_nics_background_checks_table.pdf", ROTATED_PDF.read_bytes())
    document_id = next(object_events(event)).document().document_id
    assert app.ingest(event)["status"] == "SUCCEEDED"
    moto_chunks = app.modules["index_document"].services.store.document_chunks(document_id)

    local_dir = tmp_path / "local-store"
    settings = Settings(store=str(local_dir), batch_size=8)
    embedder = build_embedder(settings)
    store = open_store(settings, embedder)
    ingestor = LocalIngestor(local_dir, build_parser(settings), build_describer(settings), embedder, store, batch_size=8)
    result = ingestor.ingest_file(ROTATED_PDF)
    local_chunks = store.document_chunks(result.document_id)

    assert result.ok, result.error
    assert [chunk.text for chunk in moto_chunks] == [chunk.text for chunk in local_chunks]
    assert [chunk.pages for chunk in moto_chunks] == [chunk.pages for chunk in local_chunks]
    assert len(moto_chunks) > 0
