"""Kalshi's exchange status (`GET /exchange/status`): read in SENSE, and checked again before
any order or cancel is sent, so an approval pressed during the weekly maintenance window or a
pause sends nothing."""

from __future__ import annotations

import logging

from director.exchanges.kalshi.errors import ExchangeInactive
from director.exchanges.kalshi.http import KalshiHttp
from director.exchanges.kalshi.parsing import optional_timestamp
from director.exchanges.kalshi.responses import ExchangeStatus, validate
from director.exchanges.status import VenueStatus

log = logging.getLogger(__name__)

STATUS_PATH = "/exchange/status"


class StatusReader:
    """Reads the status; before a write it is read afresh every time (one read-bucket request:
    a pause can start at any moment, and orders are few)."""

    def __init__(self, http: KalshiHttp) -> None:
        self._http = http
        self._last: VenueStatus | None = None

    @property
    def last(self) -> VenueStatus | None:
        return self._last

    async def read(self) -> VenueStatus:
        what = f"GET {STATUS_PATH}"
        body = validate(ExchangeStatus, await self._http.get(STATUS_PATH), what)
        resume = optional_timestamp(
            {"exchange_estimated_resume_time": body.exchange_estimated_resume_time},
            "exchange_estimated_resume_time",
        )
        status = VenueStatus(body.exchange_active, body.trading_active, resume)
        if self._last is not None and status.trading != self._last.trading:
            log.warning("kalshi exchange: %s", status.halt_reason or "trading is active again")
        self._last = status
        return status

    async def require_trading(self) -> None:
        """Raises ExchangeInactive unless the status, read now, says trading is active (a
        status that cannot be read raises its error: nothing is sent on a guess)."""
        status = await self.read()
        if not status.trading:
            raise ExchangeInactive(
                f"Kalshi: {status.halt_reason}; nothing was sent", resume_at=status.resume_at
            )
