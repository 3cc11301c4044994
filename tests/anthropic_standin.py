"""A local stand-in for the Anthropic Messages API, driven by the real SDK in tests.

It listens on 127.0.0.1 (port 0) in a background thread and answers POST /v1/messages with
replies scripted per test, in order: a JSON answer, a text answer, a tool_use answer, an HTTP
error status (429, 529, 500, ...) or a hang. Before a scripted reply is used, the request must
pass the contract the real API enforces today (tests/anthropic_contract.py): a request it
refuses gets the same 400 and consumes no reply. Every answer starts with a signed thinking
block, as adaptive thinking does, and usage is computed the way the API computes it (cache
reads only while the prefix's TTL lasts, on a clock the test controls), unless a reply
scripts its own usage. POST /v1/messages/count_tokens counts with the same estimate.

Every request is recorded with its parsed JSON body so tests can assert what the client sent.
An unscripted request gets a 418 that names the problem, so a test that makes one call too
many fails loudly; a scripted reply that the requested schema could never produce is a 500
(see `script_errors`): the real API's constrained decoding could not return it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests import anthropic_contract as contract

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
    cache_creation_1h_input_tokens: int = 0

    def body(self) -> dict[str, Any]:
        five = self.cache_creation_input_tokens - self.cache_creation_1h_input_tokens
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": max(five, 0),
                "ephemeral_1h_input_tokens": self.cache_creation_1h_input_tokens,
            },
        }


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build with the class methods."""

    kind: str  # "message" | "status" | "hang"
    content: tuple[dict[str, Any], ...] = ()
    stop_reason: str = "end_turn"
    usage: Usage | None = None  # None: computed from the request, as the API does
    # With a computed usage: the output tokens to bill (thinking included), else estimated.
    output_tokens: int | None = None
    status: int = 200
    message: str = ""
    hang_seconds: float = 0.0
    # When set, a request for any other model is answered 400 so the test sees the mix-up.
    model: str | None = None

    @classmethod
    def json(
        cls,
        value: Any,
        *,
        usage: Usage | None = None,
        model: str | None = None,
        stop_reason: str = "end_turn",
        output_tokens: int | None = None,
    ) -> Reply:
        """A structured-output answer: the JSON text of `value`."""
        reply = cls.text(json.dumps(value), usage=usage, model=model, stop_reason=stop_reason)
        return replace(reply, output_tokens=output_tokens)

    @classmethod
    def text(
        cls,
        text: str,
        *,
        usage: Usage | None = None,
        model: str | None = None,
        stop_reason: str = "end_turn",
    ) -> Reply:
        return cls(
            kind="message",
            content=({"type": "text", "text": text},),
            usage=usage,
            model=model,
            stop_reason=stop_reason,
        )

    @classmethod
    def tool(
        cls,
        tool_input: dict[str, Any],
        *,
        name: str,
        usage: Usage | None = None,
        model: str | None = None,
    ) -> Reply:
        block = {"type": "tool_use", "id": "", "name": name, "input": tool_input}
        return cls(
            kind="message", content=(block,), stop_reason="tool_use", usage=usage, model=model
        )

    @classmethod
    def refusal(cls) -> Reply:
        return cls(kind="message", content=(), stop_reason="refusal")

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
    """Start with `with AnthropicStandIn() as api:`; point the SDK at `api.base_url`.
    `clock` (seconds) decides prompt-cache expiry; `models` adds model ids it answers."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, models: frozenset[str] = frozenset()
    ) -> None:
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._ids = itertools.count(1)
        self._clock = clock
        self._models = contract.KNOWN_MODELS | models
        self._cache: dict[str, float] = {}  # prefix key -> expiry on `clock`
        self.requests: list[RecordedRequest] = []
        self.refused: list[str] = []  # the 400s the contract produced, in order
        self.script_errors: list[str] = []
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

    def _admit(self, body: dict[str, Any]) -> tuple[int, str] | None:
        """The error the real API gives before any model runs, or None."""
        missing = [k for k in ("model", "max_tokens", "messages") if k not in body]
        if missing:
            return 400, f"missing {missing}"
        if body["model"] not in self._models:
            return 404, f"model: {body['model']}"
        problem = contract.violation(body) or contract.replay_problem(body)
        return (400, problem) if problem else None

    def _next(self, request: RecordedRequest) -> Reply | None:
        with self._lock:
            self.requests.append(request)
            return self._replies.popleft() if self._replies else None

    def _usage(self, body: dict[str, Any], reply: Reply, answer: list[Any]) -> dict[str, Any]:
        if reply.usage is not None:
            return reply.usage.body()
        total = contract.request_tokens(body)
        read = written = written_1h = 0
        prefix = contract.cached_prefix(body)
        minimum = contract.MIN_CACHEABLE_TOKENS.get(body["model"], contract.DEFAULT_MIN_CACHEABLE)
        if prefix is not None and prefix.tokens >= minimum:
            now = self._clock()
            with self._lock:
                expiry = self._cache.get(prefix.key)
                if expiry is not None and expiry > now:
                    read = prefix.tokens
                else:
                    written = prefix.tokens
                    written_1h = prefix.tokens if prefix.ttl == "1h" else 0
                # A read refreshes the entry: it lives another TTL from now.
                self._cache[prefix.key] = now + contract.TTL_SECONDS[prefix.ttl]
        output = reply.output_tokens
        if output is None:
            output = sum(contract.estimate_tokens(b.get("text", b)) for b in answer)
        return Usage(
            input_tokens=total - read - written,
            output_tokens=output,
            cache_read_input_tokens=read,
            cache_creation_input_tokens=written,
            cache_creation_1h_input_tokens=written_1h,
        ).body()

    def _message(self, body: dict[str, Any], reply: Reply) -> tuple[int, dict[str, Any]]:
        number = next(self._ids)
        model = body["model"]
        fmt = (body.get("output_config") or {}).get("format")
        content: list[dict[str, Any]] = []
        for block in reply.content:
            if block["type"] == "tool_use":
                if not body.get("tools"):
                    return self._script_error("a tool_use reply to a request without tools")
                block = {**block, "id": f"toolu_standin_{number}"}
            elif block["type"] == "text" and fmt and reply.stop_reason == "end_turn":
                problem = _schema_mismatch(block["text"], fmt["schema"])
                if problem:
                    return self._script_error(problem)
            content.append(block)
        thinking = body.get("thinking") or {"type": "adaptive"}
        if thinking.get("type") != "disabled" and reply.stop_reason != "refusal":
            shown = "Weighing the state." if thinking.get("display") == "summarized" else ""
            history = [
                {"system": body.get("system"), "tools": body.get("tools")},
                body.get("messages"),
            ]
            content.insert(
                0,
                {
                    "type": "thinking",
                    "thinking": shown,
                    "signature": contract.sign(model, history, shown),
                },
            )
        return 200, {
            "id": f"msg_standin_{number}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": reply.stop_reason,
            "stop_sequence": None,
            "usage": self._usage(body, reply, content),
        }

    def _script_error(self, problem: str) -> tuple[int, dict[str, Any]]:
        self.script_errors.append(problem)
        return 500, _error_body(500, f"stand-in script error: {problem}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                path = self.path.split("?")[0]
                if path not in ("/v1/messages", "/v1/messages/count_tokens"):
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
                if path.endswith("count_tokens"):
                    self._send(200, {"input_tokens": contract.request_tokens(body)})
                    return
                self._answer(body)

            def _answer(self, body: dict[str, Any]) -> None:
                refusal = standin._admit(body)
                if refusal is not None:
                    status, message = refusal
                    with standin._lock:
                        standin.refused.append(message)
                    self._send(status, _error_body(status, message))
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
                self._send(*standin._message(body, reply))

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


def _schema_mismatch(text: str, schema: dict[str, Any]) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return "a non-JSON text reply to a request with output_config.format"
    if not contract.conforms(value, schema, schema):
        return "a JSON reply that does not match the requested output_config.format schema"
    return None


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
    }
