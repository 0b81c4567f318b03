"""The describe step sends each table's page, rendered from its page batch, through a real bedrock-runtime client and botocore's Stubber."""

from __future__ import annotations

import base64
import copy
import io
import shutil
from pathlib import Path

import boto3
import numpy as np
import pypdfium2
import pytest
from botocore.stub import Stubber
from PIL import Image

from ragagent.artifacts import LocalArtifactStore
from ragagent.describe.llm import PAGE_RENDER_DPI, LLMDescriber
from ragagent.describe.offline import OfflineDescriber
from ragagent.images import BEDROCK_IMAGE_BASE64_LIMIT
from ragagent.models import DocumentPage, DocumentRef, ParsedDocument
from ragagent.ocr import OCRImageObject, OCRTableObject
from ragagent.pipeline import steps
from ragagent.providers.bedrock import build_bedrock_chat_model
from ragagent.settings import Settings

REGION = "us-east-1"
PAPER = Path(__file__).parent.parent / "documents" / "paper_kimi_linear_technical_report.pdf"
PAPER_PAGES = 28
BATCH_SIZE = 8
RUN_ID = "run0001"
# Pages of the Kimi Linear report that print a table caption.
TABLE_PAGES = {"batch 0": 8, "batch 1": 11, "last batch": 28}


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def runtime():
    """A real bedrock-runtime client whose responses come from a Stubber, with each call's parameters recorded."""
    client = boto3.client("bedrock-runtime", region_name=REGION)
    calls: list[dict] = []
    client.meta.events.register("provide-client-params.bedrock-runtime.*", lambda params, **kwargs: calls.append(copy.deepcopy(params)))
    stubber = Stubber(client)
    stubber.activate()
    yield client, stubber, calls
    stubber.deactivate()


@pytest.fixture
def split_run(tmp_path):
    """The Kimi Linear report split into page batches of 8 in a local artifact store."""
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    document = DocumentRef.from_uri(PAPER.as_uri(), PAPER.name)
    split = steps.split_step(PAPER.read_bytes(), document, RUN_ID, artifacts, BATCH_SIZE, None)
    return artifacts, document, split


def describer(client) -> LLMDescriber:
    settings = Settings(describer="bedrock", aws_region=REGION, provider_max_retries=0)
    return LLMDescriber(build_bedrock_chat_model(settings, client), "bedrock")


def table_on(page_number: int) -> OCRTableObject:
    return OCRTableObject(id=f"tbl-{page_number}.html", content=f"<table><tr><th>Page</th></tr><tr><td>{page_number}</td></tr></table>")


def store_parsed(artifacts, document, table_pages, figures: dict[int, OCRImageObject] | None = None) -> str:
    figures = figures or {}
    pages = [
        DocumentPage(
            number=number,
            markdown=f"Text of page {number}.",
            tables=[table_on(number)] if number in table_pages else [],
            images=[figures[number]] if number in figures else [],
        )
        for number in range(1, PAPER_PAGES + 1)
    ]
    parsed = ParsedDocument(document=document, pages=pages)
    return artifacts.put(f"{steps.run_prefix(document, RUN_ID)}/document.json", parsed.model_dump_json().encode())


