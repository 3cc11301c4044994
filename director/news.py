"""Headlines from RSS/Atom feeds that mention what the director holds or considers.

Feeds are fetched concurrently with httpx (one shared client), each under its own deadline
and size cap, then parsed by feedparser from the bytes we fetched: feedparser itself never
touches the network or the file system. A feed that fails (HTTP error, timeout, not a feed)
sets its own health flag, "news:<host>", and nothing more.

Headlines are untrusted data: they are cleaned to one line of plain text and passed on for
the operator and the brain to read, never to obey.
"""

from __future__ import annotations

import asyncio
import html
import io
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import feedparser
import httpx

from director.clock import Clock
from director.describe import clip, describe_error
from director.models import Market, NewsItem, SourceHealth

log = logging.getLogger(__name__)

MAX_TITLE = 300
MAX_TERM = 60
MIN_TERM = 3
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)

_STOP_TEXT = """
    a about above after again against all also am an and any are as at be been before being
    below between both but by can could did do does doing down during each either end ends
    ending few for from further had has have having he her here hers him his how i if in into
    is it its itself just least less many may me might more most much must my neither no nor
    not now of off on once one only or other our out over own per same she should so some
    such than that the their them then there these they this those through to too two under
    until up upon us very via was we were what when where which while who whom whose why will
    with within without would yes you your
    market markets price prices close closes closing above below highest lowest high low
    reach reached hit hits win wins winner winning lose loses happen happens occur occurs
    least most range between exactly over under before after today tomorrow yesterday week
    weekly month monthly year yearly annual daily hour hours day days date time times
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday
    mon tue tues wed thu thur thurs fri sat sun
    new next last first second third final total number amount level rate value
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_TAG = re.compile(r"<[^>]*>")


def _words(text: str) -> Iterable[str]:
    for token in _TOKEN.findall(text):
        word = token.lower().replace("’", "'")
        if "'" in word:
            word = word.split("'", 1)[0]  # "fed's" → "fed"
        if len(word) >= MIN_TERM and word not in STOP_WORDS:
            yield word


def market_terms(markets: Iterable[Market]) -> set[str]:
    """Words a headline about these markets would likely contain: from titles, and from each
    ticker's series part (Kalshi's "KX" prefix dropped: KXHEAT-24JUL → "heat"). Stop words,
    short tokens and anything with digits are left out."""
    terms: set[str] = set()
    for market in markets:
        terms.update(_words(market.title))
        series = market.ticker.split("-", 1)[0]
        if series.upper().startswith("KX"):
            series = series[2:]
        if series.isalpha():
            terms.update(_words(series))
    return terms


def clean_text(value: Any, limit: int = MAX_TITLE) -> str:
    """Feed text as one line of plain text: tags stripped, entities decoded, bounded."""
    if not isinstance(value, str):
        return ""
    text = html.unescape(_TAG.sub(" ", value))
    return clip("".join(ch if ch.isprintable() else " " for ch in text), limit)


class _Matcher:
    """Case-insensitive whole-word matching of many terms at once."""

    def __init__(self, terms: Iterable[str]) -> None:
        wanted = sorted(
            {t.strip().lower() for t in terms if t and t.strip() and len(t.strip()) <= MAX_TERM},
            key=lambda t: (-len(t), t),
        )
        self._pattern = (
            re.compile(r"(?<!\w)(" + "|".join(map(re.escape, wanted)) + r")(?!\w)", re.IGNORECASE)
            if wanted
            else None
        )

    def matches(self, text: str) -> list[str]:
        if self._pattern is None:
            return []
        return sorted({m.lower() for m in self._pattern.findall(text)})


@dataclass(frozen=True)
class _Entry:
    title: str
    link: str
    published: datetime | None
    source: str


@dataclass
class _Cached:
    etag: str | None
    modified: str | None
    entries: list[_Entry]


class NotAFeed(Exception):
    pass


class FeedTooLarge(Exception):
    pass


def _published(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        # `in` first: feedparser's get("updated_parsed") falls back to published_parsed with
        # a DeprecationWarning.
        value = entry[key] if key in entry else None  # noqa: SIM401
        if value is not None:
            try:
                year, month, day, hour, minute, second = (int(v) for v in value[:6])
                return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def parse_feed(body: bytes, *, url: str, content_type: str = "") -> list[_Entry]:
    """Entries of an RSS or Atom document; NotAFeed when it is neither."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    # A BytesIO, never bytes or str: feedparser treats a bare string as a path or URL to open.
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    entries = parsed.get("entries") or []
    if not entries and (parsed.get("bozo") or not parsed.get("version")):
        problem = parsed.get("bozo_exception")
        raise NotAFeed(clean_text(str(problem), 120) if problem else "no RSS or Atom feed found")
    feed_title = clean_text(parsed.get("feed", {}).get("title", ""), 80)
    source = feed_title or (urlsplit(url).hostname or url)
    found = []
    for entry in entries:
        title = clean_text(entry.get("title"))
        if not title:
            continue
        link = entry.get("link")
        link = link if isinstance(link, str) and link.startswith(("http://", "https://")) else ""
        found.append(_Entry(title, link[:500], _published(entry), source))
    return found


