"""The HTTP API: API Gateway HTTP API events (payload format 2.0) in, response dicts out.

Routes: `POST /query`, `GET /documents`, `GET /documents/{id}`. The Lambda
handlers and the local `ragagent serve` server both call `HttpApi.handle`, so
the two behave the same. Plain routing keeps `ragagent serve` free of the AWS
extras.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragagent.errors import AgentTimeoutError
from ragagent.settings import Settings
from ragagent.status import StatusStore, status_to_json

if TYPE_CHECKING:
    from ragagent.agent.graph import Agent

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
MAX_QUESTION_CHARS = 2000
MAX_DOCUMENT_IDS = 100
# API Gateway HTTP APIs end an integration after 30 s; the agent stops 5 s earlier.
DEFAULT_DEADLINE_SECONDS = 25.0
DEFAULT_MARGIN_SECONDS = 2.0
DOCUMENTS_PATH = "/documents"
QUERY_PATH = "/query"


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    top_k: int | None = Field(default=None, ge=1, le=50)
    document_ids: list[str] | None = Field(default=None, max_length=MAX_DOCUMENT_IDS)


class ApiError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _default_agent_factory(settings: Settings) -> Agent:
    from ragagent.factory import build_agent

    return build_agent(settings)


class HttpApi:
    """Route HTTP API events; the agent is built on the first query and reused, one per top_k."""

    def __init__(
        self,
        settings: Settings,
        status: StatusStore,
        agent_factory: Callable[[Settings], Agent] = _default_agent_factory,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
    ) -> None:
        self.settings = settings
        self.status = status
        self.agent_factory = agent_factory
        self.deadline_seconds = deadline_seconds
        self.margin_seconds = margin_seconds
        self._agents: dict[int, Agent] = {}

    def handle(self, event: dict[str, Any], remaining_ms: int | None = None) -> dict[str, Any]:
        """Answer one request; `remaining_ms` is the Lambda's remaining time, None outside Lambda."""
        started = time.monotonic()
        method, path = _method_and_path(event)
        try:
            if path == QUERY_PATH and method == "POST":
                body = self._query(event, self._deadline(started, remaining_ms))
            elif path == DOCUMENTS_PATH and method == "GET":
                body = {"documents": [status_to_json(status) for status in self.status.list()]}
            elif path.startswith(DOCUMENTS_PATH + "/") and method == "GET":
                body = self._document(path[len(DOCUMENTS_PATH) + 1 :])
            elif path in (QUERY_PATH, DOCUMENTS_PATH) or path.startswith(DOCUMENTS_PATH + "/"):
                raise ApiError(405, f"method {method} is not allowed on {path}")
            else:
                raise ApiError(404, f"route {method} {path} not found; routes: POST /query, GET /documents, GET /documents/{{id}}")
        except ApiError as error:
            logger.info("request failed method=%s path=%s status=%d", method, path, error.status_code)
            return response(error.status_code, {"message": error.message})
        except Exception:
            logger.exception("request failed method=%s path=%s", method, path)
            return response(500, {"message": "internal error; see the service logs"})
        return response(200, body)

    def _deadline(self, started: float, remaining_ms: int | None) -> float:
        budget = self.deadline_seconds
        if remaining_ms is not None:
            budget = min(budget, remaining_ms / 1000 - self.margin_seconds)
        if budget <= 0:
            raise ApiError(504, "query timed out: no time was left for the agent before the function's own timeout")
        return started + budget

    def _query(self, event: dict[str, Any], deadline: float) -> dict[str, Any]:
        request = parse_query(_body(event))
        if request.document_ids:
            missing = [document_id for document_id in request.document_ids if self.status.get(document_id) is None]
            if missing:
                raise ApiError(404, f"document_ids not found: {', '.join(missing)}; list documents with GET /documents")
        agent = self._agent(request.top_k or self.settings.top_k)
        try:
            answer = agent.ask(request.question, document_ids=request.document_ids, deadline=deadline)
        except AgentTimeoutError as error:
            raise ApiError(504, f"query timed out after {self.deadline_seconds:g} s or less: {error}") from error
        except ValueError as error:
            raise ApiError(400, f"question is invalid: {error}") from error
        return answer.to_json_dict()

    def _agent(self, top_k: int) -> Agent:
        if top_k not in self._agents:
            self._agents[top_k] = self.agent_factory(self.settings.model_copy(update={"top_k": top_k}))
        return self._agents[top_k]

    def _document(self, document_id: str) -> dict[str, Any]:
        status = self.status.get(document_id) if _is_document_id(document_id) else None
        if status is None:
            raise ApiError(404, f"document {document_id!r} not found; list documents with GET /documents")
        return status_to_json(status)


def parse_query(raw: bytes) -> QueryRequest:
    """Validate a POST /query body; an `ApiError` names the field at fault."""
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(400, f"body is not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise ApiError(400, 'body must be a JSON object such as {"question": "..."}')
    try:
        return QueryRequest.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, f"field {field!r} is invalid: {first['msg']}") from error


def response(status_code: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status_code,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, ensure_ascii=False),
        "isBase64Encoded": False,
    }


def _method_and_path(event: dict[str, Any]) -> tuple[str, str]:
    http = event.get("requestContext", {}).get("http", {})
    method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or "/")
    return method, path.rstrip("/") or "/"


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ApiError(400, f"body is not valid base64: {error}") from error
    else:
        raw = body.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES} bytes")
    return raw


def _is_document_id(value: str) -> bool:
    return bool(value) and len(value) <= 128 and value.replace("-", "").replace("_", "").isalnum()
