"""Bedrock chat components, describer and Titan embedder through the real bedrock-runtime client and botocore's Stubber."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from PIL import Image

from ragagent.agent.llm import LLMGenerator, LLMGrader, LLMRewriter
from ragagent.describe.llm import LLMDescriber
from ragagent.embedding.bedrock import BedrockEmbedder
from ragagent.errors import ConfigurationError, ProviderError, ProviderTransientError
from ragagent.factory import build_chat_components, build_describer, build_embedder
from ragagent.models import Chunk, DocumentPage, ScoredChunk
from ragagent.ocr import OCRImageObject, OCRTableObject
from ragagent.providers.bedrock import build_bedrock_chat_model
from ragagent.settings import Settings

MODEL_ID = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
REGION = "us-east-1"
PAPER = Path(__file__).parent.parent / "documents" / "paper_kimi_linear_technical_report.pdf"


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
    client.meta.events.register(
        "provide-client-params.bedrock-runtime.*",
        lambda params, **kwargs: calls.append(copy.deepcopy(params)),
    )
    stubber = Stubber(client)
    stubber.activate()
    yield client, stubber, calls
    stubber.deactivate()


def settings(**overrides) -> Settings:
    values = {"chat": "bedrock", "aws_region": REGION, "provider_max_retries": 0, "bedrock_chat_model": MODEL_ID}
    return Settings(**{**values, **overrides})


def converse_tool_reply(name: str, arguments: dict) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_1", "name": name, "input": arguments}}]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 812, "outputTokens": 96, "totalTokens": 908},
        "metrics": {"latencyMs": 1450},
    }


def converse_text_reply(text: str) -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 300, "outputTokens": 12, "totalTokens": 312},
        "metrics": {"latencyMs": 500},
    }


def make_chunk(chunk_id: str, text: str, page: int, labels: dict[str, str] | None = None) -> ScoredChunk:
    chunk = Chunk(
        chunk_id=chunk_id,
        document_id="doc",
        source="kimi_linear.pdf",
        pages=[page],
        section=["3 Experiments"],
        table_ids=list(labels or {}),
        labels=labels or {},
        position=0,
        text=text,
    )
    return ScoredChunk(chunk=chunk, score=0.5)


CHUNKS = [
    make_chunk("doc-1", "Kimi Linear uses a 3:1 ratio of KDA layers to MLA layers.", 4),
    make_chunk("doc-2", "Training used 5.7 trillion tokens.", 7, {"tbl-2.html": "Table 2"}),
    make_chunk("doc-3", "Related work on state space models.", 2),
]


def test_bedrock_grader_one_call_for_all(runtime):
    client, stubber, calls = runtime
    grades = {
        "grades": [
            {"chunk_id": "doc-1", "relevant": True, "score": 0.9, "reason": "States the layer ratio."},
            {"chunk_id": "doc-2", "relevant": False, "score": 1.4, "reason": "About training data."},
        ]
    }
    stubber.add_response("converse", converse_tool_reply("PassageGrades", grades))
    grader = LLMGrader(build_bedrock_chat_model(settings(), client), "bedrock")

    result = grader.grade("What is the ratio of KDA to MLA layers?", CHUNKS)

    assert len(calls) == 1
    request = calls[0]
    assert request["modelId"] == MODEL_ID
    assert request["toolConfig"]["tools"][0]["toolSpec"]["name"] == "PassageGrades"
    assert request["toolConfig"]["toolChoice"] == {"tool": {"name": "PassageGrades"}}
    user_text = request["messages"][0]["content"][0]["text"]
    assert all(f'chunk_id="{chunk_id}"' in user_text for chunk_id in ("doc-1", "doc-2", "doc-3"))
    assert "grade" in request["system"][0]["text"].lower()
    assert [grade.chunk_id for grade in result] == ["doc-1", "doc-2", "doc-3"]
    assert result[0].relevant is True
    assert result[1].score == 1.0
    assert result[2].relevant is False
    assert result[2].reason == "not graded by the model"


def test_bedrock_generator_maps_citations(runtime):
    client, stubber, calls = runtime
    reply = {
        "answer": "Kimi Linear interleaves KDA and MLA layers at 3:1 [doc-1] and trained on 5.7T tokens, see Table 2 [doc-2].",
        "cited_chunk_ids": ["doc-1", "doc-2", "doc-99"],
        "answerable": True,
    }
    stubber.add_response("converse", converse_tool_reply("GeneratedAnswer", reply))
    generator = LLMGenerator(build_bedrock_chat_model(settings(), client), "bedrock")

    answer = generator.generate("How is Kimi Linear built?", CHUNKS)

    assert answer.grounded is True
    assert [citation.chunk_id for citation in answer.citations] == ["doc-1", "doc-2"]
    assert answer.citations[0].page == 4
    assert answer.citations[0].document == "kimi_linear.pdf"
    assert answer.citations[1].figure_or_table == "Table 2"
    assert "only" in calls[0]["system"][0]["text"].lower()


def test_bedrock_generator_unanswerable_not_grounded(runtime):
    client, stubber, _ = runtime
    reply = {"answer": "The documents do not contain the answer.", "cited_chunk_ids": [], "answerable": False}
    stubber.add_response("converse", converse_tool_reply("GeneratedAnswer", reply))

    answer = LLMGenerator(build_bedrock_chat_model(settings(), client)).generate("Who won in 1998?", CHUNKS)

    assert answer.grounded is False
    assert answer.citations == []


def test_bedrock_rewriter_returns_first_line(runtime):
    client, stubber, calls = runtime
    stubber.add_response("converse", converse_text_reply('"Kimi Delta Attention KDA MLA hybrid layer ratio"\n'))

    query = LLMRewriter(build_bedrock_chat_model(settings(), client)).rewrite("ratio of layers?", "ratio", CHUNKS[2:])

    assert query == "Kimi Delta Attention KDA MLA hybrid layer ratio"
    assert "toolConfig" not in calls[0]


def test_bedrock_throttling_raises_transient(runtime):
    client, stubber, _ = runtime
    stubber.add_client_error("converse", service_error_code="ThrottlingException", service_message="Too many requests", http_status_code=429)
    grader = LLMGrader(build_bedrock_chat_model(settings(), client), "bedrock")

    with pytest.raises(ProviderTransientError, match="ThrottlingException"):
        grader.grade("question", CHUNKS)


def test_bedrock_validation_error_not_transient(runtime):
    client, stubber, _ = runtime
    stubber.add_client_error("converse", service_error_code="ValidationException", service_message="Malformed input", http_status_code=400)
    grader = LLMGrader(build_bedrock_chat_model(settings(), client), "bedrock")

    with pytest.raises(ProviderError, match="ValidationException") as caught:
        grader.grade("question", CHUNKS)

    assert not isinstance(caught.value, ProviderTransientError)


def test_bedrock_text_instead_of_tool_raises(runtime):
    client, stubber, _ = runtime
    stubber.add_response("converse", converse_text_reply("I think they are all relevant."))
    grader = LLMGrader(build_bedrock_chat_model(settings(), client), "bedrock")

    with pytest.raises(ProviderError, match="PassageGrades"):
        grader.grade("question", CHUNKS)


def page_pdf() -> bytes:
    return PAPER.read_bytes()


TABLE = OCRTableObject(id="tbl-0.html", content="<table><tr><th>Model</th><th>MMLU</th></tr><tr><td>Kimi Linear</td><td>73.8</td></tr></table>")
PAGE = DocumentPage(number=2, markdown="[tbl-0.html](tbl-0.html)\n\nTable 1: Results on MMLU.", tables=[TABLE])


def test_bedrock_describer_sends_page_image(runtime):
    client, stubber, calls = runtime
    stubber.add_response("converse", converse_tool_reply("ElementSummary", {"title": "MMLU results", "description": "Kimi Linear scores 73.8 on MMLU."}))
    describer = LLMDescriber(build_bedrock_chat_model(settings(), client), "bedrock").for_document(page_pdf())

    description = describer.describe_table(TABLE, PAGE, "Table 1: Results on MMLU.")

    content = calls[0]["messages"][0]["content"]
    assert "<td>73.8</td>" in content[0]["text"]
    image = content[1]["image"]
    assert image["format"] == "png"
    rendered = Image.open(io.BytesIO(image["source"]["bytes"]))
    assert rendered.width > 1000
    assert description.title == "MMLU results"
    assert description.label == "Table 1"
    assert description.kind == "table"


def test_bedrock_describer_html_only_without_pdf(runtime):
    client, stubber, calls = runtime
    stubber.add_response("converse", converse_tool_reply("ElementSummary", {"title": "MMLU", "description": "73.8"}))

    LLMDescriber(build_bedrock_chat_model(settings(), client), "bedrock").describe_table(TABLE, PAGE, None)

    content = calls[0]["messages"][0]["content"]
    assert len(content) == 1
    assert "image" not in content[0]


def test_bedrock_describer_sends_figure_image(runtime):
    client, stubber, calls = runtime
    png = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(png, format="PNG")
    image = OCRImageObject(
        id="img-0.png", top_left_x=0, top_left_y=0, bottom_right_x=40, bottom_right_y=30, image_base64="data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    )
    stubber.add_response("converse", converse_tool_reply("ElementSummary", {"title": "Blank chart", "description": "An empty plot."}))

    description = LLMDescriber(build_bedrock_chat_model(settings(), client)).describe_image(image, PAGE, "Figure 3: Speedup.")

    sent = calls[0]["messages"][0]["content"][1]["image"]["source"]["bytes"]
    assert sent == png.getvalue()
    assert description.label == "Figure 3"


def test_bedrock_describer_fallback_on_throttling(runtime):
    from ragagent.describe.offline import OfflineDescriber

    client, stubber, _ = runtime
    stubber.add_client_error("converse", service_error_code="ThrottlingException", http_status_code=429)
    describer = LLMDescriber(build_bedrock_chat_model(settings(), client), "bedrock", fallback=OfflineDescriber())

    description = describer.describe_table(TABLE, PAGE, "Table 1: Results on MMLU.")

    assert "73.8" in description.description
    assert description.element_id == "tbl-0.html"


def titan_reply(vector: list[float]) -> dict:
    body = json.dumps({"embedding": vector, "inputTextTokenCount": 7}).encode()
    return {"body": StreamingBody(io.BytesIO(body), len(body)), "contentType": "application/json"}


def test_bedrock_embedder_request_and_vectors(runtime):
    client, stubber, calls = runtime
    stubber.add_response("invoke_model", titan_reply([3.0, 4.0] + [0.0] * 254))
    stubber.add_response("invoke_model", titan_reply([0.0, 2.0] + [0.0] * 254))
    embedder = BedrockEmbedder(client, dimension=256)

    vectors = embedder.embed_documents(["first chunk", "second chunk"])

    assert calls[0]["modelId"] == "amazon.titan-embed-text-v2:0"
    body = json.loads(calls[0]["body"])
    assert body == {"inputText": "first chunk", "dimensions": 256, "normalize": True}
    assert vectors.shape == (2, 256)
    assert vectors.dtype == np.float32
    assert vectors[0][:2] == pytest.approx([0.6, 0.8])
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0)
    assert embedder.embedder_id == "bedrock:amazon.titan-embed-text-v2:0:256"
    assert embedder.max_tokens == 8192


def test_bedrock_embedder_wrong_dimension_raises(runtime):
    client, stubber, _ = runtime
    stubber.add_response("invoke_model", titan_reply([1.0] * 512))

    with pytest.raises(ProviderError, match="length \\[512\\], expected 256"):
        BedrockEmbedder(client, dimension=256).embed_query("query")


def test_bedrock_embedder_throttling_raises_transient(runtime):
    client, stubber, _ = runtime
    stubber.add_client_error("invoke_model", service_error_code="ThrottlingException", http_status_code=429)

    with pytest.raises(ProviderTransientError):
        BedrockEmbedder(client, dimension=256).embed_query("query")


def test_bedrock_embedder_invalid_dimension():
    with pytest.raises(ConfigurationError, match="RAGAGENT_EMBEDDING_DIMENSION=300"):
        build_embedder(settings(embedder="bedrock", embedding_dimension=300))


def test_bedrock_factory_builds_components():
    grader, rewriter, generator = build_chat_components(settings())

    assert isinstance(grader, LLMGrader)
    assert isinstance(rewriter, LLMRewriter)
    assert isinstance(generator, LLMGenerator)
    assert grader.model.model_id == MODEL_ID
    assert isinstance(build_describer(settings(describer="bedrock")), LLMDescriber)
    assert build_embedder(settings(embedder="bedrock", embedding_dimension=512)).embedder_id.endswith(":512")
