"""Recording from the Kalshi stand-in through the real KalshiExchange, then replaying it."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from director.backtest.recorded import ReplayConfig, run_replay_backtest
from director.exchanges.kalshi import KalshiExchange, KalshiTuning
from director.exchanges.kalshi.auth import KalshiSigner
from director.exchanges.kalshi.ratelimit import Backoff
from director.fees import taker_fee
from director.recorder.feeds import KalshiFeed
from director.recorder.format import DAY_SUFFIX, SCHEMA_VERSION, Manifest
from director.recorder.poller import Recorder, RecorderConfig, Universe
from director.recorder.reader import Recording
from director.recorder.writer import RecordingWriter
from director.scanners.feed import JsonlFeed
from director.scanners.sources import FeedSource
from director.settings import Settings, load_settings
from tests.clocks import SteppingClock
from tests.kalshi_standin import KalshiStandin, SMarket, new_rsa_key
from tests.recording_helpers import capture_venues
from tests.test_backtest_recorded import check_fills_against_the_recording

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
D = Decimal
TLS = httpx.create_ssl_context()


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock(NOW)


@pytest.fixture
def standin(rsa_key: RSAPrivateKey, clock: SteppingClock) -> Iterator[KalshiStandin]:
    with KalshiStandin(rsa_key.public_key(), clock=clock) as server:
        server.add_event("KXA-26MAR", title="Which A?", fee_multiplier_override=0.5)
        # A deeper book than the listing's touch: YES bids 0.40×30, 0.39×40; NO bids
        # 0.55×10, 0.54×20 (YES asks 0.45×10, 0.46×20).
        server.add_market(
            SMarket(
                "KXA-26MAR-1",
                "KXA-26MAR",
                title="A one",
                yes_bid=D("0.40"),
                yes_ask=D("0.45"),
                bid_size=D(30),
                ask_size=D(10),
                close_time=NOW + timedelta(days=3),
                book_override=(
                    [(D("0.40"), D(30)), (D("0.39"), D(40))],
                    [(D("0.55"), D(10)), (D("0.54"), D(20))],
                ),
            )
        )
        server.add_market(SMarket("KXA-26MAR-2", "KXA-26MAR", yes_bid=D("0.20"), yes_ask=D("0.24")))
        server.add_market(SMarket("KXB-26MAR-1", "KXB-26MAR", yes_bid=D("0.60"), yes_ask=D("0.63")))
        server.add_market(SMarket("KXC-26MAR-1", "KXC-26MAR", yes_bid=D("0.10"), yes_ask=D("0.12")))
        server.set_position("KXB-26MAR-1", 5, D("3.00"))  # held, outside the universe filter
        yield server


@pytest.fixture
async def kalshi(
    standin: KalshiStandin, rsa_key: RSAPrivateKey, clock: SteppingClock
) -> AsyncIterator[KalshiExchange]:
    tuning = KalshiTuning(request_timeout_s=5, max_attempts=3, backoff=Backoff(0.001, 0.002))
    async with httpx.AsyncClient(verify=TLS) as http:
        yield KalshiExchange(
            base_url=standin.base_url,
            signer=KalshiSigner(standin.key_id, rsa_key),
            clock=clock,
            http=http,
            reads_per_second=1000,
            writes_per_second=1000,
            tuning=tuning,
        )


def feed_file(tmp_path: Path, market: str = "KXA-26MAR-1") -> Path:
    path = tmp_path / "feed.jsonl"
    line = {
        "market": market,
        "edge": 0.15,
        "confidence": 0.8,
        "expires_at": (NOW + timedelta(days=2)).isoformat(),
        "source": "heat-scanner",
    }
    path.write_text(json.dumps(line) + "\n")
    return path


def kalshi_recorder(
    kalshi: KalshiExchange, clock: SteppingClock, out: Path, universe: str, feed_path: Path
) -> Recorder:
    """A recorder of the stand-in's `universe` every 15 minutes, 5 levels, into `out`."""
    config = RecorderConfig(every_seconds=900, universe=Universe.parse(universe), depth_levels=5)
    feed = KalshiFeed(kalshi)
    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        exchange="kalshi",
        environment=feed.environment,
        interval_seconds=900,
        created_at=clock(),
        universe=str(config.universe),
        depth_levels=5,
    )
    writer = RecordingWriter.open(out, manifest)
    sources = [FeedSource(JsonlFeed(feed_path))]
    return Recorder(feed, sources, writer, config, clock=clock, sleep=clock.sleep)


def replay_settings(tmp_path: Path) -> Settings:
    return load_settings(
        exchange="paper", db_path=tmp_path / "x.db", opportunity_feed=None, news_feeds=[]
    )


