"""Shared pieces for the bot's end-to-end tests (a helper module: it holds no tests).

The real bot (bot.app.OmegaBot, the real PTB Application) talks real HTTP to the Bot API
stand-in; the real Director runs the real rules brain and guard over a small in-memory venue
whose markets each test chooses (so a market can be titled "<b>x</b> & y").
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app import BotTuning, OmegaBot
from bot.retry import RetryPolicy
from director.brains.base import ThinkContext, ThinkResult
from director.brains.rules import RulesBrain
from director.director import Director
from director.exchanges.base import ExchangeError, MarketClosed, OrderNotFound
from director.models import (
    Fill,
    Market,
    MarketStatus,
    Opportunity,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    SystemState,
)
from director.reporting import Reporter
from director.rulebook import RuleSet
from director.settings import Settings
from director.store import Store
from tests.builders import order_for
from tests.clocks import ManualClock, real_time_clock
from tests.fakes import ListSource
from tests.telegram_standin import StoredMessage, TelegramStandIn

OPERATOR = 1001  # the first allowed user: the report chat
DEPUTY = 1002  # the second allowed user
STRANGER = 6666  # not allowed
D = Decimal

FAST = BotTuning(
    connect_timeout=1.0,
    read_timeout=1.0,
    write_timeout=1.0,
    pool_timeout=1.0,
    poll_timeout=1,
    expiry_check_seconds=3600.0,  # tests expire approvals explicitly
    shutdown_grace_seconds=5.0,
    outbox_drain_seconds=3.0,
    retry_max_seconds=0.2,
    retry=RetryPolicy(attempts=4, first_backoff_seconds=0.05, deadline_seconds=5.0),
)


def market(ticker: str, title: str = "", ask: str = "0.42", bid: str = "0.40") -> Market:
    return Market(
        ticker=ticker,
        title=title or f"Will {ticker} happen?",
        yes_bid=D(bid),
        yes_ask=D(ask),
        status=MarketStatus.OPEN,
    )


def opportunity(
    ticker: str, clock: ManualClock, edge: str = "0.15", conf: str = "0.8"
) -> Opportunity:
    return Opportunity(
        market=ticker,
        side=Side.YES,
        edge=D(edge),
        confidence=D(conf),
        expires_at=clock() + timedelta(days=30),
        source="test-scanner",
    )


class BookExchange:
    """A venue whose orders rest until canceled; idempotent on client order id."""

    name = "paper"

    def __init__(
        self, markets: Sequence[Market], cash: str = "1000", clock: ManualClock | None = None
    ):
        self.markets = {m.ticker: m for m in markets}
        self.cash = D(cash)
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, str] = {}
        self.positions: list[Position] = []
        self.placed: list[OrderRequest] = []
        self._ids = itertools.count(1)
        self._clock = clock or real_time_clock()

    async def get_balance(self) -> Decimal:
        return self.cash

    async def get_positions(self) -> list[Position]:
        return list(self.positions)

    async def get_resting_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.status is OrderStatus.RESTING]

    async def get_fills(self, since: datetime | None = None) -> list[Fill]:
        return []

    async def get_markets(self, tickers: Sequence[str] | None = None) -> list[Market]:
        if tickers is None:
            return [m for m in self.markets.values() if m.is_open]
        return [self.markets[t] for t in tickers if t in self.markets]

    async def place_order(self, request: OrderRequest) -> Order:
        if request.client_order_id in self.by_client_id:
            return self.orders[self.by_client_id[request.client_order_id]]
        market = self.markets.get(request.market)
        if market is None or not market.is_open:
            raise MarketClosed(f"{request.market} is not open")
        cost = request.price * request.quantity
        if cost > self.cash:
            raise ExchangeError("insufficient funds")
        self.cash -= cost
        order = order_for(request, f"ord-{next(self._ids)}", filled=False, created_at=self._clock())
        self.orders[order.order_id] = order
        self.by_client_id[request.client_order_id] = order.order_id
        self.placed.append(request)
        return order

    async def cancel_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.status is not OrderStatus.RESTING:
            raise OrderNotFound(order_id)
        self.cash += order.reserved
        canceled = order.model_copy(update={"status": OrderStatus.CANCELED})
        self.orders[order_id] = canceled
        return canceled

    async def close(self) -> None:
        return None


HEAT_TITLE = "Heat wave in July?"

# Auto autonomy with a threshold above the test order's cost: the first cycle executes it.
AUTO = {"autonomy_setting": "auto", "approval_cost_threshold_setting": "100"}


def one_opportunity(clock: ManualClock, title: str = "") -> tuple[BookExchange, ListSource]:
    """A venue with one open market, KXHEAT, and a scanner that finds an edge in it."""
    exchange = BookExchange([market("KXHEAT", title=title)], clock=clock)
    return exchange, ListSource([opportunity("KXHEAT", clock)])


class GatedBrain:
    """The rules brain behind a gate: think() waits until the test opens it (a slow AI call)."""

    name = "gated-rules"

    def __init__(self, settings: Settings) -> None:
        self.rules = RulesBrain(settings)
        self.gate = asyncio.Event()  # open until a test clears it
        self.gate.set()
        self.entered = asyncio.Event()

    def hold(self) -> None:
        """From the next think() on: set `entered` there and wait until `gate` is set."""
        self.gate.clear()
        self.entered.clear()

    async def think(self, state: SystemState, rules: RuleSet, context: ThinkContext) -> ThinkResult:
        self.entered.set()
        await self.gate.wait()
        result = await self.rules.think(state, rules, context)
        result.brain = self.name
        return result

    async def close(self) -> None:
        return None


def make_settings(tg: TelegramStandIn, db_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": tg.token,
        "telegram_api_base_url": tg.base_url,
        "allowed_users": [OPERATOR, DEPUTY],
        "cycle_seconds": 3600,
        "db_path": db_path,
        "autonomy_setting": "confirm",
        "brain": "rules",
        "review_schedule_text": "off",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class Harness:
    tg: TelegramStandIn
    bot: OmegaBot
    director: Director
    exchange: BookExchange
    clock: ManualClock
    source: ListSource
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def command(self, text: str, *, user: int = OPERATOR) -> StoredMessage:
        """Type `text` as `user` and return the bot's first reply in that chat."""
        before = self.tg.last_message_id(user)
        self.tg.send_command(user, text)
        return await self.tg.wait_for(
            lambda: next(
                (m for m in self.tg.bot_messages(user) if m.message_id > before + 1), None
            ),
            what=f"a reply to {text!r}",
        )

    async def replies_after(
        self, text: str, count: int, *, user: int = OPERATOR
    ) -> list[StoredMessage]:
        before = self.tg.last_message_id(user)
        self.tg.send_command(user, text)

        def found() -> list[StoredMessage] | None:
            replies = [m for m in self.tg.bot_messages(user) if m.message_id > before + 1]
            return replies if len(replies) >= count else None

        return await self.tg.wait_for(found, what=f"{count} replies to {text!r}")

    async def cycle_done(self, cycle_id: int) -> None:
        """Wait until cycle `cycle_id` is recorded and its reporting is through the outbox."""

        async def finished() -> bool:
            record = await self.director.store.cycle(cycle_id)
            return record is not None and record.status != "running"

        await eventually(finished, what=f"cycle {cycle_id} to finish")
        await self.bot.runner.wait()
        await self.bot.outbox.join()

    async def approval_message(self, approval_id: int) -> StoredMessage:
        return await self.tg.wait_for_message(f"Approval needed #{approval_id}", chat_id=OPERATOR)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, what: str = "a condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Directors:
    """A director factory for OmegaBot: a Director on `settings.db_path` with these parts (the
    rules brain unless told), each one it builds kept in `built`."""

    def __init__(
        self,
        settings: Settings,
        exchange: BookExchange,
        clock: ManualClock,
        *,
        brain: Any = None,
        sources: Sequence[ListSource] = (),
    ) -> None:
        self.settings, self.exchange, self.clock = settings, exchange, clock
        self.brain, self.sources = brain, list(sources)
        self.built: list[Director] = []

    async def __call__(self, reporter: Reporter) -> Director:
        director = Director(
            settings=self.settings,
            store=await Store.open(self.settings.db_path),
            exchange=self.exchange,
            brain=self.brain or RulesBrain(self.settings),
            reporter=reporter,
            clock=self.clock,
            sources=self.sources,
        )
        self.built.append(director)
        return director


@asynccontextmanager
async def running_bot(
    tg: TelegramStandIn,
    settings: Settings,
    *,
    exchange: BookExchange,
    clock: ManualClock,
    source: ListSource | None = None,
    brain: Any = None,
    first_cycle: bool = True,
    tuning: BotTuning = FAST,
) -> AsyncIterator[Harness]:
    """The bot up and polling; by default after its first cycle (run at start) is reported."""
    source = source or ListSource()
    factory = Directors(settings, exchange, clock, brain=brain, sources=[source])
    bot = await OmegaBot.create(settings, tuning=tuning, director_factory=factory)
    harness = Harness(tg, bot, factory.built[0], exchange, clock, source)
    try:
        assert await bot.start(harness.stop)
        await asyncio.wait_for(bot.connected.wait(), 10)
        if first_cycle:
            await eventually(
                lambda: _cycle_count_at_least(harness.director, 1), what="the first cycle to start"
            )
            await harness.cycle_done(1)
        yield harness
    finally:
        await bot.stop()


async def _cycle_count_at_least(director: Director, n: int) -> bool:
    return await director.store.cycle_count() >= n
