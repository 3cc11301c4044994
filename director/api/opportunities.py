"""Opportunities posted to the local API: an opportunity source like the JSON Lines feed.

Each posted line is validated exactly as a feed line is (director/scanners/feed.py, `FeedLine`)
and has the feed's semantics: the freshest line per market wins and expired ones are dropped.
The book is bounded (OMEGA_FEED_MAX_MARKETS): past it, a line for a new market is rejected with
a reason, so a runaway script can't grow the director's memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from director.models import Opportunity

# The feed's own validation and error text: a line means the same, posted or appended.
from director.scanners.feed import FeedLine
from director.scanners.feed import _short as feed_error

DEFAULT_SOURCE = "api"
MAX_LINES_PER_POST = 1000


@dataclass(frozen=True)
class Rejected:
    index: int
    error: str


def parse_line(data: Any, now: datetime) -> Opportunity:
    """One feed line (a JSON object) → an Opportunity; raises ValueError or ValidationError."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return FeedLine.model_validate(data).to_opportunity(now, default_source=DEFAULT_SOURCE)


class ApiOpportunities:
    """An OpportunitySource (director/sense.py) fed by POST /v1/opportunities."""

    name = "api"

    def __init__(self, max_markets: int) -> None:
        self.max_markets = max_markets
        self._latest: dict[str, Opportunity] = {}
        self.accepted = 0
        self.rejected = 0

    def post(self, lines: list[Any], now: datetime) -> tuple[int, list[Rejected]]:
        self._drop_expired(now)
        accepted, rejected = 0, []
        for index, data in enumerate(lines):
            try:
                opportunity = parse_line(data, now)
            except (ValueError, ValidationError) as exc:
                rejected.append(Rejected(index, feed_error(exc)))
                continue
            if opportunity.expires_at <= now:
                rejected.append(Rejected(index, "already expired"))
                continue
            if opportunity.market not in self._latest and len(self._latest) >= self.max_markets:
                rejected.append(
                    Rejected(index, f"too many markets ({self.max_markets}): line not kept")
                )
                continue
            self._latest[opportunity.market] = opportunity
            accepted += 1
        self.accepted += accepted
        self.rejected += len(rejected)
        return accepted, rejected

    def _drop_expired(self, now: datetime) -> None:
        self._latest = {m: o for m, o in self._latest.items() if o.expires_at > now}

    async def opportunities(self, now: datetime) -> list[Opportunity]:
        self._drop_expired(now)
        return sorted(self._latest.values(), key=lambda o: o.market)

    def counters(self) -> dict[str, int]:
        return {"accepted": self.accepted, "rejected": self.rejected, "markets": len(self._latest)}
