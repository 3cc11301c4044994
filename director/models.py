"""Typed data that flows through a cycle: the State of the Union, plans, orders, positions.

Money is Decimal dollars everywhere (prices are dollars per contract, 0.01-0.99); counts of
contracts are integers. Nothing here does I/O.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
)

from director.fees import FeeSchedule
from director.ticks import PriceRange

CENT = Decimal("0.01")
ONE = Decimal(1)


class Side(StrEnum):
    YES = "yes"
    NO = "no"

    @property
    def other(self) -> Side:
        return Side.NO if self is Side.YES else Side.YES


class Autonomy(StrEnum):
    OBSERVE = "observe"
    CONFIRM = "confirm"
    AUTO = "auto"


class Priority(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# --- the market ---------------------------------------------------------------------------


class MarketStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    SETTLED = "settled"


class Market(Frozen):
    """One binary market; quotes are for the YES side, the NO side is their mirror."""

    ticker: str
    title: str = ""
    event_ticker: str = ""
    status: MarketStatus = MarketStatus.OPEN
    yes_bid: Decimal | None = None
    yes_ask: Decimal | None = None
    last_price: Decimal | None = None
    close_time: datetime | None = None
    result: Side | None = None
    volume: int = 0
    # Contracts at the best YES bid / ask, where the venue reports them (the NO side mirrors).
    yes_bid_size: int | None = Field(default=None, ge=0)
    yes_ask_size: int | None = Field(default=None, ge=0)
    # Issue 13. The market's price grid (empty: whole cents, director/ticks.py) and its fees
    # (None: Kalshi's standard taker schedule, director/fees.py).
    price_ranges: tuple[PriceRange, ...] = ()
    fees: FeeSchedule | None = None

    @property
    def is_open(self) -> bool:
        return self.status is MarketStatus.OPEN

    def ask(self, side: Side) -> Decimal | None:
        """Best price to buy `side` now."""
        if side is Side.YES:
            return self.yes_ask
        return None if self.yes_bid is None else ONE - self.yes_bid

    def ask_size(self, side: Side) -> int | None:
        """Contracts offered at ask(side): buying NO lifts the YES bid."""
        return self.yes_ask_size if side is Side.YES else self.yes_bid_size

    def bid(self, side: Side) -> Decimal | None:
        """Best price to sell `side` now."""
        if side is Side.YES:
            return self.yes_bid
        return None if self.yes_ask is None else ONE - self.yes_ask

    def mark(self, side: Side) -> Decimal | None:
        """Mid price of `side` (settlement value once settled)."""
        if self.result is not None:
            return ONE if self.result is side else Decimal(0)
        bid, ask = self.bid(side), self.ask(side)
        if bid is not None and ask is not None:
            return ((bid + ask) / 2).quantize(Decimal("0.0001"))
        if self.last_price is not None:
            return self.last_price if side is Side.YES else ONE - self.last_price
        return bid if bid is not None else ask


class Position(Frozen):
    market: str
    side: Side
    quantity: int = Field(gt=0)
    avg_price: Decimal = Field(description="average entry price, dollars per contract")
    mark_price: Decimal | None = None

    @property
    def cost(self) -> Decimal:
        """What was paid: also the most this position can lose."""
        return self.avg_price * self.quantity

    @property
    def market_value(self) -> Decimal:
        price = self.mark_price if self.mark_price is not None else self.avg_price
        return price * self.quantity


class OrderAction(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    RESTING = "resting"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


class Order(Frozen):
    order_id: str
    client_order_id: str | None = None
    market: str
    side: Side
    action: OrderAction = OrderAction.BUY
    price: Decimal
    quantity: int = Field(ge=0, description="contracts asked for")
    remaining: int = Field(ge=0, description="contracts still resting")
    status: OrderStatus = OrderStatus.RESTING
    created_at: datetime

    @property
    def filled(self) -> int:
        return self.quantity - self.remaining

    @property
    def reserved(self) -> Decimal:
        """Cash a resting buy holds back."""
        if self.action is OrderAction.BUY and self.status is OrderStatus.RESTING:
            return self.price * self.remaining
        return Decimal(0)


class OrderRequest(Frozen):
    """What an executor asks an exchange to do: a limit order."""

    market: str
    side: Side
    action: OrderAction = OrderAction.BUY
    price: Decimal
    quantity: int = Field(gt=0)
    client_order_id: str


class Fill(Frozen):
    fill_id: str
    order_id: str
    market: str
    side: Side
    action: OrderAction = OrderAction.BUY
    price: Decimal
    quantity: int
    fee: Decimal = Decimal(0)
    is_taker: bool = True
    created_at: datetime


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
        return _lower(value)


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

    @property
    def profit_per_basket(self) -> Decimal:
        return self.net_profit / self.contracts

    @property
    def return_on_cost(self) -> Decimal:
        spent = self.cost + self.fees
        return self.net_profit / spent if spent > 0 else Decimal(0)


class NewsItem(Frozen):
    title: str
    link: str = ""
    source: str = ""
    published: datetime | None = None
    matched: list[str] = Field(default_factory=list)


class SourceHealth(Frozen):
    ok: bool
    detail: str = ""
    latency_ms: float = 0.0
    critical: bool = False


class SystemHealth(Frozen):
    sources: dict[str, SourceHealth] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sources.values())

    @property
    def degraded(self) -> bool:
        """A critical source failed: the director trades in safe mode this cycle."""
        return any(s.critical and not s.ok for s in self.sources.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, s in self.sources.items() if not s.ok]

    def summary(self) -> str:
        if self.ok:
            return "ok"
        parts = []
        for name in self.failing:
            detail = self.sources[name].detail
            parts.append(f"{name} down ({detail})" if detail else f"{name} down")
        return ("DEGRADED: " if self.degraded else "warn: ") + ", ".join(parts)


class SystemState(Frozen):
    """The State of the Union: everything one cycle knows about the world."""

    timestamp: datetime
    portfolio_cash: Decimal
    open_positions: list[Position] = Field(default_factory=list)
    pending_orders: list[Order] = Field(default_factory=list)
    recent_pnl_24h: Decimal = Decimal(0)
    system_health: SystemHealth = Field(default_factory=SystemHealth)
    active_opportunities: list[Opportunity] = Field(default_factory=list)
    current_risk_score: float = Field(ge=0, le=1, default=0.0)
    equity: Decimal
    exposure: Decimal = Decimal(0)
    safe_mode: bool = False
    safe_mode_reason: str = ""
    autonomy: Autonomy = Autonomy.OBSERVE
    markets: dict[str, Market] = Field(default_factory=dict)
    news: list[NewsItem] = Field(default_factory=list)
    exchange: str = "paper"
    # Markets with an action parked for a human: a brain should not propose them again.
    awaiting_approval: list[str] = Field(default_factory=list)
    # Issue 12. Market → why it takes no new order: an order sent there whose outcome is not
    # reconciled with the exchange yet (director/reconcile.py).
    unresolved_orders: dict[str, str] = Field(default_factory=dict)
    # Issue 12. Exchange reads that failed this cycle ("balance", "positions", "orders"):
    # their values here are placeholders, so nothing may be proposed or sent from them.
    unknown_data: list[str] = Field(default_factory=list)
    # Baskets over one event, each traded as one unit (place_basket); their legs are in
    # `markets` like any opportunity's.
    basket_opportunities: list[BasketOpportunity] = Field(default_factory=list)
    # Issue 13. Why the exchange takes no order now ("" while it trades): its maintenance
    # window or a pause, with when it is expected back. The guard sends nothing meanwhile.
    trading_halt: str = ""

    def position(self, market: str) -> Position | None:
        return next((p for p in self.open_positions if p.market == market), None)

    def opportunity(self, market: str) -> Opportunity | None:
        return next((o for o in self.active_opportunities if o.market == market), None)

    def order(self, order_id: str) -> Order | None:
        return next((o for o in self.pending_orders if o.order_id == order_id), None)

    def basket(self, event: str, side: Side | None = None) -> BasketOpportunity | None:
        return next(
            (
                b
                for b in self.basket_opportunities
                if b.event == event and (side is None or b.side is side)
            ),
            None,
        )


# --- the plan -----------------------------------------------------------------------------


class _Details(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _whole_contracts(value: Any) -> Any:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("quantity must be a whole number of contracts")
        return int(value)
    return value


# "YES" and "yes" are one side; 10.0 is ten contracts, 10.5 is an error.
AnyCaseSide = Annotated[Side, BeforeValidator(_lower)]
WholeContracts = Annotated[int, BeforeValidator(_whole_contracts)]


class PlaceOrderDetails(_Details):
    market: str = Field(min_length=1)
    side: AnyCaseSide = Side.YES
    # Left unconstrained on purpose: the guard, not the parser, rejects an out-of-range
    # price or size, so the operator sees the reason instead of a parse error.
    price: Decimal | None = None
    quantity: WholeContracts | None = None


class CancelOrderDetails(_Details):
    order_id: str = Field(min_length=1)


class RebalanceDetails(_Details):
    market: str = Field(min_length=1)
    target_quantity: int


class EmptyDetails(_Details):
    pass


class PlaceOrder(BaseModel):
    action_type: Literal["place_order"] = "place_order"
    details: PlaceOrderDetails

    def describe(self) -> str:
        d = self.details
        price = "?" if d.price is None else f"{d.price}"
        qty = "?" if d.quantity is None else f"{d.quantity}"
        return f"place_order({d.market} {d.side.value} {price}×{qty})"


class CancelOrder(BaseModel):
    action_type: Literal["cancel_order"] = "cancel_order"
    details: CancelOrderDetails

    def describe(self) -> str:
        return f"cancel_order({self.details.order_id})"


class Rebalance(BaseModel):
    action_type: Literal["rebalance"] = "rebalance"
    details: RebalanceDetails

    def describe(self) -> str:
        return f"rebalance({self.details.market} → {self.details.target_quantity})"


class BasketLegDetails(_Details):
    market: str = Field(min_length=1)
    side: AnyCaseSide  # no default: a leg's side is never guessed
    # Unconstrained like PlaceOrderDetails: the guard names what is wrong.
    price: Decimal
    quantity: WholeContracts


class PlaceBasketDetails(_Details):
    event: str = Field(min_length=1)
    legs: list[BasketLegDetails] = Field(min_length=2, max_length=100)

    @property
    def market(self) -> str:
        """What the basket is about, where an action names one market: its event (records,
        approval keys and `awaiting_approval` use it)."""
        return self.event


class PlaceBasket(BaseModel):
    """Buy every leg of a basket over one event as one unit (DESIGN.md, "The plan")."""

    action_type: Literal["place_basket"] = "place_basket"
    details: PlaceBasketDetails

    def describe(self) -> str:
        d = self.details
        legs = ", ".join(
            f"{leg.market} {leg.side.value} {leg.price}×{leg.quantity}" for leg in d.legs
        )
        return f"place_basket({d.event}: {legs})"


class DoNothing(BaseModel):
    action_type: Literal["do_nothing"] = "do_nothing"
    details: EmptyDetails = Field(default_factory=EmptyDetails)

    def describe(self) -> str:
        return "do_nothing"


Action = Annotated[
    PlaceOrder | CancelOrder | Rebalance | PlaceBasket | DoNothing,
    Field(discriminator="action_type"),
]


# Older pydantic/mypy pairs cannot see an Annotated union as a type for TypeAdapter.
ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)  # type: ignore[arg-type, unused-ignore]


class Plan(BaseModel):
    """What every brain returns (DESIGN.md, "The plan")."""

    reasoning: str
    actions: list[Action] = Field(default_factory=list)
    priority: Priority = Priority.LOW
    requires_opus_consult: bool = False

    @field_validator("priority", mode="before")
    @classmethod
    def _priority_any_case(cls, value: Any) -> Any:
        return _upper(value)

    @classmethod
    def no_op(cls, reasoning: str) -> Plan:
        return cls(reasoning=reasoning, actions=[], priority=Priority.LOW)
