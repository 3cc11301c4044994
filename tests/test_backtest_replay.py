from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import httpx2
import pytest

from director.backtest.replay import (
    CachedResponse,
    CacheEntryError,
    RecordReplayTransport,
    ReplayMiss,
    ResponseCache,
    request_key,
)

URL = "https://api.example.test/v1/messages"
BODY = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "hi"}],
}


class Upstream:
    """The 'real' transport under the cache: counts requests, answers as scripted."""

    def __init__(self, status: int = 200, gzip_body: bool = False) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = status
        self.gzip_body = gzip_body

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        answer = json.dumps({"echo": body["model"], "n": len(self.requests)}).encode()
        headers = {"content-type": "application/json", "request-id": f"req_{len(self.requests)}"}
        if self.gzip_body:
            answer = gzip.compress(answer)
            headers["content-encoding"] = "gzip"
        if self.status == 429:
            headers["retry-after"] = "7"
        return httpx2.Response(self.status, headers=headers, content=answer)


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(root.rglob(pattern))


def _client(
    cache_dir: Path, upstream: Upstream, *, allow: bool
) -> tuple[httpx2.AsyncClient, RecordReplayTransport]:
    transport = RecordReplayTransport(
        ResponseCache(cache_dir), allow_network=allow, inner=httpx2.MockTransport(upstream)
    )
    return httpx2.AsyncClient(transport=transport), transport


async def test_first_request_is_recorded_and_the_second_is_replayed(tmp_path: Path) -> None:
    upstream = Upstream()
    client, transport = _client(tmp_path, upstream, allow=True)
    async with client:
        first = await client.post(URL, json=BODY, headers={"x-api-key": "sk-ant-secret"})
        second = await client.post(URL, json=BODY)
    assert first.json() == second.json() == {"echo": "claude-sonnet-5-5", "n": 1}
    assert len(upstream.requests) == 1
    assert (transport.stats.recorded, transport.stats.hits, transport.stats.live_requests) == (
        1,
        1,
        1,
    )
    stored = _files(tmp_path, "*.json")
    assert len(stored) == 1
    text = stored[0].read_text()
    assert "sk-ant-secret" not in text  # headers are neither hashed nor stored
    assert not _files(tmp_path, "*.tmp")


async def test_replay_only_never_reaches_the_network(tmp_path: Path) -> None:
    upstream = Upstream()
    recorder, _ = _client(tmp_path, upstream, allow=True)
    async with recorder:
        await recorder.post(URL, json=BODY)
    replayer, transport = _client(tmp_path, upstream, allow=False)
    async with replayer:
        hit = await replayer.post(URL, json=BODY)
        assert hit.json()["n"] == 1
        with pytest.raises(ReplayMiss, match="--allow-api-spend"):
            await replayer.post(URL, json={**BODY, "model": "claude-opus-5-5"})
    assert len(upstream.requests) == 1
    assert len(transport.stats.refused) == 1
    assert "claude-opus-5-5" in str(transport.stats.refused[0])


def test_the_key_is_the_request_not_its_encoding() -> None:
    compact = json.dumps(BODY, separators=(",", ":")).encode()
    spaced = json.dumps(dict(reversed(list(BODY.items()))), indent=2).encode()
    key, model = request_key("POST", "/v1/messages", compact)
    assert request_key("post", "/v1/messages", spaced) == (key, model)
    assert model == "claude-sonnet-5-5"
    other = json.dumps({**BODY, "messages": [{"role": "user", "content": "hi!"}]}).encode()
    assert request_key("POST", "/v1/messages", other)[0] != key
    assert request_key("POST", "/v1/other", compact)[0] != key
    assert len(key) == 64 and int(key, 16) >= 0
    assert request_key("POST", "/v1/messages", b"not json")[1] == ""


async def test_failures_are_passed_on_but_never_recorded(tmp_path: Path) -> None:
    upstream = Upstream(status=429)
    client, transport = _client(tmp_path, upstream, allow=True)
    async with client:
        first = await client.post(URL, json=BODY)
        await client.post(URL, json=BODY)
    assert first.status_code == 429
    assert first.headers["retry-after"] == "7"  # the SDK's backoff reads it
    assert len(upstream.requests) == 2
    assert transport.stats.recorded == 0
    assert not _files(tmp_path, "*.json")


async def test_an_encoded_answer_is_stored_and_replayed_decoded(tmp_path: Path) -> None:
    upstream = Upstream(gzip_body=True)
    client, _ = _client(tmp_path, upstream, allow=True)
    async with client:
        live = await client.post(URL, json=BODY)
        replayed = await client.post(URL, json=BODY)
    assert live.json() == replayed.json() == {"echo": "claude-sonnet-5-5", "n": 1}
    assert "content-encoding" not in replayed.headers


async def test_a_corrupt_entry_is_a_miss_and_a_live_run_repairs_it(tmp_path: Path) -> None:
    key, _ = request_key("POST", "/v1/messages", json.dumps(BODY).encode())
    cache = ResponseCache(tmp_path)
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_text("{ half a file")

    replayer, transport = _client(tmp_path, Upstream(), allow=False)
    async with replayer:
        with pytest.raises(ReplayMiss, match="unusable cache entry"):
            await replayer.post(URL, json=BODY)
    assert transport.stats.unusable_entries == 1

    upstream = Upstream()
    recorder, _ = _client(tmp_path, upstream, allow=True)
    async with recorder:
        assert (await recorder.post(URL, json=BODY)).json()["n"] == 1
    assert cache.load(key) is not None


async def test_an_answer_the_disk_refuses_is_still_used(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.mkdir()
    key, _ = request_key("POST", "/v1/messages", json.dumps(BODY).encode())
    (blocker / key[:2]).write_text("a file where the shard folder should be")
    client, transport = _client(blocker, Upstream(), allow=True)
    async with client:
        answer = await client.post(URL, json=BODY)
    assert answer.json()["n"] == 1
    assert (transport.stats.recorded, transport.stats.unsaved) == (0, 1)


@pytest.mark.parametrize(
    "change",
    [
        {"format": 99},
        {"key": "0" * 64},
        {"status": 500},
        {"status": True},
        {"headers": {"a": 1}},
        {"body": None},
    ],
)
def test_entries_are_validated_when_read(tmp_path: Path, change: dict[str, Any]) -> None:
    cache = ResponseCache(tmp_path)
    key = "ab" * 32
    cache.save(key, "POST", "/v1/messages", CachedResponse(200, {}, "{}", "m"))
    assert cache.load(key) == CachedResponse(200, {}, "{}", "m")
    data = json.loads(cache.path(key).read_text())
    cache.path(key).write_text(json.dumps({**data, **change}))
    with pytest.raises(CacheEntryError, match=re.escape(str(cache.path(key)))):
        cache.load(key)


def test_a_file_where_the_cache_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        ResponseCache(tmp_path / "cache")
