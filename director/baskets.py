"""Basket maths: what a basket over one event is sure to pay, and how big it can be. Pure.

A basket buys the same side on every open leg of one event, the same number of contracts each:

- NO basket, the event mutually exclusive (at most one leg resolves YES): at least n − 1 of the
  n NO legs pay 1, so one basket pays at least n − 1 dollars whatever happens;
- YES basket, the event mutually exclusive *and* its outcomes provably exhaustive (exactly one
  leg resolves YES): one basket pays exactly 1 dollar.

Nothing else is sure, so nothing else is a basket. Sizes walk every leg's asks: the basket's
size is the largest whole number of contracts for which the *last* basket still profits with
every leg bought at its worst (limit) price, so a limit order per leg at that price cannot turn
the basket into a loss however the fills spread over the levels. Fees come from one function
per leg (the market's own schedule, see director.fees) and are charged per level walked, each
rounded up: never less than what Kalshi charges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from director.models import ONE, Side

ZERO = Decimal(0)
FeeFunction = Callable[[int, Decimal], Decimal]  # (contracts, price) → fee in dollars


@dataclass(frozen=True, slots=True)
class Ask:
    """A price to buy one side at, and the contracts offered there."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class LegBook:
    """One leg: the asks for the side the basket buys (cheapest first) and its fee schedule."""

    market: str
    asks: tuple[Ask, ...]
    fee: FeeFunction


@dataclass(frozen=True, slots=True)
class LegFill:
    """What buying `contracts` of one leg walks through: its limit (the worst level reached),
    its cost over the levels walked, and the fee charged on them."""

    market: str
    limit: Decimal
    contracts: int
    cost: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class BasketPrice:
    side: Side
    contracts: int
    legs: tuple[LegFill, ...]
    payout: Decimal  # guaranteed, for all `contracts`
    cost: Decimal  # over the levels walked, before fees
    fees: Decimal

    @property
    def net_profit(self) -> Decimal:
        return self.payout - self.cost - self.fees


def payout_per_basket(side: Side, legs: int) -> Decimal:
    """What one basket is sure to pay (the event's sureness is the caller's to establish)."""
    return ONE if side is Side.YES else Decimal(legs - 1)


def worst_case_net(
    side: Side, limits: Sequence[Decimal], contracts: int, fees: Sequence[FeeFunction]
) -> Decimal:
    """Net profit if every leg's `contracts` fill at its limit price: the guard's bound."""
    paid = sum(
        (p * contracts + fee(contracts, p) for p, fee in zip(limits, fees, strict=True)), ZERO
    )
    return payout_per_basket(side, len(limits)) * contracts - paid


def walk(asks: Sequence[Ask], contracts: int, fee: FeeFunction) -> tuple[Decimal, Decimal, Decimal]:
    """(cost, fee, limit) of buying `contracts` through `asks`; raises if the book is short."""
    left = Decimal(contracts)
    cost = fees = ZERO
    limit = ZERO
    for ask in asks:
        if left <= 0:
            break
        take = min(left, ask.size)
        cost += ask.price * take
        whole = int(take.to_integral_value(rounding=ROUND_FLOOR))
        # A fractional remainder is charged as a whole contract: never under-count the fee.
        fees += fee(whole if whole == take else whole + 1, ask.price)
        limit = ask.price
        left -= take
    if left > 0:
        raise ValueError(f"book offers fewer than {contracts} contracts")
    return cost, fees, limit


def _breakpoints(legs: Sequence[LegBook], cap: int) -> list[int]:
    """Whole-contract sizes at which some leg moves to its next level, up to `cap`."""
    points: set[int] = set()
    for leg in legs:
        depth = ZERO
        for ask in leg.asks:
            depth += ask.size
            whole = int(depth.to_integral_value(rounding=ROUND_FLOOR))
            if whole >= cap:
                points.add(cap)
                break
            if whole > 0:
                points.add(whole)
    return sorted(points)