def _health_keys(urls: list[str]) -> dict[str, str]:
    hosts = Counter(urlsplit(u).netloc for u in urls)
    keys = {}
    for url in urls:
        parts = urlsplit(url)
        host = parts.hostname or parts.netloc
        keys[url] = (
            f"news:{host}" if hosts[parts.netloc] == 1 else f"news:{parts.netloc}{parts.path}"
        )
    return keys


class NewsReader:
    def __init__(
        self,
        urls: list[str],
        *,
        http: httpx.AsyncClient,
        clock: Clock,
        max_items: int = 10,
        timeout: float = 10,
        max_bytes: int = 2_000_000,
        max_age: timedelta | None = timedelta(days=3),
    ) -> None:
        for url in urls:
            if not url.startswith(("http://", "https://")) or not urlsplit(url).netloc:
                raise ValueError(f"OMEGA_NEWS_FEEDS: {url!r} is not an http(s) URL")
        if max_items < 1 or timeout <= 0 or max_bytes < 1:
            raise ValueError("max_items, timeout and max_bytes must be positive")
        self.urls = list(dict.fromkeys(urls))
        self.http = http
        self.clock = clock
        self.max_items = max_items
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.keys = _health_keys(self.urls)
        self._cache: dict[str, _Cached] = {}

    async def fetch(self, terms: set[str]) -> tuple[list[NewsItem], dict[str, SourceHealth]]:
        """The newest headlines mentioning any term, and each feed's health."""
        results = await asyncio.gather(*(self._fetch_one(url) for url in self.urls))
        health = {self.keys[url]: state for url, (_, state) in zip(self.urls, results, strict=True)}
        matcher = _Matcher(terms)
        now = self.clock()
        oldest = now - self.max_age if self.max_age is not None else None
        seen: set[str] = set()
        dated: list[tuple[datetime, int, NewsItem]] = []
        undated: list[NewsItem] = []
        order = 0
        for entries, _ in results:
            for entry in entries:
                if oldest is not None and entry.published is not None and entry.published < oldest:
                    continue
                matched = matcher.matches(entry.title)
                if not matched:
                    continue
                key = " ".join(entry.title.lower().split())
                if key in seen or (entry.link and entry.link in seen):
                    continue
                seen.add(key)
                if entry.link:
                    seen.add(entry.link)
                item = NewsItem(
                    title=entry.title,
                    link=entry.link,
                    source=entry.source,
                    published=entry.published,
                    matched=matched,
                )
                if entry.published is None:
                    undated.append(item)
                else:
                    dated.append((entry.published, order, item))
                order += 1
        dated.sort(key=lambda row: (-row[0].timestamp(), row[1]))
        items = [item for _, _, item in dated] + undated
        return items[: self.max_items], health

    async def _fetch_one(self, url: str) -> tuple[list[_Entry], SourceHealth]:
        started = time.perf_counter()

        def failed(detail: str) -> tuple[list[_Entry], SourceHealth]:
            elapsed = (time.perf_counter() - started) * 1000
            log.warning("news feed %s: %s", self.keys[url], detail)
            return [], SourceHealth(ok=False, detail=detail, latency_ms=round(elapsed, 2))

        cached = self._cache.get(url)
        headers = {"Accept": ACCEPT, "User-Agent": "omega-director news reader"}
        if cached is not None:
            if cached.etag:
                headers["If-None-Match"] = cached.etag
            if cached.modified:
                headers["If-Modified-Since"] = cached.modified
        try:
            async with asyncio.timeout(self.timeout):
                async with self.http.stream(
                    "GET", url, headers=headers, timeout=self.timeout, follow_redirects=True
                ) as response:
                    if response.status_code == 304 and cached is not None:
                        entries = cached.entries
                        detail = f"{len(entries)} items (not modified)"
                        elapsed = (time.perf_counter() - started) * 1000
                        return entries, SourceHealth(
                            ok=True, detail=detail, latency_ms=round(elapsed, 2)
                        )
                    if response.status_code != 200:
                        return failed(f"HTTP {response.status_code}")
                    body = await self._read_capped(response)
                    content_type = response.headers.get("content-type", "")
                    etag = response.headers.get("etag")
                    modified = response.headers.get("last-modified")
        except TimeoutError:
            return failed(f"timed out after {self.timeout:g}s")
        except FeedTooLarge:
            return failed(f"larger than {self.max_bytes} bytes")
        except httpx.HTTPError as exc:
            return failed(describe_error(exc, 160))
        try:
            entries = await asyncio.to_thread(parse_feed, body, url=url, content_type=content_type)
        except NotAFeed as exc:
            self._cache.pop(url, None)
            return failed(f"not a feed: {exc}")
        if etag or modified:
            self._cache[url] = _Cached(etag, modified, entries)
        else:
            self._cache.pop(url, None)
        elapsed = (time.perf_counter() - started) * 1000
        return entries, SourceHealth(
            ok=True, detail=f"{len(entries)} items", latency_ms=round(elapsed, 2)
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FeedTooLarge
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FeedTooLarge
            chunks.append(chunk)
        return b"".join(chunks)
