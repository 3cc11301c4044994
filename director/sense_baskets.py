"""SENSE for baskets: which sources offer them, and which of them are still tradeable.

A scanner that finds baskets (the Kalshi universe scanner, through PeriodicScanSource) offers
them beside its single-market opportunities; SENSE asks for them after the sources ran, adds
their legs to the markets it quotes, and keeps a basket only while every leg is open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol, runtime_checkable

from director.models import BasketOpportunity, Market


@runtime_checkable
class BasketSource(Protocol):
    def basket_opportunities(self, now: datetime) -> list[BasketOpportunity]:
        """The latest finished scan's baskets, without waiting (SENSE already waited)."""
        ...


def offered_baskets(sources: Iterable[object], now: datetime) -> list[BasketOpportunity]:
    found = [
        basket
        for source in sources
        if isinstance(source, BasketSource)
        for basket in source.basket_opportunities(now)
        if basket.expires_at > now
    ]
    found.sort(key=lambda b: (-b.net_profit, b.event, b.side.value))
    return found


def basket_tickers(baskets: Iterable[BasketOpportunity]) -> set[str]:
    return {leg.market for basket in baskets for leg in basket.legs}


def tradeable(
    baskets: Iterable[BasketOpportunity], markets: Mapping[str, Market]
) -> list[BasketOpportunity]:
    """Baskets whose every leg is quoted and open now: a closed leg breaks the unit."""
    return [
        b
        for b in baskets
        if all((m := markets.get(leg.market)) is not None and m.is_open for leg in b.legs)
    ]
