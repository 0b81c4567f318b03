"""The HTTP API through API Gateway v2 events and through the local server, on a real local store."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ragagent.api import MAX_BODY_BYTES, HttpApi
from ragagent.factory import build_describer, build_embedder, build_parser, open_store
from ragagent.ingest import LocalIngestor
from ragagent.server import build_server
from ragagent.settings import Settings
from ragagent.status import LocalStatusStore

REPO_ROOT = Path(__file__).resolve().parent.parent
ROTATED_PDF = REPO_ROOT / "documents" / "rotated_nics_background_checks_table.pdf"


@pytest.fixture(scope="module")
def indexed_store(tmp_path_factory) -> Path:
    """A local store with the NICS table PDF ingested by the real offline pipeline."""
    directory = tmp_path_factory.mktemp("store")
    settings = Settings(store=str(directory))
    embedder = build_embedder(settings)
    ingestor = LocalIngestor(
        directory,
        build_parser(settings),
        build_describer(settings),
        embedder,
        open_store(settings, embedder),
        status=LocalStatusStore(directory),
    )
    results = ingestor.ingest([ROTATED_PDF])
    assert results[0].ok, results[0].error
    return directory


@pytest.fixture
def api(indexed_store) -> HttpApi:
    settings = Settings(store=str(indexed_store))
    return HttpApi(settings, LocalStatusStore(indexed_store))


def http_event(method: str, path: str, body: str | bytes | None = None, base64_body: bool = False) -> dict:
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode() if base64_body else body.decode()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "body": body,
        "isBase64Encoded": base64_body,
    }


def call(api: HttpApi, method: str, path: str, body=None, remaining_ms: int | None = None, base64_body: bool = False) -> tuple[int, dict]:
    result = api.handle(http_event(method, path, body, base64_body), remaining_ms=remaining_ms)
    return result["statusCode"], json.loads(result["body"])


def test_api_query_answers_with_citation(api):
    status, body = call(api, "POST", "/query", json.dumps({"question": "How many handgun checks were there in Kentucky?"}))

    assert status == 200
    assert "12,155" in body["answer"], body
    assert body["citations"], body
    assert body["citations"][0]["document"] == "rotated_nics_background_checks_table.pdf"
    assert body["citations"][0]["page"] == 1
    assert set(body) >= {"answer", "citations", "grounded", "steps"}


def test_api_query_base64_body(api):
    status, _ = call(api, "POST", "/query", json.dumps({"question": "Kentucky permits"}).encode(), base64_body=True)

    assert status == 200


def test_api_query_missing_question(api):
    status, body = call(api, "POST", "/query", json.dumps({"top_k": 3}))

    assert status == 400
    assert "question" in body["message"]


def test_api_query_malformed_json(api):
    status, body = call(api, "POST", "/query", "{not json")

    assert status == 400
    assert "not valid JSON" in body["message"]


def test_api_query_bad_top_k(api):
    status, body = call(api, "POST", "/query", json.dumps({"question": "q", "top_k": 0}))

    assert status == 400
    assert "top_k" in body["message"]


def test_api_query_unknown_field(api):
    status, body = call(api, "POST", "/query", json.dumps({"question": "q", "topk": 3}))

    assert status == 400
    assert "topk" in body["message"]


def test_api_query_body_too_large(api):
    status, body = call(api, "POST", "/query", json.dumps({"question": "x" * (MAX_BODY_BYTES + 1)}))

    assert status == 413
    assert str(MAX_BODY_BYTES) in body["message"]


def test_api_query_unknown_document(api):
    status, body = call(api, "POST", "/query", json.dumps({"question": "q", "document_ids": ["00000000000000000000"]}))

    assert status == 404
    assert "00000000000000000000" in body["message"]


def test_api_query_deadline_passed(indexed_store):
    api = HttpApi(Settings(store=str(indexed_store)), LocalStatusStore(indexed_store), deadline_seconds=1e-9)

    status, body = call(api, "POST", "/query", json.dumps({"question": "Kentucky permits"}))

    assert status == 504
    assert "timed out" in body["message"]


def test_api_query_no_lambda_time_left(api):
    status, body = call(api, "POST", "/query", json.dumps({"question": "Kentucky permits"}), remaining_ms=1500)

    assert status == 504
    assert "function's own timeout" in body["message"]


def test_api_lists_documents(api):
    status, body = call(api, "GET", "/documents")

    assert status == 200
    assert [document["file_name"] for document in body["documents"]] == ["rotated_nics_background_checks_table.pdf"]
    assert body["documents"][0]["status"] == "indexed"
    assert "order_key" not in body["documents"][0]


def test_api_gets_document(api):
    document_id = call(api, "GET", "/documents")[1]["documents"][0]["document_id"]

    status, body = call(api, "GET", f"/documents/{document_id}")

    assert status == 200
    assert body["document_id"] == document_id
    assert body["chunk_count"] > 0


def test_api_unknown_document_404(api):
    status, body = call(api, "GET", "/documents/unknown-id")

    assert status == 404
    assert "unknown-id" in body["message"]


def test_api_unknown_route_404(api):
    status, _ = call(api, "GET", "/nothing")

    assert status == 404


def test_api_wrong_method_405(api):
    status, _ = call(api, "GET", "/query")

    assert status == 405


@pytest.fixture
def server(api):
    httpd = build_server(api, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def http_request(url: str, data: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_server_query(server):
    status, body = http_request(f"{server}/query", json.dumps({"question": "Kentucky permits"}).encode())

    assert status == 200
    assert body["citations"]


def test_server_documents(server):
    status, body = http_request(f"{server}/documents")

    assert status == 200
    assert len(body["documents"]) == 1


def test_server_missing_question(server):
    status, body = http_request(f"{server}/query", b"{}")

    assert status == 400
    assert "question" in body["message"]


def test_server_body_too_large(server):
    status, _ = http_request(f"{server}/query", b"x" * (MAX_BODY_BYTES + 10))

    assert status == 413


def test_server_binds_loopback_by_default(api):
    httpd = build_server(api, port=0)
    try:
        assert httpd.server_address[0] == "127.0.0.1"
    finally:
        httpd.server_close()
