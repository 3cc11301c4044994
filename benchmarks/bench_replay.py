"""Recorder size and replay speed, over synthetic recordings written by the recorder's own
writer (director/recorder/writer.py), so the bytes are exactly what `record` would write.

    .venv/bin/python benchmarks/bench_replay.py                  # both figures
    .venv/bin/python benchmarks/bench_replay.py --size-only      # the 15,000-market day only
    .venv/bin/python benchmarks/bench_replay.py --replay-only    # the replay speed only

Figures (issue 16):
- replay speed: cycles per second of `backtest --replay` (the real director, rules and naive
  brains) over a recorded day of 1,000 markets at 15-minute polls (96 polls);
- recorder size: bytes per UTC day for 15,000 markets at 15-minute polls, at several churn
  rates (the share of markets whose quote, sizes or volume change between two polls: a market
  line is only written when it changed), with 100 markets a poll recorded with 10-level books.

The synthetic markets: cent quotes on a random walk, touch sizes 1-500, 5% of markets settling
during the day and replaced by new ones, 50 opportunities a poll, one market in ten on Kalshi's
tapered deci-cent tick grid (recorded in its info line; the others on whole cents, which cost
nothing). Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from director.backtest.recorded import ReplayConfig, run_replay_backtest
from director.models import Side
from director.recorder.format import (
    SCHEMA_VERSION,
    Manifest,
    MarketLine,
    OpportunityLine,
    SettlementLine,
)
from director.recorder.writer import RecordingWriter
from director.settings import Settings
from director.ticks import PriceRange

START = datetime(2026, 3, 2, tzinfo=UTC)
EVERY = 900
POLLS_PER_DAY = 86_400 // EVERY
DEPTH_MARKETS = 100
DEPTH_LEVELS = 10
OPPORTUNITIES = 50
SETTLING_SHARE = 0.05
CENT = Decimal("0.01")
TAPERED_EVERY = 10  # one market in ten on the tapered grid
TAPERED = (
    PriceRange(start=Decimal(0), end=Decimal("0.1"), step=Decimal("0.001")),
    PriceRange(start=Decimal("0.1"), end=Decimal("0.9"), step=CENT),
    PriceRange(start=Decimal("0.9"), end=Decimal(1), step=Decimal("0.001")),
)


@dataclass
class SynthMarket:
    ticker: str
    event: str
    title: str
    mid: int  # cents
    half_spread: int
    bid_size: int
    ask_size: int
    volume: int
    close: datetime
    ticks: tuple[PriceRange, ...] = ()
    line: MarketLine | None = field(default=None, repr=False)

    def to_line(self, depth: bool, rng: random.Random) -> MarketLine:
        bid, ask = self.mid - self.half_spread, self.mid + self.half_spread
        yes_bids = no_bids = None
        if depth:
            yes_bids = tuple(
                (Decimal(bid - i) * CENT, Decimal(rng.randint(1, 500)))
                for i in range(DEPTH_LEVELS)
                if bid - i >= 1
            )
            no_bids = tuple(
                (Decimal(100 - ask - i) * CENT, Decimal(rng.randint(1, 500)))
                for i in range(DEPTH_LEVELS)
                if 100 - ask - i >= 1
            )
        return MarketLine(
            ticker=self.ticker,
            event=self.event,
            title=self.title,
            bid=Decimal(bid) * CENT,
            ask=Decimal(ask) * CENT,
            bid_size=Decimal(self.bid_size),
            ask_size=Decimal(self.ask_size),
            last=Decimal(self.mid) * CENT,
            volume=self.volume,
            close=self.close,
            ticks=self.ticks,
            yes_bids=yes_bids,
            no_bids=no_bids,
        )


def _new_market(rng: random.Random, number: int) -> SynthMarket:
    event = f"KXGEN{number % 97:02d}-26MAR{number // 5:05d}"
    return SynthMarket(
        ticker=f"{event}-T{number % 5}",
        event=event,
        title=f"Will generated outcome {number} happen by the close?",
        mid=rng.randint(5, 95),
        half_spread=rng.randint(1, 3),
        bid_size=rng.randint(1, 500),
        ask_size=rng.randint(1, 500),
        volume=rng.randint(0, 100_000),
        close=START + timedelta(hours=rng.randint(1, 24 * 30)),
        ticks=TAPERED if number % TAPERED_EVERY == 0 else (),
    )


def _move(market: SynthMarket, rng: random.Random) -> None:
    market.mid = min(95, max(5, market.mid + rng.choice((-2, -1, 1, 2))))
    market.bid_size = rng.randint(1, 500)
    market.ask_size = rng.randint(1, 500)
    market.volume += rng.randint(1, 200)


def write_day(directory: Path, n_markets: int, churn: float, seed: int = 1) -> int:
    """A day of polls of `n_markets` into `directory`; returns the bytes written."""
    rng = random.Random(seed)
    markets = [_new_market(rng, i) for i in range(n_markets)]
    made = n_markets
    settle_per_poll = max(1, int(n_markets * SETTLING_SHARE / POLLS_PER_DAY))
    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        exchange="kalshi",
        environment="SYNTHETIC",
        interval_seconds=EVERY,
        created_at=START,
        universe="all",
        depth_levels=DEPTH_LEVELS,
    )
    writer = RecordingWriter.open(directory, manifest)
    try:
        for poll in range(POLLS_PER_DAY):
            at = START + timedelta(seconds=poll * EVERY)
            settled = []
            for _ in range(settle_per_poll):
                gone = markets.pop(rng.randrange(len(markets)))
                settled.append(
                    SettlementLine(ticker=gone.ticker, result=rng.choice(list(Side)), seen_at=at)
                )
                markets.append(_new_market(rng, made))
                made += 1
            deep = set(rng.sample(range(len(markets)), min(DEPTH_MARKETS, len(markets))))
            lines = []
            for index, market in enumerate(markets):
                changed = market.line is None or rng.random() < churn
                if changed:
                    _move(market, rng)
                has_depth = market.line is not None and market.line.yes_bids is not None
                if changed or has_depth != (index in deep):
                    market.line = market.to_line(index in deep, rng)
                assert market.line is not None
                lines.append(market.line)
            chosen = rng.sample(range(len(markets)), min(OPPORTUNITIES, len(markets)))
            opportunities = [
                OpportunityLine(
                    market=markets[i].ticker,
                    side=Side.YES,
                    edge=Decimal(rng.randint(5, 25)) * CENT,
                    confidence=Decimal(rng.randint(50, 95)) * CENT,
                    expires_at=at + timedelta(hours=1),
                    source="synthetic",
                    title=markets[i].title,
                )
                for i in sorted(chosen)
            ]
            writer.write_poll(at, lines, settlements=settled, opportunities=opportunities)
    finally:
        writer.close()
    return sum(p.stat().st_size for p in directory.glob("*.jsonl.gz"))


def size_figures(churns: list[float]) -> None:
    print(f"recorder size: 15,000 markets, {POLLS_PER_DAY} polls a day (every {EVERY} s)")
    for churn in churns:
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            size = write_day(Path(scratch), 15_000, churn)
            wall = time.perf_counter() - started
        print(
            f"  churn {churn:4.0%}: {size / 1e6:8.2f} MB per day "
            f"({size / (15_000 * POLLS_PER_DAY):5.1f} bytes per market-poll; "
            f"written in {wall:.1f} s)"
        )


def replay_figures() -> None:
    settings = Settings(_env_file=None, cycle_seconds=EVERY, opportunity_feed=None, news_feeds=[])
    with tempfile.TemporaryDirectory() as scratch:
        recording = Path(scratch) / "rec"
        size = write_day(recording, 1_000, 0.3)
        print(
            f"replay: a recorded day of 1,000 markets ({POLLS_PER_DAY} polls, {size / 1e6:.2f} MB)"
        )
        for brain in ("rules", "naive"):
            config = ReplayConfig(recording=recording, brains=(brain,))
            started = time.perf_counter()
            result = asyncio.run(run_replay_backtest(config, settings))
            wall = time.perf_counter() - started
            cycles = result.results[brain].cycles
            print(
                f"  {brain:6s} {cycles / wall:8.1f} cycles per second "
                f"({wall:.2f} s for {cycles} cycles, {result.results[brain].fills} fills)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-only", action="store_true")
    parser.add_argument("--replay-only", action="store_true")
    parser.add_argument("--churn", type=float, action="append", default=None)
    args = parser.parse_args()
    if not args.replay_only:
        size_figures(args.churn or [0.1, 0.3, 1.0])
    if not args.size_only:
        replay_figures()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
