"""The scanners' claims: single-market opportunities and sure baskets over one event."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from director.models.base import Frozen, Side, lowercase


class Opportunity(Frozen):
    """A scanner's claim that buying `side` of `market` has positive expected value."""

    market: str
    side: Side = Side.YES
    edge: Decimal = Field(description="expected value per contract, dollars")
    confidence: Decimal = Field(ge=0, le=1)
    expires_at: datetime
    source: str = "unknown"
    title: str = ""
    observed_at: datetime | None = None

    @field_validator("side", mode="before")
    @classmethod
    def _side_any_case(cls, value: Any) -> Any:
        return lowercase(value)


class BasketLeg(Frozen):
    """One leg of a basket: `quantity` contracts of `side`, at most `price` each (the worst
    level the book walk reached), costing `cost` over the levels walked plus `fee`."""

    market: str
    side: Side
    price: Decimal
    quantity: int = Field(gt=0)
    cost: Decimal
    fee: Decimal
    title: str = ""


class BasketOpportunity(Frozen):
    """Buying `side` on every open leg of one event as one unit, with a payout that is sure:
    NO on every leg of a mutually exclusive event pays at least n − 1 dollars a basket; YES on
    every leg of a mutually exclusive and provably exhaustive event pays exactly 1."""

    event: str
    side: Side
    legs: list[BasketLeg] = Field(min_length=2)
    contracts: int = Field(gt=0, description="baskets executable across every leg's book")
    cost: Decimal = Field(description="dollars, all legs, over the levels walked, before fees")
    fees: Decimal
    payout: Decimal = Field(description="guaranteed dollars for all `contracts` baskets")
    net_profit: Decimal = Field(description="payout − cost − fees")
    expires_at: datetime
    settles_at: datetime | None = Field(None, description="the last leg's close time")
    confidence: Decimal = Field(Decimal(1), ge=0, le=1)
    source: str = "unknown"
    title: str = ""
    observed_at: datetime | None = None

    @property
    def markets(self) -> list[str]:
        return [leg.market for leg in self.legs]
