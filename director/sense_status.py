"""SENSE's view of whether the exchange is taking orders (director/exchanges/status.py).

A venue without a status (the paper exchange) is always trading. A status that cannot be read
is a critical source down (safe mode, as for any failed exchange read); a status that says
trading is not active is reported in health with the reason and Kalshi's estimate of its return,
and becomes `SystemState.trading_halt`, which makes the guard send nothing at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from director.describe import describe_error
from director.exchanges.base import Exchange
from director.exchanges.status import TradingStatusVenue
from director.models import SourceHealth

log = logging.getLogger(__name__)

SOURCE = "exchange"


@dataclass(frozen=True)
class TradingState:
    halt: str = ""  # why nothing may be sent ("" while trading)
    health: SourceHealth | None = None  # None: the venue has no status to read


async def trading_state(exchange: Exchange, timeout_s: float) -> TradingState:
    """Never raises (except cancellation)."""
    if not isinstance(exchange, TradingStatusVenue):
        return TradingState()
    started = time.perf_counter()
    try:
        status = await asyncio.wait_for(exchange.trading_status(), timeout_s)
    except Exception as exc:
        log.warning("exchange status unreadable: %s", exc)
        detail = f"status unreadable: {describe_error(exc, 180)}"
        return TradingState(health=SourceHealth(ok=False, detail=detail, critical=True))
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    halt = status.halt_reason
    # Not critical: a pause is not a fault of ours. The halt itself stops every send.
    return TradingState(
        halt=halt, health=SourceHealth(ok=not halt, detail=halt, latency_ms=elapsed)
    )
