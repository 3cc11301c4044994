"""The Kalshi client's knobs (production defaults; tests shrink the waits) and its counters."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

from director.exchanges.kalshi.ratelimit import Backoff, Monotonic, Sleep

TimeInForce = Literal["good_till_canceled", "immediate_or_cancel", "fill_or_kill"]
SelfTradePrevention = Literal["taker_at_cross", "maker"]


@dataclass(frozen=True)
class KalshiTuning:
    """Knobs with production defaults; tests shrink the waits."""

    request_timeout_s: float = 10.0
    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    read_burst: float | None = None
    write_burst: float | None = None
    time_in_force: TimeInForce = "good_till_canceled"
    self_trade_prevention: SelfTradePrevention = "taker_at_cross"
    seed: int | None = None
    monotonic: Monotonic = time.monotonic
    sleep: Sleep = asyncio.sleep

    def __post_init__(self) -> None:
        if not self.request_timeout_s > 0:
            raise ValueError("request_timeout_s must be positive")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass
class KalshiStats:
    requests: int = 0
    tokens: int = 0  # rate-limit tokens the requests cost (issue 13)
    retries: int = 0
    rate_limited: int = 0
    timeouts: int = 0
    server_errors: int = 0
    orders_placed: int = 0
    orders_recovered: int = 0

    def as_counters(self) -> dict[str, int]:
        return dict(vars(self))
