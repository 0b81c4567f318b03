"""`ragagent serve`: the HTTP API on a local port, through the same handler as the Lambdas.

Each request becomes an API Gateway HTTP API event (payload format 2.0) for
`HttpApi.handle`. It binds to the loopback interface unless `--host` names
another address, because the API has no authentication of its own.
"""

from __future__ import annotations

import base64
import logging
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ragagent.api import MAX_BODY_BYTES, HttpApi, response
from ragagent.errors import ConfigurationError
from ragagent.settings import Settings
from ragagent.status import LocalStatusStore

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def request_event(method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    """Build the API Gateway HTTP API v2.0 event that API Gateway would send for this request."""
    url = urlsplit(target)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "http": {"method": method, "path": url.path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
            "stage": "$default",
        },
        "body": base64.b64encode(body).decode("ascii") if body else None,
        "isBase64Encoded": bool(body),
    }


def build_server(api: HttpApi, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """Create (without starting) a server that answers with `api`; port 0 picks a free port."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "ragagent"

        def _dispatch(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send(response(413, {"message": f"body is {length} bytes; the limit is {MAX_BODY_BYTES} bytes"}))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            event = request_event(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
            self._send(api.handle(event))

        def _send(self, result: dict[str, Any]) -> None:
            payload = result["body"].encode("utf-8")
            self.send_response(result["statusCode"])
            for name, value in result.get("headers", {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _dispatch
        do_POST = _dispatch
        do_PUT = _dispatch
        do_DELETE = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("%s %s", self.address_string(), format % args)

    return ThreadingHTTPServer((host, port), Handler)


def serve(host: str, port: int, settings: Settings) -> None:
    """Serve the API until interrupted, reading the store and the status files under `settings.store`."""
    api = HttpApi(settings, LocalStatusStore(settings.store_path))
    try:
        server = build_server(api, host, port)
    except OSError as error:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror or error}; choose another --port") from error
    bound_host, bound_port = server.server_address[:2]
    logger.info("serving on http://%s:%d", bound_host, bound_port)
    print(f"ragagent: serving the API on http://{bound_host}:{bound_port} (store {settings.store}); Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopped by interrupt")
    finally:
        server.server_close()
