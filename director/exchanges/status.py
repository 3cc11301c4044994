"""Whether a venue is taking orders now: an optional part of the Exchange port.

A venue that can say (Kalshi: `GET /exchange/status`) implements `TradingStatusVenue`. SENSE
reads it every cycle; while trading is not active the guard sends nothing at all (no order, no
cancel: resting orders are left as they are), health says why and when trading is expected
back, and the operator is told once (`HaltNotice`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class VenueStatus:
    exchange_active: bool
    trading_active: bool
    resume_at: datetime | None = None  # the venue's estimate; not guaranteed

    @property
    def trading(self) -> bool:
        return self.exchange_active and self.trading_active

    @property
    def halt_reason(self) -> str:
        """Why nothing may be sent now ("" while trading is active)."""
        if self.trading:
            return ""
        what = "exchange under maintenance" if not self.exchange_active else "trading paused"
        when = (
            f"; expected back {self.resume_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            if self.resume_at is not None
            else "; no time given for its return"
        )
        return what + when


@runtime_checkable
class TradingStatusVenue(Protocol):
    async def trading_status(self) -> VenueStatus: ...


class HaltNotice:
    """One operator line when trading stops, one when it is back; nothing in between."""

    def __init__(self) -> None:
        self._halted = ""

    def update(self, halt: str) -> str | None:
        was, self._halted = self._halted, halt
        if halt and not was:
            return f"Exchange: {halt}. Nothing is sent until trading resumes; resting orders stay."
        if was and not halt:
            return "Exchange: trading is active again."
        return None
