"""The kinds of event the paper venue lists: binary and mutually exclusive, with Kalshi-like
series, tickers and titles. Pure: each template draws from the simulator's random stream."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class Kind(StrEnum):
    BINARY = "binary"
    EXCLUSIVE = "exclusive"


# --- what events look like ----------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    series: str
    kind: Kind
    outcomes: list[tuple[str, str]]  # (ticker suffix, market title)
    weights: list[float]  # initial x of each outcome


def _day(close: datetime) -> str:
    return f"{_MONTHS[close.month - 1].title()} {close.day}"


def _at(close: datetime) -> str:
    return f"{close:%H}:00 UTC on {_day(close)}"


def _btc(rng: random.Random, close: datetime) -> EventSpec:
    strike = 1000 * rng.randrange(80, 131)
    title = f"Will Bitcoin be above ${strike:,} at {_at(close)}?"
    return EventSpec("KXBTCD", Kind.BINARY, [(f"T{strike}", title)], [rng.gauss(0, 1.0)])


def _spx(rng: random.Random, close: datetime) -> EventSpec:
    strike = 25 * rng.randrange(220, 280)
    title = f"Will the S&P 500 be above {strike:,} at {_at(close)}?"
    return EventSpec("KXINXU", Kind.BINARY, [(f"T{strike}", title)], [rng.gauss(0, 1.0)])


def _rain(rng: random.Random, close: datetime) -> EventSpec:
    city, code = rng.choice((("New York City", "NYC"), ("Chicago", "CHI"), ("Seattle", "SEA")))
    title = f"Will it rain in {city} by {_at(close)}?"
    return EventSpec(f"KXRAIN{code}", Kind.BINARY, [("T0", title)], [rng.gauss(-0.5, 1.2)])


def _gas(rng: random.Random, close: datetime) -> EventSpec:
    cents = rng.randrange(290, 360, 5)
    title = f"Will the US average gas price be above ${cents / 100:.2f} on {_day(close)}?"
    return EventSpec("KXAAAGASD", Kind.BINARY, [(f"T{cents / 100:.2f}", title)], [rng.gauss(0, 1)])


def _tsa(rng: random.Random, close: datetime) -> EventSpec:
    tenths = rng.randrange(22, 30)
    title = f"Will TSA screen more than {tenths / 10:.1f}M travelers on {_day(close)}?"
    return EventSpec("KXTSAW", Kind.BINARY, [(f"T{tenths / 10:.1f}", title)], [rng.gauss(0, 1)])


def _eurusd(rng: random.Random, close: datetime) -> EventSpec:
    strike = rng.randrange(1050, 1200, 5) / 1000
    title = f"Will EUR/USD be above {strike:.3f} at {_at(close)}?"
    return EventSpec("KXEURUSDH", Kind.BINARY, [(f"T{strike:.3f}", title)], [rng.gauss(0, 1)])


def _peaked(rng: random.Random, count: int) -> list[float]:
    """Weights of ordered brackets: most of the mass around a random centre, some noise."""
    centre = rng.uniform(0.5, count - 1.5)
    width = rng.uniform(0.8, 2.0)
    return [-((i - centre) ** 2) / (2 * width * width) + rng.gauss(0, 0.3) for i in range(count)]


def _high_temp(rng: random.Random, close: datetime) -> EventSpec:
    city, code = rng.choice((("New York City", "NY"), ("Chicago", "CHI"), ("Austin", "AUS")))
    count = rng.randint(4, 6)
    low = rng.randrange(58, 92)
    day = _day(close)
    outcomes = [(f"T{low}", f"Will the high temp in {city} be below {low}° on {day}?")]
    for i in range(count - 2):
        a = low + 2 * i
        outcomes.append((f"B{a + 0.5}", f"Will the high temp in {city} be {a}-{a + 1}° on {day}?"))
    top = low + 2 * (count - 2) - 1
    outcomes.append((f"T{top}", f"Will the high temp in {city} be above {top}° on {day}?"))
    return EventSpec(f"KXHIGH{code}", Kind.EXCLUSIVE, outcomes, _peaked(rng, count))


def _fed(rng: random.Random, close: datetime) -> EventSpec:
    month = _MONTHS[close.month - 1].title()
    outcomes = [
        ("H0", f"Will the Fed hold rates at its {month} meeting?"),
        ("C25", f"Will the Fed cut rates by 25bps at its {month} meeting?"),
        ("C26", f"Will the Fed cut rates by more than 25bps at its {month} meeting?"),
        ("H25", f"Will the Fed hike rates by 25bps at its {month} meeting?"),
    ]
    weights = [rng.gauss(1.0, 0.8), rng.gauss(0.3, 0.8), rng.gauss(-1.5, 0.6), rng.gauss(-2, 0.5)]
    return EventSpec("KXFEDDECISION", Kind.EXCLUSIVE, outcomes, weights)


_NBA = (
    ("LAL", "Los Angeles L"),
    ("BOS", "Boston"),
    ("GSW", "Golden State"),
    ("NYK", "New York K"),
    ("DEN", "Denver"),
    ("MIA", "Miami"),
    ("OKC", "Oklahoma City"),
    ("PHI", "Philadelphia"),
)
_EPL = (
    ("ARS", "Arsenal"),
    ("LIV", "Liverpool"),
    ("MCI", "Manchester City"),
    ("CHE", "Chelsea"),
    ("TOT", "Tottenham"),
    ("NEW", "Newcastle"),
)


def _nba(rng: random.Random, close: datetime) -> EventSpec:
    (a, a_name), (b, b_name) = rng.sample(_NBA, 2)
    outcomes = [
        (a, f"Will {a_name} beat {b_name} on {_day(close)}?"),
        (b, f"Will {b_name} beat {a_name} on {_day(close)}?"),
    ]
    return EventSpec("KXNBAGAME", Kind.EXCLUSIVE, outcomes, [rng.gauss(0, 0.6), 0.0])


def _epl(rng: random.Random, close: datetime) -> EventSpec:
    (h, h_name), (a, a_name) = rng.sample(_EPL, 2)
    outcomes = [
        (h, f"Will {h_name} beat {a_name} on {_day(close)}?"),
        ("TIE", f"Will {h_name} vs {a_name} end in a draw on {_day(close)}?"),
        (a, f"Will {a_name} beat {h_name} on {_day(close)}?"),
    ]
    weights = [rng.gauss(0.3, 0.5), rng.gauss(-0.3, 0.3), rng.gauss(0, 0.5)]
    return EventSpec("KXEPLGAME", Kind.EXCLUSIVE, outcomes, weights)


def _cpi(rng: random.Random, close: datetime) -> EventSpec:
    count = rng.randint(4, 5)
    low = rng.randrange(22, 30) / 10
    month = _MONTHS[close.month - 1].title()
    outcomes = [(f"T{low:.1f}", f"Will CPI inflation for {month} be below {low:.1f}%?")]
    for i in range(count - 2):
        a = low + i / 10
        outcomes.append((f"B{a:.1f}", f"Will CPI inflation for {month} be {a:.1f}%?"))
    top = low + (count - 2) / 10 - 0.1
    outcomes.append((f"T{top:.1f}", f"Will CPI inflation for {month} be above {top:.1f}%?"))
    return EventSpec("KXCPIYOY", Kind.EXCLUSIVE, outcomes, _peaked(rng, count))


Template = Callable[[random.Random, datetime], EventSpec]
_BINARY: tuple[Template, ...] = (_btc, _spx, _rain, _gas, _tsa, _eurusd)
_EXCLUSIVE: tuple[Template, ...] = (_high_temp, _fed, _nba, _epl, _cpi)
_EXCLUSIVE_SHARE = 0.4


def event_ticker(series: str, close: datetime) -> str:
    """Kalshi style: series, then the close as yyMONddHH (e.g. KXBTCD-25JUL1417)."""
    return f"{series}-{close:%y}{_MONTHS[close.month - 1]}{close:%d%H}"