def _limits_at(legs: Sequence[LegBook], contracts: int) -> list[Decimal] | None:
    limits = []
    for leg in legs:
        depth = ZERO
        for ask in leg.asks:
            depth += ask.size
            if depth >= contracts:
                limits.append(ask.price)
                break
        else:
            return None
    return limits


def price_basket(
    side: Side,
    legs: Sequence[LegBook],
    *,
    max_contracts: int,
    min_profit: Decimal = ZERO,
) -> BasketPrice | None:
    """The largest profitable basket up to `max_contracts`, or None if no size is.

    A size is taken when one more basket at the current worst prices still earns more than its
    fees (the margin) and the whole basket, filled at the limits, nets at least `min_profit`."""
    if len(legs) < 2 or max_contracts < 1 or any(not leg.asks for leg in legs):
        return None
    payout = payout_per_basket(side, len(legs))
    fees = [leg.fee for leg in legs]
    best = 0
    for size in _breakpoints(legs, max_contracts):
        limits = _limits_at(legs, size)
        if limits is None:
            break  # some leg's book is exhausted: no larger size exists
        per_contract_fee = sum((f(size, p) for f, p in zip(fees, limits, strict=True)), ZERO) / size
        if payout - sum(limits, ZERO) - per_contract_fee <= 0:
            break  # deeper levels only cost more: the marginal basket no longer pays
        if worst_case_net(side, limits, size, fees) >= min_profit:
            best = size
    if best == 0:
        return None
    return _priced(side, legs, best, payout)


def _priced(side: Side, legs: Sequence[LegBook], contracts: int, payout: Decimal) -> BasketPrice:
    fills = []
    for leg in legs:
        cost, fee, limit = walk(leg.asks, contracts, leg.fee)
        fills.append(LegFill(leg.market, limit, contracts, cost, fee))
    return BasketPrice(
        side=side,
        contracts=contracts,
        legs=tuple(fills),
        payout=payout * contracts,
        cost=sum((f.cost for f in fills), ZERO),
        fees=sum((f.fee for f in fills), ZERO),
    )


# --- is the outcome set exhaustive? -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Strike:
    """A leg's YES region on the event's expiration value, as Kalshi states it (`strike_type`,
    `floor_strike`, `cap_strike`). Kalshi documents floor and cap as the minimum and maximum
    values that settle YES, so `between` is read as the closed interval; `greater` and `less`
    are read as strict (the boundary itself is not covered), `*_or_equal` as inclusive."""

    kind: str
    floor: Decimal | None
    cap: Decimal | None


# (low, low_closed, high, high_closed); None is ±infinity.
_Interval = tuple[Decimal | None, bool, Decimal | None, bool]


def _interval(strike: Strike) -> _Interval | None:
    kind, lo, hi = strike.kind, strike.floor, strike.cap
    if kind == "between" and lo is not None and hi is not None and lo <= hi:
        return (lo, True, hi, True)
    if kind in ("greater", "greater_or_equal") and lo is not None:
        return (lo, kind == "greater_or_equal", None, False)
    if kind in ("less", "less_or_equal") and hi is not None:
        return (None, False, hi, kind == "less_or_equal")
    return None  # functional, custom, structured or incomplete: nothing provable


def strikes_cover_everything(strikes: Sequence[Strike]) -> bool:
    """True only when the legs' YES regions together cover every possible expiration value,
    so that (in a mutually exclusive event) exactly one leg resolves YES."""
    intervals = [_interval(s) for s in strikes]
    known = [i for i in intervals if i is not None]
    if not known or len(known) != len(intervals):
        return False
    # Sweep up from −∞: `reach` is the highest value covered so far (None: +∞).
    reach: _Edge | None = None
    for low, _, high, high_closed in known:
        if low is None:
            reach = _higher(reach, (high, high_closed))
    if reach is None:
        return False  # nothing covers the values below every floor
    rest = sorted((i for i in known if i[0] is not None), key=lambda i: (i[0], not i[1]))
    for low, low_closed, high, high_closed in rest:
        top, top_closed = reach
        if top is None:
            return True
        assert low is not None
        if low > top or (low == top and not (top_closed or low_closed)):
            return False  # a gap: some value would settle every leg NO
        reach = _higher(reach, (high, high_closed))
    return reach[0] is None


