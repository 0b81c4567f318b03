"""The Mistral OCR parser, run with the real mistralai client against a loopback stand-in of the API."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from http_stand_in import StandInServer
from pypdf import PdfReader, PdfWriter

from ragagent.errors import ConfigurationError, ProviderError, ProviderTransientError
from ragagent.factory import build_parser
from ragagent.models import DocumentRef, PageBatch
from ragagent.ocr import OCRResponse
from ragagent.parsing.mistral import MistralOCRParser
from ragagent.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures" / "mistral_ocr"
PAPER = Path(__file__).parent.parent / "documents" / "paper_kimi_linear_technical_report.pdf"


def fixture_json(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
def server():
    stand_in = StandInServer().start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def batch() -> PageBatch:
    reader = PdfReader(PAPER)
    writer = PdfWriter()
    for page in reader.pages[:2]:
        writer.add_page(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    document = DocumentRef.from_uri(PAPER.resolve().as_uri(), PAPER.name)
    return PageBatch(document=document, batch_index=0, first_page=1, page_count=2, pdf=buffer.getvalue())


def make_parser(server: StandInServer, max_retries: int = 2) -> MistralOCRParser:
    settings = Settings(
        parser="mistral",
        mistral_api_key="test-key",
        mistral_server_url=server.url,
        provider_max_retries=max_retries,
        provider_retry_backoff=0.001,
        provider_timeout=5,
    )
    parser = build_parser(settings)
    assert isinstance(parser, MistralOCRParser)
    return parser


def test_mistral_client_import():
    from mistralai.client import Mistral

    assert Mistral.__name__ == "Mistral"


def test_mistral_success_parses_response(server, batch):
    server.queue_json(200, fixture_json("batch-0-pages-1-2.json"))

    response = make_parser(server).parse(batch)

    assert isinstance(response, OCRResponse)
    assert [page.index for page in response.pages] == [0, 1]
    assert response.pages[0].images[0].id == "img-0.jpeg"
    assert json.loads(response.pages[0].images[0].image_annotation)["image_type"] == "graph"
    assert response.pages[1].tables[0].id == "tbl-0.html"
    assert response.pages[1].tables[0].format == "html"
    assert "<table>" in response.pages[1].tables[0].content
    assert response.pages[0].dimensions.dpi == 200
    assert json.loads(response.document_annotation)["authors"][0] == "Yifan Bai"
    assert response.usage_info.pages_processed == 2


def test_mistral_success_sends_request(server, batch):
    server.queue_json(200, fixture_json("batch-0-pages-1-2.json"))

    make_parser(server).parse(batch)

    assert len(server.requests) == 1
    request = server.requests[0]
    body = request.json()
    assert request.path == "/v1/ocr"
    assert request.headers["authorization"] == "Bearer test-key"
    assert body["model"] == "mistral-ocr-latest"
    assert body["document"]["type"] == "document_url"
    prefix = "data:application/pdf;base64,"
    assert body["document"]["document_url"].startswith(prefix)
    assert base64.b64decode(body["document"]["document_url"][len(prefix) :]) == batch.pdf
    assert body["table_format"] == "html"
    assert body["include_image_base64"] is True


def test_mistral_success_sends_annotation_formats(server, batch):
    server.queue_json(200, fixture_json("batch-0-pages-1-2.json"))

    make_parser(server).parse(batch)

    body = server.requests[0].json()
    bbox = body["bbox_annotation_format"]
    assert bbox["type"] == "json_schema"
    assert bbox["json_schema"]["strict"] is True
    image_schema = bbox["json_schema"]["schema"]
    assert image_schema["properties"]["image_type"]["enum"] == ["graph", "text", "table", "image"]
    assert set(image_schema["required"]) == {"image_type", "description"}
    assert image_schema["additionalProperties"] is False
    document_schema = body["document_annotation_format"]["json_schema"]["schema"]
    assert set(document_schema["properties"]) == {"summary", "authors"}
    assert document_schema["properties"]["authors"]["type"] == "array"


def test_mistral_429_then_success_retries(server, batch):
    server.queue_json(429, {"message": "Requests rate limit exceeded"})
    server.queue_json(200, fixture_json("batch-1-pages-9-10.json"))

    response = make_parser(server).parse(batch)

    assert len(server.requests) == 2
    assert len(response.pages) == 2


def test_mistral_500_raises_transient_after_retries(server, batch):
    server.queue_json(500, {"message": "Internal server error"})

    with pytest.raises(ProviderTransientError, match="HTTP 500"):
        make_parser(server, max_retries=2).parse(batch)

    assert len(server.requests) == 3


def test_mistral_no_retries_in_lambda_mode(server, batch):
    server.queue_json(503, {"message": "Service unavailable"})

    with pytest.raises(ProviderTransientError):
        make_parser(server, max_retries=0).parse(batch)

    assert len(server.requests) == 1


def test_mistral_malformed_body_raises(server, batch):
    server.queue_raw(200, b'{"pages": [{"index": "zero"}]')

    with pytest.raises(ProviderError, match="malformed"):
        make_parser(server).parse(batch)

    assert len(server.requests) == 1


def test_mistral_wrong_page_count_raises(server, batch):
    payload = fixture_json("batch-0-pages-1-2.json")
    payload["pages"] = payload["pages"][:1]
    server.queue_json(200, payload)

    with pytest.raises(ProviderError, match="returned 1 pages for batch 0 of 2 pages"):
        make_parser(server).parse(batch)


def test_mistral_401_names_key_setting(server, batch):
    server.queue_json(401, {"message": "Unauthorized"})

    with pytest.raises(ProviderError, match="RAGAGENT_MISTRAL_API_KEY") as caught:
        make_parser(server).parse(batch)

    assert not isinstance(caught.value, ProviderTransientError)
    assert len(server.requests) == 1


def test_mistral_400_raises_provider_error(server, batch):
    server.queue_json(400, {"message": "Invalid document"})

    with pytest.raises(ProviderError, match="HTTP 400.*Invalid document"):
        make_parser(server).parse(batch)


def test_mistral_timeout_raises_transient(batch):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    settings = Settings(
        parser="mistral",
        mistral_api_key="test-key",
        mistral_server_url=f"http://127.0.0.1:{port}",
        provider_max_retries=0,
        provider_timeout=0.3,
    )
    try:
        with pytest.raises(ProviderTransientError, match="timed out"):
            build_parser(settings).parse(batch)
    finally:
        listener.close()


def test_mistral_missing_key_names_setting():
    with pytest.raises(ConfigurationError, match="RAGAGENT_MISTRAL_API_KEY"):
        build_parser(Settings(parser="mistral"))
