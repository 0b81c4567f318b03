"""A loopback HTTP proxy to a real OpenSearch that rejects what Amazon OpenSearch Serverless rejects.

Serverless vector collections return HTTP 400 for a bulk request whose index
or create action carries an `_id`, and have no refresh API. The proxy records
every request, rejects those two, and can fail chosen requests with HTTP 500
to stand in for a crash midway through an ingestion.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

WRITE_ACTIONS = ("index", "create", "update")
FORWARDED_HEADERS = ("Content-Type", "Accept")


@dataclass
class ProxiedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    status: int


@dataclass
class FailureRule:
    method: str
    path: str
    remaining: int


class ServerlessProxy:
    """Forward requests to `upstream` (http://HOST:PORT) on a free loopback port."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname, parts.port)
        self.requests: list[ProxiedRequest] = []
        self._rules: list[FailureRule] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ServerlessProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, method: str, path: str, times: int = 1) -> None:
        """Fail the next `times` requests of `method` to exactly `path` with HTTP 500."""
        with self._lock:
            self._rules.append(FailureRule(method, path, times))

    def _take_failure(self, method: str, path: str) -> bool:
        with self._lock:
            for rule in self._rules:
                if rule.method == method and rule.path == path and rule.remaining > 0:
                    rule.remaining -= 1
                    return True
        return False

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        query = parse_qs(parts.query)

        status, payload, content_type = self._answer(handler, parts.path, parts.query, query, body)
        with self._lock:
            self.requests.append(ProxiedRequest(handler.command, parts.path, query, body, status))
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)

    def _answer(
        self, handler: BaseHTTPRequestHandler, path: str, raw_query: str, query: dict, body: bytes
    ) -> tuple[int, bytes, str]:
        if "refresh" in query or path.endswith("/_refresh"):
            return _error(400, "illegal_argument_exception", "refresh is not supported")
        if path.endswith("/_bulk") and _bulk_has_custom_id(body):
            return _error(400, "illegal_argument_exception", "Document ID is not supported in create/index operation request")
        if self._take_failure(handler.command, path):
            return _error(500, "internal_server_error", "failure injected by the test proxy")
        return self._forward(handler, path, raw_query, body)

    def _forward(self, handler: BaseHTTPRequestHandler, path: str, raw_query: str, body: bytes) -> tuple[int, bytes, str]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=30)
        headers = {name: handler.headers[name] for name in FORWARDED_HEADERS if handler.headers.get(name)}
        target = f"{path}?{raw_query}" if raw_query else path
        try:
            connection.request(handler.command, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("Content-Type", "application/json")
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy._handle(self)

            do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def _bulk_has_custom_id(body: bytes) -> bool:
    lines = [line for line in body.decode("utf-8").splitlines() if line.strip()]
    position = 0
    while position < len(lines):
        action = json.loads(lines[position])
        name, meta = next(iter(action.items()))
        if name in WRITE_ACTIONS and "_id" in meta:
            return True
        # Every action but delete is followed by its source line.
        position += 1 if name == "delete" else 2
    return False


def _error(status: int, error_type: str, reason: str) -> tuple[int, bytes, str]:
    payload = {"error": {"type": error_type, "reason": reason}, "status": status}
    return status, json.dumps(payload).encode(), "application/json"