_Edge = tuple[Decimal | None, bool]  # an interval's upper end (None: +∞) and whether it is closed


def _higher(a: _Edge | None, b: _Edge) -> _Edge:
    if a is None:
        return b
    if a[0] is None or b[0] is None:
        return (None, False)
    if b[0] > a[0] or (b[0] == a[0] and b[1]):
        return b
    return a


# --- what the guard resolves a place_basket to ---------------------------------------------


@dataclass(frozen=True, slots=True)
class LegOrder:
    """One leg to buy: `quantity` contracts of `side`, limit `price`."""

    market: str
    side: Side
    price: Decimal
    quantity: int


@dataclass(frozen=True, slots=True)
class BasketIntent:
    """The exact basket an allowed place_basket sends: every leg at once, or nothing."""

    event: str
    side: Side
    legs: tuple[LegOrder, ...]
    quantity: int  # baskets, i.e. contracts on every leg
    cost: Decimal  # the most it can cost: every leg at its limit, plus fees
    worst_case_net: Decimal  # the least it can earn if every leg fills in full

    @property
    def markets(self) -> list[str]:
        return [leg.market for leg in self.legs]

    @property
    def payout(self) -> Decimal:
        return payout_per_basket(self.side, len(self.legs)) * self.quantity

    def describe(self) -> str:
        return (
            f"basket {self.event} {self.side.value} ×{self.quantity} on {len(self.legs)} legs "
            f"(limits {', '.join(str(leg.price) for leg in self.legs)})"
        )


# --- what came of a basket at the exchange -------------------------------------------------


class BasketStatus(StrEnum):
    FILLED = "filled"  # every leg filled the same number of contracts (maybe fewer than asked)
    UNWOUND = "unwound"  # legs filled unevenly; the excess was sold back: only whole baskets held
    UNHEDGED = "unhedged"  # legs filled unevenly and the excess could not all be sold back
    NOT_FILLED = "not_filled"  # sent; nothing filled (immediate-or-cancel)
    ABORTED = "aborted"  # not sent: the fresh books no longer made it profitable
    UNKNOWN = "unknown"  # sent, and what happened could not be established


@dataclass(frozen=True, slots=True)
class LegResult:
    market: str
    client_order_id: str
    order_id: str = ""
    filled: int = 0
    average_price: Decimal | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class BasketResult:
    status: BasketStatus
    detail: str
    baskets: int = 0  # whole baskets now held from this send
    legs: tuple[LegResult, ...] = ()
    unwound: tuple[LegResult, ...] = ()  # the sells that took back an uneven leg's excess
    order_group_id: str = ""

    @property
    def needs_attention(self) -> bool:
        """A human must look: naked legs may be held, or nobody knows what is held."""
        return self.status in (BasketStatus.UNHEDGED, BasketStatus.UNKNOWN)

    def as_outcome(self) -> dict[str, object]:
        return {
            "basket_status": self.status.value,
            "baskets": self.baskets,
            "order_group_id": self.order_group_id,
            "legs": [_leg_dict(leg) for leg in self.legs],
            "unwound": [_leg_dict(leg) for leg in self.unwound],
        }


def _leg_dict(leg: LegResult) -> dict[str, object]:
    return {
        "market": leg.market,
        "client_order_id": leg.client_order_id,
        "order_id": leg.order_id,
        "filled": leg.filled,
        "average_price": None if leg.average_price is None else str(leg.average_price),
        "error": leg.error,
    }


def leg_client_order_ids(client_order_id: str, legs: int, kind: str = "b") -> list[str]:
    """One id per leg, derived from the action's own id, so a retried basket is the same
    orders to the exchange (`kind` "b" for the buys, "u" for the unwinding sells)."""
    return [f"{client_order_id}-{kind}{index}" for index in range(legs)]
