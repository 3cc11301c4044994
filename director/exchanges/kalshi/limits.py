"""The account's rate limits as Kalshi meters them: two token buckets and per-endpoint costs.

Kalshi's limits are token buckets (docs.kalshi.com, "Rate limits"; `GET /account/limits`): a
read and a write bucket, each refilling at `refill_rate` tokens per second up to
`bucket_capacity`; every request costs its endpoint's tokens (`GET /account/endpoint_costs`:
`default_cost`, currently 10, and the endpoints that differ, e.g. a V2 cancel costs 2). Writes
are order placement, amends, cancels, order groups and the RFQ quote flow; everything else is a
read. A request the bucket cannot cover is refused with 429 (no Retry-After).

The client keeps a small margin under the server's figures, so network jitter (two requests
sent apart arriving together) never tips the server's bucket: `RATE_MARGIN` off the refill rate
and `HEADROOM_COSTS` requests' worth off the capacity.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from director.exchanges.kalshi.responses import AccountLimits, EndpointCosts

log = logging.getLogger(__name__)

API_PREFIX = "/trade-api/v2"
DEFAULT_COST = 10
# Kalshi's Basic tier (docs.kalshi.com "Rate limits"): 200 read / 100 write tokens a second.
# The capacity is taken as one second of budget, the smallest Kalshi documents.
BASIC_READ_RATE = 200
BASIC_WRITE_RATE = 100
RATE_MARGIN = 0.98
HEADROOM_COSTS = 2
WRITE_PREFIXES = ("/portfolio/", "/communications/")


def is_write(method: str, path: str) -> bool:
    """Kalshi's write bucket: state changes on orders, order groups and quotes."""
    return method.upper() != "GET" and path.startswith(WRITE_PREFIXES)


def _segments(path: str) -> tuple[str, ...]:
    if path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX) :]
    return tuple(part for part in path.split("?", 1)[0].strip("/").split("/") if part)


@dataclass(frozen=True)
class EndpointCost:
    method: str
    template: tuple[str, ...]  # "{order_id}" segments match any one segment
    cost: int

    def matches(self, method: str, segments: tuple[str, ...]) -> bool:
        if method != self.method or len(segments) != len(self.template):
            return False
        return all(
            want == got or (want.startswith("{") and want.endswith("}"))
            for want, got in zip(self.template, segments, strict=True)
        )

    @property
    def exact(self) -> bool:
        return not any(part.startswith("{") for part in self.template)


@dataclass(frozen=True)
class Bucket:
    """The server's figures for one bucket, in tokens."""

    refill_rate: float
    capacity: float

    def client_rate(self) -> float:
        return self.refill_rate * RATE_MARGIN

    def client_capacity(self, default_cost: int) -> float:
        """The burst the client allows itself: the capacity less a couple of requests, never
        less than one request."""
        return max(float(default_cost), self.capacity - HEADROOM_COSTS * default_cost)


@dataclass(frozen=True)
class RateLimits:
    tier: str
    read: Bucket
    write: Bucket
    default_cost: int = DEFAULT_COST
    costs: tuple[EndpointCost, ...] = field(default=())
    assumed: bool = False  # Basic-tier figures, because the account's could not be read

    def cost_of(self, method: str, path: str) -> int:
        """Tokens a request costs; exact paths win over templated ones."""
        method = method.upper()
        segments = _segments(path)
        found = [c for c in self.costs if c.matches(method, segments)]
        if not found:
            return self.default_cost
        return sorted(found, key=lambda c: not c.exact)[0].cost

    def bucket_for(self, method: str, path: str) -> Bucket:
        return self.write if is_write(method, path) else self.read

    def describe(self) -> str:
        source = "assumed (could not read the account's)" if self.assumed else "from the account"
        return (
            f"tier {self.tier} {source}: read {self.read.refill_rate:g} tokens/s "
            f"(capacity {self.read.capacity:g}), write {self.write.refill_rate:g} tokens/s "
            f"(capacity {self.write.capacity:g}); default cost {self.default_cost}, "
            f"{len(self.costs)} endpoint(s) cost otherwise"
        )


def basic_tier(
    *,
    reads_per_second: float | None = None,
    writes_per_second: float | None = None,
    default_cost: int = DEFAULT_COST,
) -> RateLimits:
    """The Basic tier's buckets, or the configured requests per second at the default cost."""
    read = BASIC_READ_RATE if reads_per_second is None else reads_per_second * default_cost
    write = BASIC_WRITE_RATE if writes_per_second is None else writes_per_second * default_cost
    return RateLimits(
        tier="basic",
        read=Bucket(read, read),
        write=Bucket(write, write),
        default_cost=default_cost,
        assumed=True,
    )


def from_account(limits: AccountLimits, costs: EndpointCosts) -> RateLimits:
    return RateLimits(
        tier=limits.usage_tier,
        read=Bucket(limits.read.refill_rate, limits.read.bucket_capacity),
        write=Bucket(limits.write.refill_rate, limits.write.bucket_capacity),
        default_cost=costs.default_cost,
        costs=parse_costs(costs),
    )


def parse_costs(costs: EndpointCosts) -> tuple[EndpointCost, ...]:
    entries: Sequence[EndpointCost] = [
        EndpointCost(entry.method.upper(), _segments(entry.path), entry.cost)
        for entry in costs.endpoint_costs or []
    ]
    return tuple(entries)
