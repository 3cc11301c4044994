"""Each market's fee schedule: its series' `fee_type` and `fee_multiplier` (`GET /series/{t}`),
overridden by its event's `fee_type_override` / `fee_multiplier_override` (`GET /events/{t}`),
waived until the market's `fee_waiver_expiration_time`.

Series and events change their fees rarely, so both are cached for an hour; a market whose fees
cannot be read is left out of a quote read rather than priced by a guess (director/fees.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar
from urllib.parse import quote

from director.exchanges.kalshi.errors import KalshiParseError
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.models import KalshiMarket, parse_event
from director.exchanges.kalshi.parsing import check_identifier
from director.exchanges.kalshi.responses import (
    EventResponse,
    SeriesFees,
    SeriesList,
    SeriesResponse,
    validate,
)
from director.fees import FeeSchedule, FeeType

log = logging.getLogger(__name__)
T = TypeVar("T")
CACHE_SECONDS = 3600.0
MAX_CACHED = 20_000


@dataclass(frozen=True)
class _EventFees:
    series_ticker: str
    fee_type: str  # "" when the event does not override
    multiplier: Decimal | None


class FeeBook:
    def __init__(self, http: KalshiHttp, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self._monotonic = monotonic
        self._series: dict[str, tuple[float, tuple[FeeType, Decimal]]] = {}
        self._events: dict[str, tuple[float, _EventFees]] = {}
        self._listed_at = float("-inf")

    def note_event(
        self, event_ticker: str, series_ticker: str, fee_type: str, multiplier: Decimal | None
    ) -> None:
        """An event read elsewhere (the scanner's /events pages): no request needed later."""
        self._keep(self._events, event_ticker, _EventFees(series_ticker, fee_type, multiplier))

    async def schedule_for(self, market: KalshiMarket) -> FeeSchedule:
        event = await self._event(market.event_ticker)
        series_type, series_multiplier = await self._series_fees(event.series_ticker)
        fee_type = FeeType.of(event.fee_type) if event.fee_type else series_type
        multiplier = event.multiplier if event.multiplier is not None else series_multiplier
        return FeeSchedule(
            fee_type=fee_type, multiplier=multiplier, waived_until=market.fee_waiver_until
        )

    async def _event(self, event_ticker: str) -> _EventFees:
        cached = self._fresh(self._events, event_ticker)
        if cached is not None:
            return cached
        path = f"/events/{quote(check_identifier(event_ticker, 'event ticker'), safe='')}"
        body = await self._http.get(path, {"with_nested_markets": "false"})
        event = parse_event(validate(EventResponse, body, f"GET {path}").event)
        if not event.series_ticker:
            raise KalshiParseError(f"GET {path}: event {event_ticker} names no series")
        fees = _EventFees(event.series_ticker, event.fee_type, event.fee_multiplier)
        return self._keep(self._events, event_ticker, fees)

    async def _series_fees(self, series_ticker: str) -> tuple[FeeType, Decimal]:
        cached = self._fresh(self._series, series_ticker)
        if cached is None and self._monotonic() - self._listed_at > CACHE_SECONDS:
            await self._list_series()  # one request for every series, once an hour
            cached = self._fresh(self._series, series_ticker)
        if cached is not None:
            return cached
        path = f"/series/{quote(check_identifier(series_ticker, 'series ticker'), safe='')}"
        series = validate(SeriesResponse, await self._http.get(path), f"GET {path}").series
        return self._keep(self._series, series_ticker, _series_fees(series))

    async def _list_series(self) -> None:
        self._listed_at = self._monotonic()
        body = validate(SeriesList, await self._http.get("/series"), "GET /series")
        for raw in body.series:
            try:
                series = validate(SeriesFees, raw, "GET /series")
            except KalshiParseError as exc:
                log.warning("kalshi fees: skipped a malformed series: %s", exc)
                continue
            self._keep(self._series, series.ticker, _series_fees(series))

    def _fresh(self, cache: dict[str, tuple[float, T]], key: str) -> T | None:
        entry = cache.get(key)
        if entry is None or self._monotonic() - entry[0] > CACHE_SECONDS:
            return None
        return entry[1]

    def _keep(self, cache: dict[str, tuple[float, T]], key: str, value: T) -> T:
        if len(cache) >= MAX_CACHED:
            cache.clear()  # a day's worth of events at most; refilling costs a request each
        cache[key] = (self._monotonic(), value)
        return value


def _series_fees(series: SeriesFees) -> tuple[FeeType, Decimal]:
    # A JSON number as its shortest text: 0.5 stays exactly 0.5.
    return FeeType.of(series.fee_type), Decimal(repr(series.fee_multiplier))
