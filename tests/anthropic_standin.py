"""A local stand-in for the Anthropic Messages API, driven by the real SDK in tests.

It listens on 127.0.0.1 (port 0) in a background thread and answers POST /v1/messages with
replies scripted per test, in order: a text answer, a tool_use answer, an HTTP error status
(429, 529, 500, ...) or a hang. Every request is recorded with its parsed JSON body so tests
can assert what the client sent (model, system blocks, cache_control, tool_choice, ...).

An unscripted request gets a 418 answer that names the problem, so a test that makes one call
too many fails loudly instead of hanging or passing by accident.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 100
    output_tokens: int = 50
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def body(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build with the class methods."""

    kind: str  # "message" | "status" | "hang"
    content: tuple[dict[str, Any], ...] = ()
    stop_reason: str = "end_turn"
    usage: Usage = field(default_factory=Usage)
    status: int = 200
    message: str = ""
    hang_seconds: float = 0.0
    # When set, a request for any other model is answered 400 so the test sees the mix-up.
    model: str | None = None

    @classmethod
    def text(cls, text: str, *, usage: Usage | None = None, model: str | None = None) -> Reply:
        return cls(
            kind="message",
            content=({"type": "text", "text": text},),
            usage=usage or Usage(),
            model=model,
        )

    @classmethod
    def tool(
        cls,
        tool_input: dict[str, Any],
        *,
        name: str = "submit_plan",
        usage: Usage | None = None,
        model: str | None = None,
        preamble: str = "",
    ) -> Reply:
        blocks: list[dict[str, Any]] = []
        if preamble:
            blocks.append({"type": "text", "text": preamble})
        blocks.append({"type": "tool_use", "id": "", "name": name, "input": tool_input})
        return cls(
            kind="message",
            content=tuple(blocks),
            stop_reason="tool_use",
            usage=usage or Usage(),
            model=model,
        )

    @classmethod
    def error(cls, status: int, message: str = "scripted failure") -> Reply:
        return cls(kind="status", status=status, message=message)

    @classmethod
    def hang(cls, seconds: float = 30.0) -> Reply:
        """Accept the request and answer nothing for `seconds` (or until the stand-in stops)."""
        return cls(kind="hang", hang_seconds=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def user_text(self) -> str:
        """Every text block of every user turn, joined: what the model was told."""
        parts: list[str] = []
        for message in self.body.get("messages", []):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
                continue
            for block in content or []:
                if block.get("type") == "text":
                    parts.append(str(block.get("text", "")))
                elif block.get("type") == "tool_result":
                    parts.append(json.dumps(block.get("content")))
        return "\n".join(parts)

    @property
    def system_text(self) -> str:
        system = self.body.get("system", "")
        if isinstance(system, str):
            return system
        return "".join(str(block.get("text", "")) for block in system)


class AnthropicStandIn:
    """Start with `with AnthropicStandIn() as api:`; point the SDK at `api.base_url`."""

    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._ids = itertools.count(1)
        self.requests: list[RecordedRequest] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        # A short poll keeps close() (shutdown waits for the next poll) from slowing tests.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def unused(self) -> int:
        with self._lock:
            return len(self._replies)

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AnthropicStandIn:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the server side -------------------------------------------------------------------

    def _next(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            return self._replies.popleft() if self._replies else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0] != "/v1/messages":
                    self._send(404, _error_body(404, f"no route {self.path}"))
                    return
                # SDK 2.x sends the key as a bearer token; older ones used x-api-key.
                if not (self.headers.get("x-api-key") or self.headers.get("authorization")):
                    self._send(401, _error_body(401, "missing credentials"))
                    return
                if not self.headers.get("anthropic-version"):
                    self._send(400, _error_body(400, "missing anthropic-version"))
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, _error_body(400, "body is not JSON"))
                    return
                missing = [k for k in ("model", "max_tokens", "messages") if k not in body]
                if missing:
                    self._send(400, _error_body(400, f"missing {missing}"))
                    return
                recorded = RecordedRequest(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = standin._next(recorded)
                if reply is None:
                    self._send(418, _error_body(418, "stand-in: no scripted reply left"))
                    return
                if reply.model is not None and reply.model != recorded.model:
                    message = f"stand-in: expected model {reply.model}, got {recorded.model}"
                    self._send(400, _error_body(400, message))
                    return
                if reply.kind == "hang":
                    standin._release.wait(reply.hang_seconds)
                    self.close_connection = True
                    return
                if reply.kind == "status":
                    # retry-after-ms keeps the SDK's retries fast without changing their count.
                    self._send(
                        reply.status,
                        _error_body(reply.status, reply.message),
                        {"retry-after-ms": "1"},
                    )
                    return
                self._send(200, standin._message(recorded.model, reply))

            def _send(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.send_header("request-id", f"req_standin_{next(standin._ids)}")
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up first

        return Handler

    def _message(self, model: str, reply: Reply) -> dict[str, Any]:
        number = next(self._ids)
        content = []
        for block in reply.content:
            if block["type"] == "tool_use":
                block = {**block, "id": f"toolu_standin_{number}"}
            content.append(block)
        return {
            "id": f"msg_standin_{number}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": reply.usage.body(),
        }


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
    }
