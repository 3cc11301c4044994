"""The paper account's book: its state and its rules, in memory, with no I/O.

The rules are paper.py's (see its docstring); this module holds the state they act on and the
pure operations on it, so the venue (paper.py) and the persistence (paper_store.py) share it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from director.exchanges.base import ExchangeError, InsufficientFunds, MarketClosed, OrderNotFound

# Re-exported: paper.py and paper_store.py read them from here.
from director.exchanges.book_math import AVG_PRICE_STEP as AVG_PRICE_STEP
from director.exchanges.book_math import ZERO as ZERO
from director.exchanges.book_math import Holding as Holding
from director.exchanges.book_math import (
    book_fill,
    canceled,
    new_fill,
    new_order,
    settle_holdings,
)
from director.exchanges.paper_fills import commit_take, plan_take, resting_fill
from director.exchanges.paper_sim import (
    CENTS,
    STEPS_PER_HOUR,
    SimMarket,
    Simulator,
    time_of,
)
from director.fees import maker_fee, taker_fee
from director.models import (
    CENT,
    Fill,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    Side,
)

log = logging.getLogger(__name__)

# Settled markets stay in memory this long (for get_markets on a just-settled position);
# older ones are read from the database on demand.
RETAIN_STEPS = 48 * STEPS_PER_HOUR
_CATCH_UP_LOG_STEPS = 12 * STEPS_PER_HOUR
# Per contract: no maker fill can cost more (ceil(0.0175 × n × 0.25) ≤ 0.02 × n for n ≥ 1).
MAKER_FEE_HOLD = Decimal("0.02")


@dataclass(frozen=True)
class PaperAccount:
    """The account's books at one moment (for backtests, reports and tests)."""

    seed: int
    starting_cash: Decimal
    cash: Decimal  # available: resting buys' reserve already taken out
    reserved: Decimal  # held back by resting buys
    positions_cost: Decimal  # what the contracts still held cost
    fees_paid: Decimal
    realized_pnl: Decimal  # from sells and settlements, before fees


@dataclass(frozen=True)
class Settlement:
    """How a market this account held settled (fees are in the fills)."""

    market: str
    event_ticker: str
    result: Side
    settled_at: datetime
    fair_at_close: float
    yes_quantity: int
    no_quantity: int
    cost: Decimal
    payout: Decimal

    @property
    def pnl(self) -> Decimal:
        return self.payout - self.cost


def order_seq(order_id: str) -> int:
    return int(order_id.split("-", 1)[1])


def price_cents(price: object) -> int:
    """Whole cents 1..99 of a Decimal dollar price, or ExchangeError saying why not."""
    if not isinstance(price, Decimal) or not price.is_finite():
        raise ExchangeError(f"price must be a finite Decimal, got {price!r}")
    try:
        whole = price.quantize(CENT)
    except InvalidOperation:
        raise ExchangeError(f"price {price} is not a valid amount") from None
    if whole != price:
        raise ExchangeError(f"price {price} is not a whole cent")
    if not CENTS[1] <= price <= CENTS[99]:
        raise ExchangeError(f"price {price} is outside 0.01-0.99")
    return int(whole * 100)