async def test_a_kalshi_recording_keeps_depth_held_markets_fees_and_settlements(
    kalshi: KalshiExchange,
    standin: KalshiStandin,
    clock: SteppingClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "rec"
    recorder = kalshi_recorder(kalshi, clock, out, "KXA", feed_file(tmp_path))
    writer = recorder.writer
    try:
        assert await recorder.run(2) == 2
        standin.update_market("KXA-26MAR-2", status="finalized", result="yes")
        standin.update_market("KXA-26MAR-1", yes_bid=D("0.41"))
        assert await recorder.run(2) == 2
    finally:
        writer.close()

    polls = list(Recording.open(out).polls())
    first = {m.ticker: m for m in polls[0].markets}
    assert set(first) == {"KXA-26MAR-1", "KXA-26MAR-2", "KXB-26MAR-1"}  # not KXC: filtered
    one = first["KXA-26MAR-1"]
    assert one.fees.multiplier == D("0.5")
    assert one.no_bids == ((D("0.55"), D(10)), (D("0.54"), D(20)))
    assert first["KXB-26MAR-1"].yes_bids is not None  # held: its book was read
    assert first["KXA-26MAR-2"].yes_bids is None  # neither held nor an opportunity: the touch
    assert first["KXA-26MAR-2"].ask_size == D(100)
    books = {c.path for c in standin.calls("orderbook")}
    assert books == {"/markets/KXA-26MAR-1/orderbook", "/markets/KXB-26MAR-1/orderbook"}
    assert {c.query.get("depth") for c in standin.calls("orderbook")} == {"5"}
    assert [o.market for o in polls[0].opportunities] == ["KXA-26MAR-1"]
    assert [s.ticker for p in polls for s in p.settlements] == ["KXA-26MAR-2"]
    assert [len(p.markets) for p in polls[1:]] == [0, 1, 0]  # only KXA-1's new bid

    settings = replay_settings(tmp_path)
    venues = capture_venues(monkeypatch)
    result = await run_replay_backtest(ReplayConfig(recording=out, brains=("naive",)), settings)
    assert result.notes == ()  # the grids were recorded
    fills = result.results["naive"].fills
    assert fills > 0
    (venue,) = venues
    assert check_fills_against_the_recording(out, venue.fills) == fills
    taker = [f for f in venue.fills if f.is_taker]
    assert taker and all(f.fee == taker_fee(f.quantity, f.price, D("0.5")) for f in taker)
    # The naive brain asked for more than the 10 at 0.45 and 20 at 0.46 offered.
    assert sum(f.quantity for f in venue.fills if f.market == "KXA-26MAR-1") <= 30


async def test_a_finer_tick_grid_is_recorded_once_and_replayed_so_the_director_can_trade_it(
    kalshi: KalshiExchange,
    standin: KalshiStandin,
    clock: SteppingClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A tail market on tenths of a cent below $0.10: YES asked at 0.035, bid at 0.031.
    standin.add_event("KXT-26MAR", title="Tails")
    standin.add_market(
        SMarket(
            "KXT-26MAR-1",
            "KXT-26MAR",
            yes_bid=D("0.031"),
            yes_ask=D("0.035"),
            close_time=NOW + timedelta(days=3),
            price_level_structure="tapered_deci_cent",
        )
    )
    standin.add_market(SMarket("KXT-26MAR-2", "KXT-26MAR", yes_bid=D("0.20"), yes_ask=D("0.24")))
    out = tmp_path / "rec"
    recorder = kalshi_recorder(kalshi, clock, out, "KXT", feed_file(tmp_path, "KXT-26MAR-1"))
    try:
        assert await recorder.run(3) == 3
    finally:
        recorder.writer.close()

    # In the info line of the day's full poll only, and not at all for the cent markets (the
    # other KXT one, the held KXB one).
    (day,) = out.glob("*" + DAY_SUFFIX)
    lines = gzip.decompress(day.read_bytes()).splitlines()
    infos = [json.loads(line) for line in lines if line.startswith(b'{"kind":"info"')]
    assert {i["ticker"]: i.get("ticks") for i in infos} == {
        "KXT-26MAR-1": [["0", "0.1", "0.001"], ["0.1", "0.9", "0.01"], ["0.9", "1", "0.001"]],
        "KXT-26MAR-2": None,
        "KXB-26MAR-1": None,
    }
    polls = list(Recording.open(out).polls())
    tail = {m.ticker: m for m in polls[0].markets}["KXT-26MAR-1"].to_market()
    assert [(r.start, r.end, r.step) for r in tail.price_ranges] == [
        (D("0"), D("0.1"), D("0.001")),
        (D("0.1"), D("0.9"), D("0.01")),
        (D("0.9"), D("1"), D("0.001")),
    ]

    # The rules brain buys at the 0.035 ask: on whole cents the guard would refuse it.
    venues = capture_venues(monkeypatch)
    config = ReplayConfig(recording=out, brains=("rules",))
    result = await run_replay_backtest(config, replay_settings(tmp_path))
    (venue,) = venues
    assert result.notes == ()
    assert {(f.market, f.price) for f in venue.fills} == {("KXT-26MAR-1", D("0.035"))}
    assert check_fills_against_the_recording(out, venue.fills) == len(venue.fills)
