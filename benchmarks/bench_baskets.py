"""Basket detection and pricing time for 3,000 events (issue 13's benchmark line).

A seeded universe of events in memory (2 to 9 legs each, 60% mutually exclusive, every leg a
ten-level book), run through the Kalshi scanner's two pure stages:

- detection: `UniverseScanner.candidates` over every event — which events' best quotes make a
  sure basket (the per-page work of a scan);
- pricing: `UniverseScanner.priced` over every candidate, walking every leg's full book;
- pricing, worst case: the same walk for every mutually exclusive event, NO side, as if every
  one were a candidate.

No network: what a scan adds on top is one `GET /markets/orderbooks` per 100 candidate legs.

    .venv/bin/python benchmarks/bench_baskets.py [--events 3000] [--arbitrage 0.1] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from director.exchanges.kalshi.models import (
    KalshiEvent,
    KalshiMarket,
    Level,
    Orderbook,
    Page,
)
from director.fees import STANDARD, FeeSchedule
from director.models import BasketOpportunity, Side
from director.scanners.kalshi_scanner import UniverseScanner
from director.scanners.sure_baskets import Candidate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CENT = Decimal("0.01")
LEVELS = 10


class NoVenue:
    """The scanner's venue, never called: the stages measured here are pure."""

    def iter_event_pages(self) -> AsyncGenerator[Page[KalshiEvent], None]:
        raise NotImplementedError

    async def get_orderbooks(self, tickers: Sequence[str]) -> dict[str, Orderbook]:
        raise NotImplementedError

    async def fee_schedule(self, event: KalshiEvent, market: KalshiMarket) -> FeeSchedule:
        raise NotImplementedError


def cents(value: float) -> Decimal:
    return max(CENT, min(Decimal("0.99"), Decimal(f"{value:.2f}")))


def leg(event: str, n: int, bid: Decimal, ask: Decimal, size: int) -> KalshiMarket:
    return KalshiMarket(
        ticker=f"{event}-L{n}",
        event_ticker=event,
        title=f"Event {event}",
        yes_sub_title=f"Outcome {n}",
        market_type="binary",
        status="active",
        yes_bid=bid,
        yes_ask=ask,
        yes_bid_size=Decimal(size),
        yes_ask_size=Decimal(size),
        last_price=(bid + ask) / 2,
        volume=0,
        volume_24h=0,
        open_interest=0,
        close_time=NOW + timedelta(days=30),
        result=None,
    )


def book(market: KalshiMarket, rng: random.Random) -> Orderbook:
    """Ten levels a side, best first, starting at the market's quote."""
    assert market.yes_bid is not None and market.yes_ask is not None
    yes = [
        Level(max(CENT, market.yes_bid - CENT * i), Decimal(rng.randint(5, 200)))
        for i in range(LEVELS)
    ]
    no_top = 1 - market.yes_ask
    no = [Level(max(CENT, no_top - CENT * i), Decimal(rng.randint(5, 200))) for i in range(LEVELS)]
    yes[0] = Level(yes[0].price, market.yes_bid_size)
    return Orderbook(market.ticker, tuple(yes), tuple(no))


def universe(
    n_events: int, arbitrage: float, rng: random.Random
) -> tuple[list[KalshiEvent], dict[str, Orderbook]]:
    events, books = [], {}
    for number in range(n_events):
        ticker = f"KXB{number:05d}"
        size = rng.randint(2, 9)
        exclusive = rng.random() < 0.6
        weights = [rng.random() + 0.05 for _ in range(size)]
        total = sum(weights)
        # An arbitrage event's YES bids sum to 1.06–1.15; the others' to well under 1.
        lift = 1 + rng.uniform(0.06, 0.15) if exclusive and rng.random() < arbitrage else 0.9
        markets = []
        for n, weight in enumerate(weights):
            bid = cents(weight / total * lift)
            ask = cents(float(bid) + rng.choice((0.01, 0.02, 0.03)))
            if ask <= bid:
                bid = ask - CENT
            markets.append(leg(ticker, n, bid, ask, rng.randint(5, 200)))
        for market in markets:
            books[market.ticker] = book(market, rng)
        events.append(
            KalshiEvent(ticker, "KXB", f"Event {number}", "", exclusive, "", None, tuple(markets))
        )
    return events, books


def timed(runs: int, work: Callable[[], None]) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        out.append(time.perf_counter() - started)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--arbitrage", type=float, default=0.1, help="share of exclusive events")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    events, books = universe(args.events, args.arbitrage, rng)
    scanner = UniverseScanner(NoVenue(), clock=lambda: NOW)
    legs = sum(len(e.markets) for e in events)
    fees = dict.fromkeys(books, STANDARD)  # Kalshi's standard taker schedule on every leg

    candidates: list[Candidate] = []

    def detect() -> None:
        candidates.clear()
        for event in events:
            candidates.extend(scanner.candidates(event))

    found: list[BasketOpportunity] = []

    def price() -> None:
        found.clear()
        found.extend(
            b for c in candidates if (b := scanner.priced(c, books, fees, NOW)) is not None
        )

    exclusive = [Candidate(e, Side.NO, e.markets) for e in events if e.mutually_exclusive]

    def price_all() -> None:
        for candidate in exclusive:
            scanner.priced(candidate, books, fees, NOW)

    detect_s = timed(args.runs, detect)
    price_s = timed(args.runs, price)
    worst_s = timed(args.runs, price_all)
    print(
        f"{args.events} events, {legs} legs ({len(exclusive)} mutually exclusive), "
        f"{LEVELS}-level books; median of {args.runs} runs"
    )
    print(
        f"detection   {statistics.median(detect_s) * 1000:8.1f} ms  ({len(candidates)} candidates)"
    )
    print(
        f"pricing     {statistics.median(price_s) * 1000:8.1f} ms  "
        f"({len(found)} sure baskets, {sum(b.contracts for b in found)} baskets in total)"
    )
    total = statistics.median(detect_s) + statistics.median(price_s)
    print(f"total       {total * 1000:8.1f} ms  for detection and pricing of {args.events} events")
    print(
        f"worst case  {statistics.median(worst_s) * 1000:8.1f} ms  pricing all "
        f"{len(exclusive)} exclusive events' books"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