@dataclass
class Book:
    sim: Simulator
    starting_cash: Decimal
    cash: Decimal
    fees_paid: Decimal
    realized_pnl: Decimal
    origin_step: int
    last_now: datetime
    next_order_seq: int
    next_fill_seq: int
    revision: int
    created_at: datetime
    holdings: dict[tuple[str, Side], Holding] = field(default_factory=dict)
    resting: dict[str, Order] = field(default_factory=dict)  # by order id, in seq order
    # What the next write must save.
    orders_dirty: dict[str, tuple[Order, datetime]] = field(default_factory=dict)
    new_fills: list[Fill] = field(default_factory=list)
    holdings_dirty: set[tuple[str, Side]] = field(default_factory=set)
    new_settlements: list[Settlement] = field(default_factory=list)
    account_dirty: bool = False
    evicted_at: int = 0

    @property
    def dirty(self) -> bool:
        return bool(
            self.account_dirty
            or self.sim.dirty
            or self.orders_dirty
            or self.new_fills
            or self.holdings_dirty
            or self.new_settlements
        )

    def saved(self) -> None:
        self.sim.saved()
        self.orders_dirty.clear()
        self.new_fills.clear()
        self.holdings_dirty.clear()
        self.new_settlements.clear()
        self.account_dirty = False
        if self.sim.step - self.evicted_at >= STEPS_PER_HOUR:
            self.sim.evict(self.sim.step - RETAIN_STEPS)
            self.evicted_at = self.sim.step

    @property
    def reserved(self) -> Decimal:
        return sum((o.reserved for o in self.resting.values()), ZERO)

    def offered(self, market: str, side: Side) -> int:
        """Contracts of (market, side) that resting sells already promise."""
        return sum(
            o.remaining
            for o in self.resting.values()
            if o.action is OrderAction.SELL and o.market == market and o.side is side
        )

    def resting_by_client(self, client_order_id: str) -> Order | None:
        return next(
            (o for o in self.resting.values() if o.client_order_id == client_order_id), None
        )

    def account(self) -> PaperAccount:
        return PaperAccount(
            seed=self.sim.seed,
            starting_cash=self.starting_cash,
            cash=self.cash,
            reserved=self.reserved,
            positions_cost=sum((h.cost for h in self.holdings.values()), ZERO),
            fees_paid=self.fees_paid,
            realized_pnl=self.realized_pnl,
        )

    # --- time ----------------------------------------------------------------------------

    def advance_to(self, target: int) -> int:
        """Step the simulation up to `target`; returns how many steps were taken."""
        steps = max(0, target - self.sim.step)
        if steps >= _CATCH_UP_LOG_STEPS:
            log.info("paper exchange: catching up %d steps (%s)", steps, time_of(target))
        for _ in range(steps):
            result = self.sim.advance()
            at = time_of(result.step)
            for market in result.settled:
                self._settle(market, at)
            self._match(at)
        if steps:
            self.account_dirty = True
        return steps

    def _settle(self, market: SimMarket, at: datetime) -> None:
        for order in [o for o in self.resting.values() if o.market == market.ticker]:
            self._cancel(order, at)
        assert market.result is not None
        settled = settle_holdings(self.holdings, market.ticker, market.result)
        if settled is None:
            return
        assert market.fair_at_close is not None
        yes, no = settled.yes, settled.no
        self.cash += settled.payout
        self.realized_pnl += settled.pnl
        self.holdings_dirty.update({(market.ticker, Side.YES), (market.ticker, Side.NO)})
        self.new_settlements.append(
            Settlement(
                market=market.ticker,
                event_ticker=market.event_ticker,
                result=market.result,
                settled_at=at,
                fair_at_close=market.fair_at_close,
                yes_quantity=yes.quantity if yes else 0,
                no_quantity=no.quantity if no else 0,
                cost=settled.cost,
                payout=settled.payout,
            )
        )
        self.account_dirty = True

    def _match(self, at: datetime) -> None:
        """Fill what the step's flow reaches of every resting order, at its price, as maker
        (paper_fills.py decides how much)."""
        sim = self.sim
        for order in list(self.resting.values()):
            market = sim.markets[order.market]
            qty = resting_fill(
                market, sim.depth(market), order, sim.fair(market.ticker), sim.seed, sim.step
            )
            if qty == 0:
                continue
            left = order.remaining - qty
            status = OrderStatus.FILLED if left == 0 else OrderStatus.RESTING
            updated = order.model_copy(update={"remaining": left, "status": status})
            if left == 0:
                del self.resting[order.order_id]
            else:
                self.resting[order.order_id] = updated
            self.orders_dirty[order.order_id] = (updated, at)
            fee = maker_fee(qty, order.price) if sim.maker_fee_applies(market) else ZERO
            self._fill(updated, qty, order.price, fee, taker=False, at=at)

    # --- orders --------------------------------------------------------------------------

    def place(self, request: OrderRequest, now: datetime) -> Order:
        """Execute a validated request; refusals raise before anything changes. What the
        order can take at once it takes, level by level up to its limit, as taker; the rest
        rests at the limit."""
        market = self.sim.markets.get(request.market)
        if market is None or not market.is_open:
            raise MarketClosed(f"market {request.market} is not open for trading")
        cents = price_cents(request.price)
        qty, side, action = request.quantity, request.side, request.action
        if action is OrderAction.SELL:
            self._check_sellable(request)
        depth = self.sim.depth(market)
        levels = plan_take(market, depth, side, action, qty, cents)
        fills = [(CENTS[c], n, taker_fee(n, CENTS[c])) for c, n in levels]
        left = qty - sum(n for _, n, _ in fills)
        if action is OrderAction.BUY:
            taken_cost = sum((price * n + fee for price, n, fee in fills), ZERO)
            needed = taken_cost + request.price * left
            if left and self.sim.maker_fee_applies(market):
                needed += MAKER_FEE_HOLD * left
            self._require_cash(needed, request, "with the taker fee" if fills else "to rest")
        status = OrderStatus.RESTING if left else OrderStatus.FILLED
        order = self._new_order(request, status, left, now)
        commit_take(market, depth, side, action, levels)
        for price, n, fee in fills:
            self._fill(order, n, price, fee, taker=True, at=now)
        if left:
            if action is OrderAction.BUY:
                self.cash -= request.price * left
            self.resting[order.order_id] = order
        return order

    def _check_sellable(self, request: OrderRequest) -> None:
        held = self.holdings.get((request.market, request.side))
        held_qty = held.quantity if held else 0
        offered = self.offered(request.market, request.side)
        if request.quantity > held_qty - offered:
            also = f", {offered} already offered by resting sells" if offered else ""
            raise ExchangeError(
                f"cannot sell {request.quantity} {request.side.value} of {request.market}: "
                f"{held_qty} held{also}"
            )

    def cancel(self, order_id: str, now: datetime) -> Order:
        order = self.resting.get(order_id)
        if order is None:
            raise OrderNotFound(f"no resting order {order_id}")
        return self._cancel(order, now)

    def _cancel(self, order: Order, at: datetime) -> Order:
        del self.resting[order.order_id]
        self.cash += order.reserved
        done = canceled(order)
        self.orders_dirty[order.order_id] = (done, at)
        self.account_dirty = True
        return done

    def maker_fees_due(self) -> Decimal:
        """An upper bound of the maker fees resting buys may still pay: cash kept free for
        them, so a maker fill never takes the balance below zero."""
        return sum(
            (
                MAKER_FEE_HOLD * o.remaining
                for o in self.resting.values()
                if o.action is OrderAction.BUY
                and self.sim.maker_fee_applies(self.sim.markets[o.market])
            ),
            ZERO,
        )

    def _require_cash(self, needed: Decimal, request: OrderRequest, why: str) -> None:
        available = self.cash - self.maker_fees_due()
        if needed > available:
            raise InsufficientFunds(
                f"{request.action.value} {request.quantity} {request.side.value} of "
                f"{request.market} needs ${needed} {why}; ${available} available"
            )

    def _new_order(
        self, request: OrderRequest, status: OrderStatus, remaining: int, now: datetime
    ) -> Order:
        order = new_order(
            request,
            order_id=f"po-{self.next_order_seq:08d}",
            remaining=remaining,
            status=status,
            created_at=now,
        )
        self.next_order_seq += 1
        self.orders_dirty[order.order_id] = (order, now)
        self.account_dirty = True
        return order

    def _fill(
        self, order: Order, qty: int, price: Decimal, fee: Decimal, *, taker: bool, at: datetime
    ) -> None:
        key = (order.market, order.side)
        amount = price * qty
        realized = book_fill(self.holdings, order, qty, price)
        if order.action is OrderAction.BUY:
            # A maker buy's price was paid from its reserve (price × remaining, which shrank
            # with this fill); only its fee comes out of cash.
            self.cash -= amount + fee if taker else fee
        else:
            self.cash += amount - fee
            self.realized_pnl += realized
        self.fees_paid += fee
        self.holdings_dirty.add(key)
        self.account_dirty = True
        fill_id = f"pf-{self.next_fill_seq:08d}"
        self.new_fills.append(new_fill(fill_id, order, qty, price, fee, taker=taker, at=at))
        self.next_fill_seq += 1
