"""Serve a Lambda HTTP API handler on localhost: each request becomes an HTTP API (payload 2.0) event.

Used by the browser tests, schemathesis and `ripen dev`, so the same handler code answers
locally as behind API Gateway. Bodies of form posts are base64-encoded, as API Gateway does.
"""

from __future__ import annotations

import base64
import mimetypes
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
TEXT_TYPES = ("application/json", "text/")  # API Gateway passes these bodies as text


@dataclass
class LambdaContext:
    """What a handler may read from the Lambda context object."""

    function_name: str = "ripen-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:ripen-local"
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/ripen-local"
    log_stream_name: str = "local"
    timeout_ms: int = 30_000

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + self.timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def http_api_event(
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str = "127.0.0.1",
    host: str = "localhost",
) -> dict[str, Any]:
    """The event API Gateway (HTTP API, payload 2.0) would hand the function for this request."""
    parts = urlsplit(target)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if parts.query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    cookies = lowered.pop("cookie", None)
    if cookies:
        event["cookies"] = [c.strip() for c in cookies.split(";") if c.strip()]
    if body:
        content_type = lowered.get("content-type", "")
        if content_type.startswith(TEXT_TYPES):
            event["body"] = body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


@dataclass(frozen=True)
class LocalRequest:
    """A request to a local route (served by the local server itself, not by the Lambda handler)."""

    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # names in lowercase
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", errors="replace"), keep_blank_values=True))


@dataclass(frozen=True)
class LocalResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""


LocalRoute = Callable[[LocalRequest], LocalResponse]


class LocalHttpApi:
    """`with LocalHttpApi(handler, static={"/": page}) as url:` serves until the block ends.

    `routes` maps a path prefix (e.g. "/_dev") to a local route that answers every request under it
    instead of the handler (local tools beside the API: `ripen dev`'s outbox)."""

    def __init__(
        self,
        handler: LambdaHandler,
        port: int = 0,
        host: str = "127.0.0.1",
        static: dict[str, Path] | None = None,
        max_body: int = 1_048_576,
        routes: dict[str, LocalRoute] | None = None,
    ) -> None:
        self.handler = handler
        self.static = static or {}
        self.routes = dict(routes or {})
        self.max_body = max_body
        self._server = ThreadingHTTPServer((host, port), self._request_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-http-api", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() waits for serve_forever, which never ran otherwise
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def route_for(self, path: str) -> LocalRoute | None:
        for prefix, route in self.routes.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return route
        return None

    def _request_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output quiet; the handler logs what matters

            def _serve(self) -> None:
                path = urlsplit(self.path).path
                if self.command == "GET" and path in api.static:
                    self._send_file(api.static[path])
                    return
                length = int(self.headers.get("content-length") or 0)
                if length > api.max_body:
                    self._send(413, {"content-type": "text/plain"}, b"payload too large")
                    return
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                route = api.route_for(path)
                if route is not None:
                    lowered = {name.lower(): value for name, value in headers.items()}
                    try:
                        answer = route(LocalRequest(self.command, self.path, lowered, body))
                    except Exception:
                        traceback.print_exc()
                        self._send(500, {"content-type": "text/plain; charset=utf-8"}, b"local route failed")
                        return
                    self._send(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.body)
                    return
                event = http_api_event(
                    self.command,
                    self.path,
                    headers,
                    body,
                    self.client_address[0],
                    self.headers.get("host", "localhost"),
                )
                try:
                    result = api.handler(event, LambdaContext())
                except Exception:
                    # What API Gateway answers when the function fails; the traceback goes to stderr.
                    traceback.print_exc()
                    self._send(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                    return
                self._answer(result)

            def _answer(self, result: dict[str, Any]) -> None:
                headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
                for name, values in (result.get("multiValueHeaders") or {}).items():
                    headers[name.lower()] = ", ".join(str(v) for v in values)
                raw = result.get("body") or ""
                data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
                self._send(int(result.get("statusCode", 200)), headers, data, result.get("cookies") or [])

            def _send_file(self, file: Path) -> None:
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                self._send(200, {"content-type": f"{kind}; charset=utf-8"}, file.read_bytes())

            def _send(
                self, status: int, headers: dict[str, str], data: bytes, cookies: list[str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name not in ("content-length", "connection"):
                        self.send_header(name, value)
                for cookie in cookies or []:
                    self.send_header("set-cookie", cookie)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve  # noqa: N815

            def __getattr__(self, name: str) -> Any:
                # Any other method (TRACE, QUERY, ...) reaches the handler too, as through API Gateway.
                if name.startswith("do_"):
                    return self._serve
                raise AttributeError(name)

        return Request
