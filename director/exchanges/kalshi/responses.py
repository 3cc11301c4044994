"""The shape of every Kalshi response, as pydantic models with required fields.

A response is validated against its model before anything is read from it, so a `{}`, a 200
that carries an error body, a missing list or a wrong type is a `KalshiParseError` — a failed
source — never an empty portfolio or a $0 balance. Field names follow the official SDK
(kalshi-python-async). The records inside a list (a market, an order, …) are checked one by one
by the parsers in models.py / portfolio_models.py, so one bad market is skipped and counted
while a bad position fails the read (see `KalshiHttp.collect`).

A list may be `null` (Kalshi's Go encoder writes an empty slice that way) but never absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from director.exchanges.kalshi.errors import KalshiParseError, clean, error_info

M = TypeVar("M", bound=BaseModel)
Record = dict[str, Any]


class Envelope(BaseModel):
    """Extra fields are ignored (Kalshi adds fields often); the listed ones must be there."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class Page(Envelope):
    cursor: str | None = None

    def records(self) -> list[Record]:
        raise NotImplementedError


class MarketsPage(Page):
    markets: list[Record] | None

    def records(self) -> list[Record]:
        return self.markets or []


class EventsPage(Page):
    events: list[Record] | None

    def records(self) -> list[Record]:
        return self.events or []


class OrdersPage(Page):
    orders: list[Record] | None

    def records(self) -> list[Record]:
        return self.orders or []


class PositionsPage(Page):
    market_positions: list[Record] | None

    def records(self) -> list[Record]:
        return self.market_positions or []


class FillsPage(Page):
    fills: list[Record] | None

    def records(self) -> list[Record]:
        return self.fills or []


class SettlementsPage(Page):
    settlements: list[Record] | None

    def records(self) -> list[Record]:
        return self.settlements or []


class OrderResponse(Envelope):
    order: Record


class BalanceResponse(Envelope):
    balance_dollars: str


class BucketLimit(Envelope):
    refill_rate: int = Field(gt=0)
    bucket_capacity: int = Field(gt=0)


class AccountLimits(Envelope):
    usage_tier: str = Field(min_length=1, max_length=64)
    read: BucketLimit
    write: BucketLimit


class EndpointTokenCost(Envelope):
    method: str = Field(min_length=1, max_length=16)
    path: str = Field(min_length=1, max_length=300)
    cost: int = Field(ge=0, le=100_000)


class EndpointCosts(Envelope):
    default_cost: int = Field(gt=0, le=100_000)
    endpoint_costs: list[EndpointTokenCost] | None


class ExchangeStatus(Envelope):
    exchange_active: bool
    trading_active: bool
    # An RFC 3339 string; read with parsing.optional_timestamp.
    exchange_estimated_resume_time: str | None = None


class SeriesFees(Envelope):
    ticker: str = Field(min_length=1, max_length=200)
    fee_type: str = Field(min_length=1, max_length=64)
    # A JSON number (an int is accepted for a float even in strict mode).
    fee_multiplier: float = Field(ge=0, le=100)


class SeriesResponse(Envelope):
    series: SeriesFees


class SeriesList(Envelope):
    # Each entry is validated alone (fee_book.py): one bad series must not hide the others.
    series: list[Record]


class EventResponse(Envelope):
    event: Record


def validate(model: type[M], body: Any, what: str) -> M:
    """`body` as `model`, or a KalshiParseError that names the response and the field."""
    if isinstance(body, Mapping):
        code, message = error_info(body)
        if "error" in body and (code or message or isinstance(body["error"], str)):
            detail = code or message or str(body["error"])
            raise KalshiParseError(f"{what}: answered 200 with an error body ({clean(detail, 80)})")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise KalshiParseError(f"{what}: {where}: {clean(first['msg'], 120)}") from None
