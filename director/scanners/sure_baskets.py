"""Which events can make a sure basket: the legs a basket must buy, the sides it is sure to
pay on, and the best quotes that say whether its books are worth reading (kalshi_scanner.py
then prices the candidates on fresh books)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from director.baskets import Ask, FeeFunction, strikes_cover_everything
from director.exchanges.kalshi.models import KalshiEvent, KalshiMarket
from director.fees import FeeSchedule, trade_fee
from director.models import Side

ZERO = Decimal(0)


def no_fee(contracts: int, price: Decimal) -> Decimal:
    """Detection's fee: none, so that no event whose fees might be waived is passed over;
    pricing charges every leg its market's own schedule."""
    return ZERO


def fee_on(schedule: FeeSchedule, at: datetime) -> FeeFunction:
    return lambda contracts, price: trade_fee(contracts, price, schedule, at=at)


@dataclass(frozen=True)
class Candidate:
    """A side of an event whose best quotes already make a sure basket: worth its books."""

    event: KalshiEvent
    side: Side
    legs: tuple[KalshiMarket, ...]


def open_legs(event: KalshiEvent) -> tuple[KalshiMarket, ...] | None:
    """The legs a basket must buy, or None when no basket over this event can be sure."""
    if not event.mutually_exclusive or event.bad_markets or not event.markets:
        return None  # a leg we could not read might be the winner
    legs: list[KalshiMarket] = []
    for market in event.markets:
        if not market.is_binary:
            return None
        if market.is_open:
            legs.append(market)
        elif market.result is not Side.NO:
            return None  # a closed leg that has not lost could still be the winner
    return tuple(legs) if len(legs) >= 2 else None


def sure_sides(event: KalshiEvent) -> tuple[Side, ...]:
    """The sides a basket over this (mutually exclusive) event is sure to pay on."""
    strikes = [m.strike for m in event.markets]
    known = [s for s in strikes if s is not None]
    exhaustive = len(known) == len(strikes) and strikes_cover_everything(known)
    return (Side.NO, Side.YES) if exhaustive else (Side.NO,)


def top_of_book(market: KalshiMarket, side: Side) -> tuple[Ask, ...]:
    price = market.ask(side)
    size = market.ask_size(side)
    return (Ask(price, size),) if price is not None and size > 0 else ()
