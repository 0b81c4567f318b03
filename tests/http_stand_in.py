"""A loopback HTTP server that replays queued responses and records each request, for real SDK clients in tests."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class QueuedResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


class StandInServer:
    """Serve queued responses in order on 127.0.0.1. The last one repeats once the queue is down to it."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._responses: list[QueuedResponse] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def queue_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.queue_raw(status, json.dumps(payload).encode(), headers)

    def queue_raw(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self._responses.append(QueuedResponse(status, body, {"Content-Type": "application/json", **(headers or {})}))

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_response(self) -> QueuedResponse:
        with self._lock:
            if len(self._responses) > 1:
                return self._responses.pop(0)
            return self._responses[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                stand_in.requests.append(RecordedRequest("POST", self.path, headers, body))
                response = stand_in._next_response()
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler
