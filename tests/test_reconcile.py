"""The order state machine and reconciliation, in-process: an unclear create is recorded
`unknown` (never `failed`), its market takes no new order until the exchange says what became
of it, and "not there" only counts once the settle window has passed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from director.act import outcome_unknown
from director.baskets import leg_client_order_ids
from director.director import Director
from director.exchanges.base import ExchangeError, InsufficientFunds
from director.models import (
    BasketLegDetails,
    Order,
    OrderRequest,
    OrderStatus,
    PlaceBasket,
    PlaceBasketDetails,
    Plan,
    Side,
)
from director.settings import Settings
from director.store import ActionStatus, Store
from director.store.exec_journal import ExecState, mark
from tests.builders import NOW, D, buy, market, opportunity
from tests.clocks import ManualClock
from tests.fakes import FakeExchange, ListSource, RecordingReporter, ScriptedBrain


class LaggingExchange(FakeExchange):
    """Takes a create, then loses the answer (`lose_answers`), or fails the lookup; its
    lookups see an order only once it has "landed" (`landed`)."""

    def __init__(self) -> None:
        super().__init__(markets=[market("KXA"), market("KXB")])
        self.lose_answers = 0
        self.hidden: set[str] = set()
        self.lookup_fails = False
        self.lookups: list[str] = []
        self.entered = asyncio.Event()  # a create is on its way (a gate for the tests)

    async def place_order(self, request: OrderRequest) -> Order:
        self.entered.set()
        order = await super().place_order(request)
        if self.lose_answers:
            self.lose_answers -= 1
            self.hidden.add(request.client_order_id)
            raise httpx.ReadTimeout("answer lost")
        return order

    async def order_by_client_id(self, market: str, client_order_id: str) -> Order | None:
        self.lookups.append(client_order_id)
        if self.lookup_fails:
            raise ExchangeError("orders read failed")
        if client_order_id in self.hidden:
            return None
        return self.by_coid.get(client_order_id)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    store = await Store.open(tmp_path / "o.db")
    exchange = LaggingExchange()
    clock = ManualClock(NOW)

    def make(*plans: Plan, **settings: Any) -> Director:
        return Director(
            settings=Settings(
                **{"autonomy_setting": "auto", "order_settle_seconds": 30, **settings},
                db_path=tmp_path / "o.db",
            ),
            store=store,
            exchange=exchange,
            brain=ScriptedBrain(*plans),
            reporter=RecordingReporter(),
            clock=clock,
            sources=[ListSource([opportunity("KXA"), opportunity("KXB")])],
        )

    yield {"store": store, "exchange": exchange, "clock": clock, "make": make}
    await store.close()


async def action_row(store: Store, action_id: int) -> dict[str, Any]:
    row = await store.fetch_one("SELECT * FROM actions WHERE id = ?", (action_id,))
    assert row is not None
    return dict(row)


async def test_an_answered_create_goes_requested_sent_acknowledged(env: dict[str, Any]) -> None:
    report = await env["make"](Plan(reasoning="x", actions=[buy()])).run_cycle("manual")
    [outcome] = report.outcomes
    assert outcome.status == "executed"
    row = await action_row(env["store"], outcome.action_id)
    assert row["exec_state"] == "acknowledged" and row["order_id"] == "f1" and row["sent_at"]


async def test_a_lost_answer_is_unknown_blocks_its_market_and_is_found_later(
    env: dict[str, Any],
) -> None:
    exchange: LaggingExchange = env["exchange"]
    exchange.lose_answers = 1
    again = Plan(reasoning="x", actions=[buy()])
    director = env["make"](again, again, Plan(reasoning="held now", actions=[]))
    report = await director.run_cycle("manual")
    [outcome] = report.outcomes
    assert outcome.status == "unknown" and "outcome unknown" in outcome.detail
    row = await action_row(env["store"], outcome.action_id)
    assert row["status"] == "unknown" and row["exec_state"] == "unknown" and row["order_id"] is None
    # Not visible yet, and inside the settle window: the market takes no new order.
    second = await director.run_cycle("manual")
    [blocked] = second.outcomes
    assert blocked.status == "blocked" and "not reconciled with the exchange" in blocked.reason
    assert len(exchange.placed) == 1
    # It lands: the next cycle's reconciliation records it with its order id.
    exchange.hidden.clear()
    await director.run_cycle("manual")
    row = await action_row(env["store"], outcome.action_id)
    assert row["status"] == "executed" and row["order_id"] == "f1"
    assert row["exec_state"] == "reconciled" and "found on the exchange" in row["exec_detail"]
    assert len(exchange.placed) == 1


async def test_not_found_counts_only_after_the_settle_window(env: dict[str, Any]) -> None:
    exchange: LaggingExchange = env["exchange"]
    exchange.lose_answers = 1
    exchange.refuse_orders = None
    director = env["make"](Plan(reasoning="x", actions=[buy("KXB")]))
    [outcome] = (await director.run_cycle("manual")).outcomes
    exchange.by_coid.clear()  # it never really landed
    exchange.hidden.clear()
    env["clock"].now += timedelta(seconds=29)
    assert await director.reconciler.blocked_markets() != {}
    await director.reconciler.reconcile(wait=False)
    assert (await action_row(env["store"], outcome.action_id))["status"] == "unknown"
    env["clock"].now += timedelta(seconds=2)
    summary = await director.reconciler.reconcile(wait=False)
    [resolution] = summary.resolved
    assert not resolution.placed and "never placed" in resolution.detail
    row = await action_row(env["store"], outcome.action_id)
    assert row["status"] == "failed" and row["exec_state"] == "reconciled"
    assert await director.reconciler.blocked_markets() == {}


async def test_a_failed_lookup_keeps_the_market_blocked(env: dict[str, Any]) -> None:
    exchange: LaggingExchange = env["exchange"]
    exchange.lose_answers = 1
    director = env["make"](Plan(reasoning="x", actions=[buy()]))
    await director.run_cycle("manual")
    exchange.lookup_fails = True
    env["clock"].now += timedelta(hours=1)
    summary = await director.reconciler.reconcile(wait=False)
    assert summary.resolved == [] and "lookup of" in summary.unresolved["KXA"]
    state = await director.sense()
    assert "KXA" in state.unresolved_orders


async def test_a_row_recorded_requested_was_never_sent_and_settles_at_once(
    env: dict[str, Any],
) -> None:
    director = env["make"](Plan(reasoning="x", actions=[]))
    store: Store = env["store"]
    cycle = await store.start_cycle(NOW, "manual")
    await store.execute(
        "INSERT INTO actions (cycle_id, idx, kind, market, action_json, verdict, reason, status,"
        " client_order_id, created_at, updated_at, exec_state) VALUES (?, 0, 'place_order',"
        " 'KXA', ?, 'allowed', '', 'sending', 'omega-x-1-0', ?, ?, 'requested')",
        (cycle, buy().model_dump_json(), NOW.isoformat(), NOW.isoformat()),
    )
    summary = await director.reconciler.settle_at_start()
    assert summary.interrupted_cycles == 1
    [resolution] = summary.resolved
    assert not resolution.placed and "before it was sent" in resolution.detail
    assert env["exchange"].lookups == []  # no need to ask


async def test_an_approval_left_executing_is_settled_at_start(env: dict[str, Any]) -> None:
    exchange: LaggingExchange = env["exchange"]
    director = env["make"](Plan(reasoning="x", actions=[buy()]), autonomy_setting="confirm")
    report = await director.run_cycle("manual")
    [parked] = report.outcomes
    assert parked.approval_id is not None
    # A press whose answer was lost: the approval is `unknown`, not "Already executing".
    exchange.lose_answers = 1
    decision = await director.decide_approval(parked.approval_id, "alice", True)
    assert not decision.ok and decision.status == "unknown"
    exchange.hidden.clear()
    summary = await director.reconciler.settle_at_start()
    assert [r.placed for r in summary.resolved] == [True]
    approval = await env["store"].approval(parked.approval_id)
    assert approval is not None and approval.status.value == "approved"
    assert "reconciled" in (approval.result or "")


async def test_a_stop_during_a_create_waits_for_its_answer_and_records_it(
    env: dict[str, Any],
) -> None:
    exchange: LaggingExchange = env["exchange"]
    exchange.place_gate.clear()
    director = env["make"](Plan(reasoning="x", actions=[buy()]))
    task = asyncio.ensure_future(director.run_cycle("manual"))
    await exchange.entered.wait()  # the create is in flight
    assert not task.done()
    task.cancel()
    exchange.place_gate.set()  # its answer arrives after the stop
    with pytest.raises(asyncio.CancelledError):
        await task
    [row] = await env["store"].fetch("SELECT * FROM actions")
    assert row["exec_state"] == "acknowledged" and row["order_id"] == "f1"


@pytest.mark.parametrize(
    ("error", "unknown"),
    [
        (httpx.ReadTimeout("t"), True),
        (ConnectionError("reset"), True),
        (InsufficientFunds("no cash"), False),
        (ExchangeError("refused"), False),
    ],
)
def test_which_errors_leave_an_order_unknown(error: Exception, unknown: bool) -> None:
    assert outcome_unknown(error) is unknown


def test_an_unclear_error_wrapped_in_a_plain_one_is_still_unknown() -> None:
    class Exhausted(ExchangeError):
        unclear = True

    try:
        try:
            raise Exhausted("500 × 5")
        except Exhausted:
            raise ExchangeError("order not placed after 5 attempts") from None
    except ExchangeError as wrapped:
        assert outcome_unknown(wrapped)


async def test_an_order_being_sent_now_is_not_reconciled_under_its_feet(
    env: dict[str, Any],
) -> None:
    """An approval pressed while a cycle reconciles: its create is on its way, not unknown,
    even on a venue where a miss would count at once."""
    exchange: LaggingExchange = env["exchange"]
    exchange.creates_apply_at_once = True  # type: ignore[attr-defined]
    exchange.place_gate.clear()
    director = env["make"](Plan(reasoning="x", actions=[buy()]), autonomy_setting="confirm")
    [parked] = (await director.run_cycle("manual")).outcomes
    assert parked.approval_id is not None
    press = asyncio.ensure_future(director.decide_approval(parked.approval_id, "alice", True))
    await exchange.entered.wait()
    summary = await director.reconciler.reconcile(wait=False)
    assert summary.resolved == [] and "being sent right now" in summary.unresolved["KXA"]
    exchange.place_gate.set()
    decision = await press
    assert decision.ok and len(exchange.placed) == 1
    assert await director.reconciler.blocked_markets() == {}


@pytest.mark.parametrize("readable", [True, False])
async def test_an_unclear_basket_blocks_its_legs_until_their_ids_are_found(
    env: dict[str, Any], readable: bool
) -> None:
    store: Store = env["store"]
    exchange: LaggingExchange = env["exchange"]
    director = env["make"](Plan(reasoning="x", actions=[buy("KXB")]))
    cycle = await store.start_cycle(NOW, "manual")
    legs = [
        BasketLegDetails(market=m, side=Side.NO, price=D("0.40"), quantity=5)
        for m in ("KXA", "KXB")
    ]
    basket = PlaceBasket(details=PlaceBasketDetails(event="KXEV", legs=legs))
    stored = json.loads(basket.model_dump_json())
    if not readable:  # a damaged (or newer) record: it no longer validates, its legs still read
        stored["details"]["legs"][1]["side"] = "maybe"
    action_id = await store.add_action(
        cycle_id=cycle,
        idx=0,
        kind="place_basket",
        market="KXEV",
        action_json=json.dumps(stored),
        verdict="allowed",
        reason="",
        status=ActionStatus.SENDING,
        client_order_id="omega-basket-1",
        now=NOW,
    )
    await mark(store, action_id, ExecState.SENT, NOW)
    await mark(store, action_id, ExecState.UNKNOWN, NOW, status=ActionStatus.UNKNOWN)

    # Its legs' markets take no new order while nobody knows what the batch did.
    blocked = await director.reconciler.blocked_markets()
    assert {"KXA", "KXB", "KXEV"} <= set(blocked)
    report = await director.run_cycle("manual")
    [refused] = report.outcomes
    assert refused.status == "blocked" and "not reconciled" in refused.reason
    assert exchange.placed == []

    # One leg is on the exchange under its derived id: the basket reached it.
    first_leg = leg_client_order_ids("omega-basket-1", 2)[0]
    exchange.by_coid[first_leg] = Order(
        order_id="leg-1",
        market="KXA",
        side=Side.NO,
        price=D("0.40"),
        quantity=5,
        remaining=0,
        status=OrderStatus.FILLED,
        created_at=NOW,
    )
    await director.reconciler.before_cycle()
    row = await action_row(store, action_id)
    assert row["exec_state"] == "reconciled" and row["status"] == "executed"
    assert "ATTENTION" in row["exec_detail"] and "legs found" in row["exec_detail"]
    assert await director.reconciler.blocked_markets() == {}
    assert first_leg in exchange.lookups