def summary_reply(title: str) -> dict:
    tool_use = {"toolUseId": "tooluse_1", "name": "ElementSummary", "input": {"title": title, "description": f"{title}: every value."}}
    return {
        "output": {"message": {"role": "assistant", "content": [{"toolUse": tool_use}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 1500, "outputTokens": 80, "totalTokens": 1580},
        "metrics": {"latencyMs": 900},
    }


def render_page(page_number: int) -> np.ndarray:
    pdf = pypdfium2.PdfDocument(PAPER.read_bytes())
    try:
        return np.asarray(pdf[page_number - 1].render(scale=PAGE_RENDER_DPI / 72).to_pil().convert("RGB"), dtype=np.int16)
    finally:
        pdf.close()


def closest_page(image_bytes: bytes, candidates: list[int]) -> int:
    """Return the page of the whole PDF whose render differs least from the sent image."""
    sent = np.asarray(Image.open(io.BytesIO(image_bytes)).convert("RGB"), dtype=np.int16)
    differences = {}
    for page_number in candidates:
        rendered = render_page(page_number)
        differences[page_number] = float(np.abs(rendered - sent).mean()) if rendered.shape == sent.shape else float("inf")
    return min(differences, key=differences.get)


def sent_image(call: dict) -> bytes:
    images = [block["image"] for block in call["messages"][0]["content"] if "image" in block]
    assert len(images) == 1
    return images[0]["source"]["bytes"]


def test_bedrock_describe_step_sends_table_page(runtime, split_run):
    client, stubber, calls = runtime
    artifacts, document, _ = split_run
    page = TABLE_PAGES["batch 1"]
    parsed_key = store_parsed(artifacts, document, {page})
    stubber.add_response("converse", summary_reply("Table 3"))

    output = steps.describe_step(document, RUN_ID, parsed_key, artifacts, describer(client))

    assert len(calls) == 1
    assert f"<td>{page}</td>" in calls[0]["messages"][0]["content"][0]["text"]
    assert closest_page(sent_image(calls[0]), [page - 1, page, page + 1]) == page
    described = steps.read_document(output.key, artifacts)
    assert described.descriptions[f"tbl-{page}.html"].title == "Table 3"
    assert output.table_count == 1


def test_bedrock_describe_step_uses_passed_batches(runtime, split_run):
    client, stubber, calls = runtime
    artifacts, document, split = split_run
    pages = [TABLE_PAGES["batch 0"], TABLE_PAGES["last batch"]]
    parsed_key = store_parsed(artifacts, document, set(pages))
    for page in pages:
        stubber.add_response("converse", summary_reply(f"Table on page {page}"))

    steps.describe_step(document, RUN_ID, parsed_key, artifacts, describer(client), batches=split.batches)

    assert len(calls) == 2
    assert closest_page(sent_image(calls[0]), [7, 8, 9]) == 8
    assert closest_page(sent_image(calls[1]), [26, 27, 28]) == 28


def test_bedrock_describe_step_page_outside_batches(runtime, split_run):
    client, stubber, calls = runtime
    artifacts, document, split = split_run
    page = TABLE_PAGES["batch 1"]
    parsed_key = store_parsed(artifacts, document, {page})
    stubber.add_response("converse", summary_reply("Table 3"))
    batches_before_page = [batch for batch in split.batches if batch.first_page + batch.page_count <= page]

    steps.describe_step(document, RUN_ID, parsed_key, artifacts, describer(client), batches=batches_before_page)

    content = calls[0]["messages"][0]["content"]
    assert len(content) == 1
    assert "image" not in content[0]


def test_offline_describe_step_reads_no_batches(split_run, tmp_path):
    artifacts, document, _ = split_run
    parsed_key = store_parsed(artifacts, document, {TABLE_PAGES["batch 1"]})
    shutil.rmtree(tmp_path / "artifacts" / steps.batch_key_prefix(document, RUN_ID))

    output = steps.describe_step(document, RUN_ID, parsed_key, artifacts, OfflineDescriber())

    assert output.table_count == 1


def noise_png(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_bedrock_describe_step_fits_large_figure(runtime, split_run):
    client, stubber, calls = runtime
    artifacts, document, _ = split_run
    png = noise_png(1600, 1200)
    figure = OCRImageObject(
        id="img-0.png",
        top_left_x=0,
        top_left_y=0,
        bottom_right_x=1600,
        bottom_right_y=1200,
        image_base64="data:image/png;base64," + base64.b64encode(png).decode(),
    )
    parsed_key = store_parsed(artifacts, document, set(), figures={3: figure})
    stubber.add_response("converse", summary_reply("Noise"))

    steps.describe_step(document, RUN_ID, parsed_key, artifacts, describer(client))

    sent = sent_image(calls[0])
    assert len(base64.b64encode(png)) > BEDROCK_IMAGE_BASE64_LIMIT
    assert len(base64.b64encode(sent)) <= BEDROCK_IMAGE_BASE64_LIMIT
    assert Image.open(io.BytesIO(sent)).width < 1600
