"""The language-model components on an OpenAI-compatible API: the real ChatOpenAI client against a loopback stand-in."""

from __future__ import annotations

import base64
import io
import json

import pytest
from http_stand_in import StandInServer
from PIL import Image

from ragagent.agent.llm import LLMGenerator, LLMGrader, LLMRewriter
from ragagent.describe.llm import LLMDescriber
from ragagent.errors import ConfigurationError, ProviderError, ProviderTransientError
from ragagent.factory import build_chat_components, build_describer
from ragagent.models import Chunk, DocumentPage, ScoredChunk
from ragagent.ocr import OCRImageObject

MODEL = "qwen2.5:7b-instruct"


@pytest.fixture
def server():
    stand_in = StandInServer().start()
    yield stand_in
    stand_in.stop()


def settings(server: StandInServer, **overrides):
    from ragagent.settings import Settings

    values = {
        "chat": "openai",
        "describer": "openai",
        "openai_base_url": server.url + "/v1",
        "openai_model": MODEL,
        "openai_api_key": "sk-test",
        "provider_max_retries": 0,
        "provider_timeout": 5,
    }
    return Settings(**{**values, **overrides})


def completion(message: dict, finish_reason: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1764892800,
        "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 640, "completion_tokens": 80, "total_tokens": 720},
    }


def tool_completion(name: str, arguments: dict) -> dict:
    call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
    return completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")


def text_completion(text: str) -> dict:
    return completion({"role": "assistant", "content": text}, "stop")


CHUNKS = [
    ScoredChunk(
        chunk=Chunk(chunk_id="doc-1", document_id="doc", source="paper.pdf", pages=[3], position=0, text="The model reaches 73.8 on MMLU."),
        score=0.4,
    ),
    ScoredChunk(
        chunk=Chunk(chunk_id="doc-2", document_id="doc", source="paper.pdf", pages=[9], position=5, text="Acknowledgements."),
        score=0.1,
    ),
]


def test_openai_grader_request_and_grades(server):
    grades = {"grades": [{"chunk_id": "doc-1", "relevant": True, "score": 0.8, "reason": "Gives the score."}, {"chunk_id": "doc-2", "relevant": False, "score": 0.05, "reason": "Unrelated."}]}
    server.queue_json(200, tool_completion("PassageGrades", grades))
    grader, _, _ = build_chat_components(settings(server))

    result = grader.grade("What does the model score on MMLU?", CHUNKS)

    request = server.requests[0]
    body = request.json()
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert body["model"] == MODEL
    assert body["messages"][0]["role"] == "system"
    assert 'chunk_id="doc-2"' in body["messages"][1]["content"]
    assert body["tools"][0]["function"]["name"] == "PassageGrades"
    assert body["tool_choice"]["function"]["name"] == "PassageGrades"
    assert [grade.relevant for grade in result] == [True, False]
    assert result[0].score == 0.8


def test_openai_generator_grounded_answer(server):
    reply = {"answer": "It scores 73.8 on MMLU [doc-1].", "cited_chunk_ids": ["doc-1"], "answerable": True}
    server.queue_json(200, tool_completion("GeneratedAnswer", reply))
    _, _, generator = build_chat_components(settings(server))

    answer = generator.generate("MMLU score?", CHUNKS)

    assert answer.grounded is True
    assert answer.citations[0].chunk_id == "doc-1"
    assert answer.citations[0].page == 3


def test_openai_rewriter_plain_text(server):
    server.queue_json(200, text_completion("MMLU benchmark accuracy score\n"))
    _, rewriter, _ = build_chat_components(settings(server))

    assert rewriter.rewrite("MMLU score?", "score", CHUNKS) == "MMLU benchmark accuracy score"
    assert "tools" not in server.requests[0].json()


def test_openai_describer_sends_image(server):
    png = io.BytesIO()
    Image.new("RGB", (20, 10), "black").save(png, format="PNG")
    image = OCRImageObject(id="img-0.png", top_left_x=0, top_left_y=0, bottom_right_x=20, bottom_right_y=10, image_base64=base64.b64encode(png.getvalue()).decode())
    server.queue_json(200, tool_completion("ElementSummary", {"title": "Black square", "description": "A black image."}))
    describer = build_describer(settings(server))
    assert isinstance(describer, LLMDescriber)

    description = describer.describe_image(image, DocumentPage(number=1, markdown=""), None)

    content = server.requests[0].json()["messages"][0]["content"]
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    assert description.title == "Black square"


def test_openai_429_then_success_retries(server):
    server.queue_json(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}, {"retry-after-ms": "1"})
    server.queue_json(200, text_completion("new query"))
    _, rewriter, _ = build_chat_components(settings(server, provider_max_retries=1))

    assert rewriter.rewrite("question", "old", []) == "new query"
    assert len(server.requests) == 2


def test_openai_500_raises_transient(server):
    server.queue_json(500, {"error": {"message": "upstream failed"}})
    grader, _, _ = build_chat_components(settings(server))

    with pytest.raises(ProviderTransientError, match="HTTP 500"):
        grader.grade("question", CHUNKS)


def test_openai_401_names_key_setting(server):
    server.queue_json(401, {"error": {"message": "Incorrect API key provided"}})
    grader, _, _ = build_chat_components(settings(server))

    with pytest.raises(ProviderError, match="RAGAGENT_OPENAI_API_KEY") as caught:
        grader.grade("question", CHUNKS)

    assert not isinstance(caught.value, ProviderTransientError)


def test_openai_bad_tool_arguments_raise(server):
    server.queue_json(200, tool_completion("PassageGrades", {"grades": [{"chunk_id": "doc-1"}]}))
    grader, _, _ = build_chat_components(settings(server))

    with pytest.raises(ProviderError, match="does not match the expected structure"):
        grader.grade("question", CHUNKS)


def test_openai_local_server_needs_no_key(server):
    server.queue_json(200, text_completion("query"))
    _, rewriter, _ = build_chat_components(settings(server, openai_api_key=None))

    rewriter.rewrite("question", "old", [])

    assert server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_openai_missing_model_names_setting(server):
    with pytest.raises(ConfigurationError, match="RAGAGENT_OPENAI_MODEL"):
        build_chat_components(settings(server, openai_model=None))


def test_openai_missing_key_names_setting(server):
    with pytest.raises(ConfigurationError, match="RAGAGENT_OPENAI_API_KEY"):
        build_chat_components(settings(server, openai_api_key=None, openai_base_url=None))


def test_openai_components_types(server):
    grader, rewriter, generator = build_chat_components(settings(server))

    assert isinstance(grader, LLMGrader)
    assert isinstance(rewriter, LLMRewriter)
    assert isinstance(generator, LLMGenerator)
