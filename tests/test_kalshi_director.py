"""OMEGA_EXCHANGE=kalshi end to end: the Director built by app.build_director senses the Kalshi
stand-in (signed requests), its universe scanner, the JSON Lines feed and an RSS feed, parks
the order for approval (confirm is Kalshi's default), and places it once when approved."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from director.app import build_director
from director.models import Autonomy
from director.scanners.kalshi_scanner import ARB_SOURCE
from director.settings import load_settings
from tests.fakes import RecordingReporter
from tests.kalshi_standin import KalshiStandin, SMarket, new_rsa_key, write_private_key

D = Decimal


def rss() -> bytes:
    """Items an hour old by the wall clock that build_director's news reader also uses, so
    they stay inside its three-day window whenever the suite runs."""
    now = datetime.now(UTC)
    fresh, older = (format_datetime(now - timedelta(hours=h), usegmt=True) for h in (1, 2))
    return f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>
<item><title>December rate cut odds jump after jobs report</title><link>https://x/1</link>
<pubDate>{fresh}</pubDate></item>
<item><title>Unrelated: a cat won the village election</title><link>https://x/2</link>
<pubDate>{older}</pubDate></item>
</channel></rss>""".encode()


@pytest.fixture
def rss_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            body = rss()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    server.shutdown()
    server.server_close()


async def test_a_kalshi_cycle_senses_scans_parks_and_places_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rss_url: str
) -> None:
    key = new_rsa_key()
    with KalshiStandin(key.public_key()) as standin:
        standin.add_event("KXWIN-A", title="Who wins A?", mutually_exclusive=True)
        for n, (bid, ask) in enumerate([("0.40", "0.45"), ("0.35", "0.40"), ("0.33", "0.38")]):
            standin.add_market(
                SMarket(
                    f"KXWIN-A-L{n}", "KXWIN-A", title="Who wins A?", yes_bid=D(bid), yes_ask=D(ask)
                )
            )
        standin.add_market(
            SMarket(
                "KXFED-26DEC",
                "KXFED-26DEC",
                title="Will the Fed cut rates in December?",
                yes_bid=D("0.40"),
                yes_ask=D("0.42"),
            )
        )
        feed = tmp_path / "feed.jsonl"
        feed.write_text(
            json.dumps(
                {
                    "market": "KXFED-26DEC",
                    "edge": 0.15,
                    "confidence": 0.8,
                    "expires_in_hours": 2,
                    "title": "Will the Fed cut rates in December?",
                }
            )
            + "\n"
        )
        env = {
            "OMEGA_EXCHANGE": "kalshi",
            "KALSHI_API_BASE": standin.base_url,
            "KALSHI_API_KEY_ID": standin.key_id,
            "KALSHI_PRIVATE_KEY_PATH": str(write_private_key(key, tmp_path / "kalshi.pem")),
            "OMEGA_DB_PATH": str(tmp_path / "omega.db"),
            "OMEGA_OPPORTUNITY_FEED": str(feed),
            "OMEGA_NEWS_FEEDS": rss_url,
            "OMEGA_BRAIN": "rules",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(tmp_path)
        settings = load_settings()
        assert settings.autonomy is Autonomy.CONFIRM and settings.kalshi_environment == "PROD"

        reporter = RecordingReporter()
        director = await build_director(settings, reporter)
        try:
            report = await director.run_cycle("manual")
            assert report.error is None and report.state is not None
            assert report.state.health == "ok", report.state.health
            state = await director.sense()
            # The scanner's intra-event arbitrage is one basket, never three leg opportunities.
            assert [o.source for o in state.active_opportunities] == ["feed"]
            [basket] = state.basket_opportunities
            assert (basket.source, basket.event, len(basket.legs)) == (ARB_SOURCE, "KXWIN-A", 3)
            assert state.system_health.counters["kalshi-scanner.markets_scanned"] == 4
            assert [n.title for n in state.news] == [
                "December rate cut odds jump after jobs report"
            ]
            # Confirm: the rules brain's order waits; nothing reached Kalshi yet.
            [request] = reporter.requests
            assert "KXFED-26DEC" in request.description
            assert standin.calls("create") == []
            decision = await director.decide_approval(request.approval_id, "alice", True)
            assert decision.ok, decision.message
            again = await director.decide_approval(request.approval_id, "bob", True)
            assert not again.ok
            [create] = standin.calls("create")
            assert create.path == "/portfolio/events/orders"
            assert standin.legacy_order_calls == 0
        finally:
            await director.close()
