"""What the orders we placed meant, which Kalshi's V2 book does not say.

A sell of YES and a buy of NO are the same order on the V2 book (an ask), so an order read back
from Kalshi is a buy unless we remember otherwise. `IntentBook` remembers, keyed by
client_order_id and by order_id; the journal (the Store) keeps the sells across a restart. A buy
reads right from its book side anyway, so only sells are journaled.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from director.clock import Clock
from director.exchanges.kalshi.portfolio_models import Intent, parse_fill, parse_order
from director.models import Fill, Order, OrderAction, Side

log = logging.getLogger(__name__)

MAX_REMEMBERED_INTENTS = 10_000


class IntentJournal(Protocol):
    """Where what an order meant outlives the process (the Store implements it)."""

    async def save_order_intent(self, key: str, side: str, action: str, now: datetime) -> None: ...

    async def recent_order_intents(self, limit: int) -> list[tuple[str, str, str]]: ...


class IntentBook:
    def __init__(self, journal: IntentJournal | None, clock: Clock) -> None:
        self._intents: OrderedDict[str, Intent] = OrderedDict()
        self._journal = journal
        self._clock = clock

    async def restore(self) -> int:
        """Reload, from the journal, what the orders placed before a restart meant."""
        if self._journal is None:
            return 0
        restored = 0
        for key, side, action in await self._journal.recent_order_intents(MAX_REMEMBERED_INTENTS):
            try:
                self._keep(key, (Side(side), OrderAction(action)))
            except ValueError:
                log.warning("kalshi: skipped an unreadable order intent for %s", key)
                continue
            restored += 1
        return restored

    async def remember(self, key: str, intent: Intent) -> None:
        self._keep(key, intent)
        if self._journal is None or intent[1] is OrderAction.BUY:
            return
        try:
            await self._journal.save_order_intent(
                key, intent[0].value, intent[1].value, self._clock()
            )
        except Exception:
            # The order matters more than its bookkeeping: go on, and say what it costs.
            log.exception(
                "kalshi: could not record that %s is a sell; after a restart it reads as a buy "
                "of the other side",
                key,
            )

    def _keep(self, key: str, intent: Intent) -> None:
        self._intents[key] = intent
        self._intents.move_to_end(key)
        while len(self._intents) > MAX_REMEMBERED_INTENTS:
            self._intents.popitem(last=False)

    def intent_for(self, raw: Any) -> Intent | None:
        if not isinstance(raw, Mapping):
            return None
        for key in ("order_id", "client_order_id"):
            value = raw.get(key)
            if isinstance(value, str) and value in self._intents:
                return self._intents[value]
        return None

    def order(self, raw: Any) -> Order:
        return parse_order(raw, self.intent_for(raw))

    def fill(self, raw: Any) -> Fill:
        return parse_fill(raw, self.intent_for(raw))


class KnownOrders:
    """The last state of the orders this process placed or listed, so a cancel needs no
    lookup first (one request, not three). Only a hint: a cancel's answer is the truth."""

    def __init__(self) -> None:
        self._orders: OrderedDict[str, Order] = OrderedDict()

    def note(self, order: Order) -> Order:
        self._orders[order.order_id] = order
        self._orders.move_to_end(order.order_id)
        while len(self._orders) > MAX_REMEMBERED_INTENTS:
            self._orders.popitem(last=False)
        return order

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)
