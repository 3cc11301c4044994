"""Record once, replay for free: an HTTP transport for the anthropic SDK in backtests.

Every request is keyed by the SHA-256 of its method, path and JSON body (the body holds the
model, the system prompt, the messages and the tools: everything that decides the answer).
A key found on disk is answered from disk without touching the network. A key not found is
sent through the real transport only when network use was allowed (`--allow-api-spend`), and
a 2xx answer is then stored; otherwise the request fails with `ReplayMiss` and the miss is
kept in `refused`, so the backtest can stop with a clear message instead of quietly planning
with the fallback brain.

Only successful answers are stored: a recorded 429 or 529 would replay an outage forever.
Entries are one JSON file each, written atomically (temp file + rename), so an interrupted run
never leaves a half-written entry. Credentials live in headers, which are neither hashed nor
stored.

The SDK speaks `httpx2` (the transport type its `http_client` requires), hence that import.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

log = logging.getLogger(__name__)

FORMAT = 1
# Headers worth replaying; the rest (dates, rate-limit counters, encodings) describe one
# transfer, not the answer, and content-encoding would be wrong for the decoded body we store.
_KEPT_HEADERS = ("content-type", "request-id")
# The body handed on is already decoded, so these would describe it wrongly.
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ReplayMiss(Exception):
    """A request not in the cache, with the network not allowed."""

    def __init__(self, key: str, model: str, why: str = "not in the cache") -> None:
        super().__init__(
            f"replay cache miss for a {model or 'model'} request ({why}; key {key[:16]}…): "
            "rerun with --allow-api-spend to send it to the API and record the answer"
        )
        self.key = key
        self.model = model


class CacheEntryError(Exception):
    """A cache file exists but can't be used."""


@dataclass(frozen=True)
class CachedResponse:
    status: int
    headers: dict[str, str]
    body: str
    model: str = ""

    def to_json(self, key: str, method: str, path: str) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "key": key,
                "method": method,
                "path": path,
                "model": self.model,
                "status": self.status,
                "headers": self.headers,
                "body": self.body,
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, key: str) -> CachedResponse:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise CacheEntryError(f"not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise CacheEntryError("not a JSON object")
        if data.get("format") != FORMAT:
            raise CacheEntryError(f"unknown format {data.get('format')!r}")
        if data.get("key") != key:
            raise CacheEntryError("its key does not match its file name")
        status, headers, body = data.get("status"), data.get("headers"), data.get("body")
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status < 300:
            raise CacheEntryError(f"bad status {status!r}")
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise CacheEntryError("bad headers")
        if not isinstance(body, str):
            raise CacheEntryError("bad body")
        model = data.get("model")
        return cls(status, headers, body, model if isinstance(model, str) else "")


def request_key(method: str, path: str, body: bytes) -> tuple[str, str]:
    """(sha256 hex key, model) of a request. A JSON body is canonicalised (sorted keys, no
    whitespace), so two encodings of the same request share a key."""
    model = ""
    try:
        parsed: Any = json.loads(body) if body else None
    except ValueError:
        canonical_body = body.decode("utf-8", "surrogateescape")
    else:
        canonical_body = json.dumps(parsed, sort_keys=True, separators=(",", ":"))
        if isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
            model = parsed["model"]
    material = json.dumps(
        {"method": method.upper(), "path": path, "body": canonical_body},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest(), model


class ResponseCache:
    """Answers on disk, one file per key: <dir>/<key[:2]>/<key>.json."""

    def __init__(self, directory: Path) -> None:
        if directory.exists() and not directory.is_dir():
            raise ValueError(f"replay cache {directory} exists and is not a directory")
        self.directory = directory

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def load(self, key: str) -> CachedResponse | None:
        """The entry, None if there is none; CacheEntryError if it is unusable."""
        path = self.path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise CacheEntryError(f"cannot read {path}: {exc}") from None
        try:
            return CachedResponse.from_json(text, key)
        except CacheEntryError as exc:
            raise CacheEntryError(f"{path}: {exc}") from None

    def save(self, key: str, method: str, path: str, response: CachedResponse) -> Path:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{key[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(response.to_json(key, method, path))
                # A paid-for answer must survive a crash right after the rename.
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target


@dataclass
class ReplayStats:
    hits: int = 0
    recorded: int = 0
    live_requests: int = 0  # requests that went to the network (recorded or not)
    refused: list[ReplayMiss] = field(default_factory=list)
    unusable_entries: int = 0
    unsaved: int = 0  # answers used but not stored (the disk refused them)


class RecordReplayTransport(httpx2.AsyncBaseTransport):
    """Answers from `cache`; on a miss, from `inner` when `allow_network`, else ReplayMiss."""

    def __init__(
        self,
        cache: ResponseCache,
        *,
        allow_network: bool,
        inner: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.cache = cache
        self.allow_network = allow_network
        self._inner = inner if inner is not None else httpx2.AsyncHTTPTransport()
        self.stats = ReplayStats()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        path = request.url.path
        key, model = request_key(request.method, path, body)
        why = "not in the cache"
        try:
            cached = await asyncio.to_thread(self.cache.load, key)
        except CacheEntryError as exc:
            log.warning("replay cache entry unusable, treated as a miss: %s", exc)
            self.stats.unusable_entries += 1
            cached, why = None, f"unusable cache entry: {exc}"
        if cached is not None:
            self.stats.hits += 1
            return httpx2.Response(
                cached.status,
                headers=cached.headers,
                content=cached.body.encode("utf-8"),
                request=request,
            )
        if not self.allow_network:
            miss = ReplayMiss(key, model, why)
            self.stats.refused.append(miss)
            raise miss
        self.stats.live_requests += 1
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        await response.aclose()
        if 200 <= response.status_code < 300:
            headers = {
                name: response.headers[name] for name in _KEPT_HEADERS if name in response.headers
            }
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                log.warning("not recording a non-UTF-8 answer (key %s)", key[:16])
            else:
                entry = CachedResponse(response.status_code, headers, text, model)
                try:
                    await asyncio.to_thread(self.cache.save, key, request.method, path, entry)
                except OSError as exc:
                    # The answer is paid for: use it now even if it can't be kept.
                    log.error("could not store a replay answer (key %s): %s", key[:16], exc)
                    self.stats.unsaved += 1
                else:
                    self.stats.recorded += 1
        # Live answers keep their other headers: the SDK reads retry-after on a 429.
        passed = [(k, v) for k, v in response.headers.multi_items() if k not in _TRANSFER_HEADERS]
        return httpx2.Response(
            response.status_code, headers=passed, content=content, request=request
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
