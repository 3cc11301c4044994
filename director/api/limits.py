"""A cap on request bodies: a script that sends megabytes by mistake gets a 413, and the
director's memory stays its own."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException

MAX_BODY_BYTES = 1024 * 1024

Scope = dict[str, Any]
Message = dict[str, Any]


class BodyLimit:
    """Pure ASGI middleware: refuses a declared Content-Length over the cap before reading,
    and stops reading an undeclared (chunked) body once it passes the cap."""

    def __init__(self, app: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message: Message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # An HTTPException, not our own: FastAPI turns any other error raised while
                    # it reads the body into a 400, and 413 is what this is.
                    raise HTTPException(413, f"body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, counting_receive, send)


async def _too_large(send: Any, limit: int) -> None:
    body = json.dumps({"error": f"body larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
