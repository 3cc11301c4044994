"""The replay venue: the Exchange port over a recording, for `backtest --replay`.

The backtest applies the recording one poll at a time (`apply`), each at the poll's time on
the simulated clock; between polls the market stands still. The account lives in memory:

- Quotes and depth are as recorded. A market line with books has those levels; one without
  has the touch and the size recorded at it, and nothing behind. Each market keeps its
  recorded tick grid (director/ticks.py; whole cents where none was recorded): an order off
  it is refused, as Kalshi refuses it, and the cost a partial sell releases is rounded to
  the grid's finest tick.
- A buy walks the asks (the other side's bids, mirrored) from the cheapest up to its limit,
  a sell walks its side's bids down to its limit, as taker, each level a fill at that level's
  price paying `trade_fee` (director/fees.py) under the market's recorded fee schedule. Depth
  taken stays taken until the recording brings a new line for that market (a changed book is
  what was recorded next), so no order, nor several together, ever fill more than the
  recorded depth. What is left rests.
- A resting order fills, as maker at its own price, paying the maker fee where the market's
  schedule has one, at a later poll whose recorded book crosses it, and only up to the
  contracts recorded at prices that cross it. The maker fees a resting order may owe are held
  back from the balance, as on the paper venue. A market whose schedule is not modelled
  (Kalshi's `flat`) refuses orders rather than guess a fee.
- A settlement line pays winning contracts $1 and cancels what rests on the market.
- A market the recording stops following (`gone`) is closed here: resting orders on it are
  canceled; a position in it keeps its last recorded quote as its mark.
- Money: Decimal dollars; cash + reserved + cost of holdings == start + realized − fees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from director.clock import Clock
from director.exchanges.base import ExchangeError, InsufficientFunds, MarketClosed, OrderNotFound
from director.exchanges.book_math import (
    ZERO,
    Holding,
    book_fill,
    canceled,
    new_fill,
    new_order,
    settle_holdings,
)
from director.fees import trade_fee
from director.models import (
    Fill,
    Market,
    MarketStatus,
    Order,
    OrderAction,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
)
from director.recorder.format import MarketLine
from director.recorder.reader import Poll
from director.ticks import describe, finest_step, on_grid

BookKey = tuple[Side, Decimal]  # (the side whose bid it is, the bid price), in one market


@dataclass(frozen=True)
class ReplayAccount:
    cash: Decimal
    reserved: Decimal
    positions_cost: Decimal
    fees_paid: Decimal
    realized_pnl: Decimal
    starting_cash: Decimal


class ReplayExchange:
    """See the module docstring. Not thread-safe; one backtest at a time."""

    name = "replay"
    creates_apply_at_once = True  # an order placed is visible at once (director/reconcile.py)

    def __init__(self, *, starting_cash: Decimal, clock: Clock) -> None:
        self._clock = clock
        self.starting_cash = starting_cash
        self.cash = starting_cash
        self.fees_paid = ZERO
        self.realized_pnl = ZERO
        self.lines: dict[str, MarketLine] = {}
        self.results: dict[str, Side] = {}  # every result recorded so far
        self.holdings: dict[tuple[str, Side], Holding] = {}
        self.resting: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self._orders: dict[str, Order] = {}  # every order by client order id
        self._taken: dict[str, dict[BookKey, Decimal]] = {}  # by market
        self._seq = 0
        self.polls = 0

    # --- the recording -------------------------------------------------------------------

    def apply(self, poll: Poll) -> None:
        """The market as of `poll`: new quotes, settlements paid, resting orders matched."""
        for line in poll.markets:
            self.lines[line.ticker] = line
            self._taken.pop(line.ticker, None)
        for ticker in poll.gone:
            self._gone(ticker)
        for settlement in poll.settlements:
            self.results[settlement.ticker] = settlement.result
            self._settle(settlement.ticker, settlement.result)
            self.lines.pop(settlement.ticker, None)
        self._match(poll.at)
        self.polls += 1

    def _gone(self, ticker: str) -> None:
        for order in [o for o in self.resting.values() if o.market == ticker]:
            self._cancel(order)
        line = self.lines.pop(ticker, None)
        if line is not None and any(t == ticker for t, _ in self.holdings):
            self.lines[ticker] = line.replaced(status=MarketStatus.CLOSED)

    def _settle(self, ticker: str, result: Side) -> None:
        for order in [o for o in self.resting.values() if o.market == ticker]:
            self._cancel(order)
        settled = settle_holdings(self.holdings, ticker, result)
        if settled is not None:
            self.cash += settled.payout
            self.realized_pnl += settled.pnl

    def _match(self, at: datetime) -> None:
        for order in sorted(self.resting.values(), key=lambda o: o.order_id):
            line = self.lines.get(order.market)
            if line is None or line.status is not MarketStatus.OPEN:
                continue
            walked = self._walk(line, order.side, order.action, order.price, order.remaining)
            quantity = sum(q for _, q, _ in walked)
            if quantity == 0:
                continue
            self._take(order.market, walked)
            fee = trade_fee(quantity, order.price, line.fees, maker=True, at=at)
            self._fill(order, quantity, order.price, fee, taker=False, at=at, line=line)
            self._update(order, order.remaining - quantity)

    # --- the Exchange port ---------------------------------------------------------------

    async def get_balance(self) -> Decimal:
        return self.cash - self._maker_fees_due()

    async def get_positions(self) -> list[Position]:
        out = []
        for (ticker, side), holding in sorted(self.holdings.items()):
            line = self.lines.get(ticker)
            out.append(
                Position(
                    market=ticker,
                    side=side,
                    quantity=holding.quantity,
                    avg_price=holding.avg_price,
                    mark_price=None if line is None else self._market(line).mark(side),
                )
            )
        return out

    async def get_resting_orders(self) -> list[Order]:
        return list(self.resting.values())

    async def get_fills(self, since: datetime | None = None) -> list[Fill]:
        return [f for f in self.fills if since is None or f.created_at >= since]

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        if tickers is None:
            return [self._market(m) for m in self.lines.values() if m.status is MarketStatus.OPEN]
        found = []
        for ticker in dict.fromkeys(tickers):
            line = self.lines.get(ticker)
            if line is not None:
                found.append(self._market(line))
            elif ticker in self.results:
                found.append(
                    Market(ticker=ticker, status=MarketStatus.SETTLED, result=self.results[ticker])
                )
        return found

    async def place_order(self, request: OrderRequest) -> Order:
        existing = self._orders.get(request.client_order_id)
        if existing is not None:
            return self.resting.get(existing.order_id, existing)
        line = self.lines.get(request.market)
        if line is None or line.status is not MarketStatus.OPEN:
            raise MarketClosed(f"market {request.market} is not open for trading")
        if not on_grid(request.price, line.ticks):
            raise ExchangeError(
                f"price {request.price} is off {request.market}'s grid ({describe(line.ticks)})"
            )
        if not line.fees.modelled:
            raise ExchangeError(
                f"market {request.market}: fees {line.fees.describe()} are not modelled"
            )
        if request.quantity <= 0:
            raise ExchangeError("quantity must be a positive whole number of contracts")
        if request.action is OrderAction.SELL:
            self._check_held(request)
        walked = self._walk(line, request.side, request.action, request.price, request.quantity)
        filled = sum(q for _, q, _ in walked)
        now = self._clock()
        fees = [trade_fee(q, price, line.fees, at=now) for price, q, _ in walked]
        rest = request.quantity - filled
        owed = trade_fee(rest, request.price, line.fees, maker=True, at=now)
        needed = owed + sum(fees, ZERO)
        if request.action is OrderAction.BUY:
            needed += sum((price * q for price, q, _ in walked), ZERO) + request.price * rest
        available = await self.get_balance()
        if needed > available:
            raise InsufficientFunds(
                f"{request.action.value} {request.quantity} {request.side.value} of "
                f"{request.market} needs ${needed} with fees and reserve; ${available} available"
            )
        order = self._new_order(request)
        self._take(request.market, walked)
        for (price, q, _), fee in zip(walked, fees, strict=True):
            self._fill(order, q, price, fee, taker=True, at=order.created_at, line=line)
        return self._update(order, request.quantity - filled)

    async def cancel_order(self, order_id: str) -> Order:
        order = self.resting.get(order_id)
        if order is None:
            known = next((o for o in self._orders.values() if o.order_id == order_id), None)
            if known is None:
                raise OrderNotFound(f"no order {order_id}")
            raise ExchangeError(f"order {order_id} is not resting: nothing to cancel")
        return self._cancel(order)

    async def close(self) -> None:
        return None

    async def order_by_client_id(self, market: str, client_order_id: str) -> Order | None:
        """The order `client_order_id` created on `market`, in any status (reconcile.py)."""
        order = self._orders.get(client_order_id)
        return order if order is not None and order.market == market else None

    # --- extras for the backtest ---------------------------------------------------------

    def account(self) -> ReplayAccount:
        return ReplayAccount(
            cash=self.cash,
            reserved=sum((o.reserved for o in self.resting.values()), ZERO),
            positions_cost=sum((h.cost for h in self.holdings.values()), ZERO),
            fees_paid=self.fees_paid,
            realized_pnl=self.realized_pnl,
            starting_cash=self.starting_cash,
        )

    # --- internals -----------------------------------------------------------------------

    def _market(self, line: MarketLine) -> Market:
        market = line.to_market()
        if line.ticker in self.results:
            return market.model_copy(
                update={"status": MarketStatus.SETTLED, "result": self.results[line.ticker]}
            )
        return market

    def _walk(
        self, line: MarketLine, side: Side, action: OrderAction, limit: Decimal, quantity: int
    ) -> list[tuple[Decimal, int, BookKey]]:
        """(price, contracts, book level) an order of `quantity` would take now, best first,
        never more than the recorded depth less what this poll already took."""
        if action is OrderAction.BUY:
            levels = [(p, s, (side.other, 1 - p)) for p, s in line.asks(side)]
            levels = [level for level in levels if level[0] <= limit]
        else:
            levels = [(p, s, (side, p)) for p, s in line.bids(side)]
            levels = [level for level in levels if level[0] >= limit]
        taken = self._taken.get(line.ticker, {})
        out: list[tuple[Decimal, int, BookKey]] = []
        left = quantity
        for price, size, key in levels:
            if left == 0:
                break
            free = int(size - taken.get(key, ZERO))  # whole contracts only
            take = min(left, max(free, 0))
            if take:
                out.append((price, take, key))
                left -= take
        return out

    def _maker_fees_due(self) -> Decimal:
        """What the resting orders would pay in maker fees if they filled now."""
        due = ZERO
        for order in self.resting.values():
            line = self.lines.get(order.market)
            if line is not None and line.fees.modelled:
                due += trade_fee(order.remaining, order.price, line.fees, maker=True)
        return due

    def _take(self, ticker: str, walked: list[tuple[Decimal, int, BookKey]]) -> None:
        taken = self._taken.setdefault(ticker, {})
        for _, q, key in walked:
            taken[key] = taken.get(key, ZERO) + q

    def _check_held(self, request: OrderRequest) -> None:
        holding = self.holdings.get((request.market, request.side))
        held = holding.quantity if holding else 0
        offered = sum(
            o.remaining
            for o in self.resting.values()
            if o.action is OrderAction.SELL
            and o.market == request.market
            and o.side is request.side
        )
        if request.quantity > held - offered:
            raise ExchangeError(
                f"cannot sell {request.quantity} {request.side.value} of {request.market}: "
                f"{held} held, {offered} already offered"
            )

    def _new_order(self, request: OrderRequest) -> Order:
        self._seq += 1
        order = new_order(
            request,
            order_id=f"ro-{self._seq:08d}",
            remaining=request.quantity,
            status=OrderStatus.RESTING,
            created_at=self._clock(),
        )
        self._orders[request.client_order_id] = order
        return order

    def _update(self, order: Order, remaining: int) -> Order:
        """Record `order` with `remaining` contracts left: resting (holding back cash for a
        buy) or filled."""
        was = self.resting.pop(order.order_id, None)
        if was is not None:
            self.cash += was.reserved
        status = OrderStatus.RESTING if remaining else OrderStatus.FILLED
        now = order.model_copy(update={"remaining": remaining, "status": status})
        if remaining:
            self.resting[order.order_id] = now
            self.cash -= now.reserved
        self._orders[order.client_order_id or order.order_id] = now
        return now

    def _cancel(self, order: Order) -> Order:
        del self.resting[order.order_id]
        self.cash += order.reserved
        done = canceled(order)
        self._orders[order.client_order_id or order.order_id] = done
        return done

    def _fill(
        self,
        order: Order,
        qty: int,
        price: Decimal,
        fee: Decimal,
        *,
        taker: bool,
        at: datetime,
        line: MarketLine,
    ) -> None:
        amount = price * qty
        realized = book_fill(self.holdings, order, qty, price, tick=finest_step(line.ticks))
        if order.action is OrderAction.BUY:
            # A maker buy's price comes out of its reserve, released to cash in _update.
            self.cash -= amount + fee
        else:
            self.cash += amount - fee
            self.realized_pnl += realized
        self.fees_paid += fee
        fill_id = f"rf-{len(self.fills) + 1:08d}"
        self.fills.append(new_fill(fill_id, order, qty, price, fee, taker=taker, at=at))
