"""The Kalshi stand-in's account rules, as Kalshi's docs state them today (docs.kalshi.com):

- rate limits ("Rate limits", `GET /account/limits`, `GET /account/endpoint_costs`): a read and
  a write token bucket, each refilling at `refill_rate` tokens a second up to
  `bucket_capacity`; a request costs its endpoint's tokens (default 10; a V2 cancel 2, a
  single-order read 2) and is refused with 429 `{"error": "too many requests"}` (no Retry-After)
  when its bucket cannot cover it — a batch is billed per item ("batch endpoints don't save
  tokens"), so one costing more than the bucket holds is never admitted. Writes are order
  placement, amends, cancels, order groups and the RFQ quote flow; every other request is a
  read. Basic tier: 200 read / 100 write tokens a second; "your Write bucket holds two seconds
  of your per-second budget" (200 tokens).
- exchange status (`GET /exchange/status`): `exchange_active`, `trading_active`,
  `exchange_estimated_resume_time`; while trading is not active no order is taken or canceled.
- fees (`GET /series/{ticker}`: `fee_type`, `fee_multiplier`; events may override both).

Kept apart from kalshi_standin.py so that file stays about serving data; the stand-in holds one
`AccountRules` and asks it before every request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_COST = 10
# Non-default costs Kalshi lists today (the API reference pages of each endpoint).
DOCUMENTED_COSTS: dict[tuple[str, str], int] = {
    ("DELETE", "/portfolio/events/orders/{order_id}"): 2,
    ("GET", "/portfolio/orders/{order_id}"): 2,
}
WRITE_PREFIXES = ("/portfolio/", "/communications/")


def is_write(method: str, path: str) -> bool:
    return method != "GET" and path.startswith(WRITE_PREFIXES)


@dataclass
class ServerBucket:
    """Kalshi's side of one bucket: refills continuously, starts full."""

    refill_rate: float
    capacity: float
    monotonic: Callable[[], float] = time.monotonic
    tokens: float = -1.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.stamp = self.monotonic()

    def take(self, cost: float) -> bool:
        now = self.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill_rate)
        self.stamp = now
        if self.tokens + 1e-9 < cost:
            return False
        self.tokens -= cost
        return True


@dataclass
class RateLimits:
    """Enforced buckets. `tier`, the rates and capacities are what /account/limits serves."""

    tier: str = "basic"
    read_rate: float = 200
    read_capacity: float = 200
    write_rate: float = 100
    write_capacity: float = 200  # two seconds of the write budget
    default_cost: int = DEFAULT_COST
    costs: dict[tuple[str, str], int] = field(default_factory=lambda: dict(DOCUMENTED_COSTS))
    monotonic: Callable[[], float] = time.monotonic
    refused: int = 0  # 429s served
    tokens_spent: float = 0.0
    read: ServerBucket = field(init=False)
    write: ServerBucket = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.read = ServerBucket(self.read_rate, self.read_capacity, self.monotonic)
        self.write = ServerBucket(self.write_rate, self.write_capacity, self.monotonic)

    def cost_of(self, method: str, path: str) -> int:
        segments = path.strip("/").split("/")
        for (want_method, template), cost in self.costs.items():
            parts = template.strip("/").split("/")
            if want_method != method or len(parts) != len(segments):
                continue
            if all(p == s or p.startswith("{") for p, s in zip(parts, segments, strict=True)):
                return cost
        return self.default_cost

    def batch_cost(self, method: str, items: int) -> float:
        """A batched create or cancel: each item billed as the single request it stands for."""
        single = "/portfolio/events/orders" if method == "POST" else "/portfolio/events/orders/x"
        return float(items * self.cost_of(method, single))

    def admit(self, method: str, path: str, cost: float | None = None) -> bool:
        """Charge the request; False means 429."""
        price = self.cost_of(method, path) if cost is None else cost
        bucket = self.write if is_write(method, path) else self.read
        with self.lock:
            if bucket.take(price):
                self.tokens_spent += price
                return True
            self.refused += 1
            return False

    def limits_body(self) -> dict[str, Any]:
        return {
            "usage_tier": self.tier,
            "read": {
                "refill_rate": int(self.read_rate),
                "bucket_capacity": int(self.read_capacity),
            },
            "write": {
                "refill_rate": int(self.write_rate),
                "bucket_capacity": int(self.write_capacity),
            },
            "grants": [],
        }

    def costs_body(self) -> dict[str, Any]:
        return {
            "default_cost": self.default_cost,
            "endpoint_costs": [
                {"method": method, "path": "/trade-api/v2" + path, "cost": cost}
                for (method, path), cost in self.costs.items()
            ],
        }


@dataclass
class ExchangeState:
    exchange_active: bool = True
    trading_active: bool = True
    resume_at: datetime | None = None
    refused_while_paused: int = 0  # order writes that arrived while trading was not active

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "exchange_active": self.exchange_active,
            "trading_active": self.trading_active,
        }
        if self.resume_at is not None:
            body["exchange_estimated_resume_time"] = self.resume_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return body

    @property
    def trading(self) -> bool:
        return self.exchange_active and self.trading_active


@dataclass
class SSeries:
    ticker: str
    fee_type: str = "quadratic"
    fee_multiplier: float = 1.0

    def body(self) -> dict[str, Any]:
        return {
            "ticker": self.ticker,
            "frequency": "daily",
            "title": f"Series {self.ticker}",
            "category": "Test",
            "categories": ["Test"],
            "tags": [],
            "settlement_sources": [],
            "contract_url": "https://example.invalid/contract",
            "contract_terms_url": "https://example.invalid/terms",
            "fee_type": self.fee_type,
            "fee_multiplier": self.fee_multiplier,
            "additional_prohibitions": [],
        }


# Kalshi's documented price level structures (docs.kalshi.com, "Subpenny pricing").
PRICE_LEVELS: dict[str, list[tuple[str, str, str]]] = {
    "linear_cent": [("0.0000", "1.0000", "0.0100")],
    "tapered_deci_cent": [
        ("0.0000", "0.1000", "0.0010"),
        ("0.1000", "0.9000", "0.0100"),
        ("0.9000", "1.0000", "0.0010"),
    ],
    "deci_cent": [("0.0000", "1.0000", "0.0010")],
}
