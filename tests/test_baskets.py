"""Basket maths, the guard's check of a basket as a whole, and the rules brain's baskets."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from director.baskets import (
    Ask,
    LegBook,
    Strike,
    price_basket,
    strikes_cover_everything,
    walk,
    worst_case_net,
)
from director.brains.rules import RulesBrain
from director.fees import taker_fee
from director.guard import check_action, check_plan
from director.models import (
    BasketLeg,
    BasketLegDetails,
    BasketOpportunity,
    MarketStatus,
    PlaceBasket,
    PlaceBasketDetails,
    PlaceOrder,
    PlaceOrderDetails,
    Plan,
    Side,
    SystemState,
)
from director.rulebook import RuleSet, Thresholds
from director.sense_baskets import basket_tickers, offered_baskets, tradeable
from director.settings import Settings
from director.trading_state import Trading, TradingState
from tests.builders import LIMITS, NOW, D, market, state


def fee(contracts: int, price: Decimal) -> Decimal:
    return taker_fee(contracts, price)


def book(market: str, *levels: tuple[str, int]) -> LegBook:
    return LegBook(market, tuple(Ask(D(p), D(n)) for p, n in levels), fee)


# --- walking the books --------------------------------------------------------------------


def test_a_walk_charges_each_level_its_price_and_fee() -> None:
    cost, fees, limit = walk([Ask(D("0.60"), D(10)), Ask(D("0.61"), D(30))], 25, fee)
    assert cost == D("0.60") * 10 + D("0.61") * 15
    assert fees == taker_fee(10, D("0.60")) + taker_fee(15, D("0.61"))
    assert limit == D("0.61")
    with pytest.raises(ValueError, match="fewer than 50"):
        walk([Ask(D("0.60"), D(10))], 50, fee)


def test_the_basket_is_as_deep_as_its_last_basket_still_pays() -> None:
    legs = [
        book("A", ("0.60", 10), ("0.61", 30), ("0.70", 100)),
        book("B", ("0.65", 100)),
        book("C", ("0.67", 100)),
    ]
    price = price_basket(Side.NO, legs, max_contracts=10_000)
    assert price is not None
    # At 0.70 on A a basket costs 2.02 > the 2 it pays: the size stops at the 0.61 level.
    assert price.contracts == 40
    assert [leg.limit for leg in price.legs] == [D("0.61"), D("0.65"), D("0.67")]
    assert price.payout == D(80)
    assert price.net_profit == price.payout - price.cost - price.fees > 0
    assert worst_case_net(Side.NO, [D("0.61"), D("0.65"), D("0.67")], 40, [fee] * 3) > 0


def test_the_size_is_capped_and_needs_every_leg() -> None:
    legs = [book("A", ("0.60", 500)), book("B", ("0.65", 500)), book("C", ("0.67", 8))]
    price = price_basket(Side.NO, legs, max_contracts=5)
    assert price is not None and price.contracts == 5
    price = price_basket(Side.NO, legs, max_contracts=10_000)
    assert price is not None and price.contracts == 8  # C's whole book
    assert price_basket(Side.NO, [*legs[:2], book("C")], max_contracts=10) is None


def test_no_basket_when_fees_or_the_minimum_eat_the_profit() -> None:
    thin = [book(m, ("0.66", 100)) for m in "ABC"]  # 1.98 a basket before fees
    assert price_basket(Side.NO, thin, max_contracts=100) is None
    rich = [book("A", ("0.60", 100)), book("B", ("0.65", 100)), book("C", ("0.67", 100))]
    price = price_basket(Side.NO, rich, max_contracts=100)
    assert price is not None
    assert price_basket(Side.NO, rich, max_contracts=100, min_profit=price.net_profit + 1) is None


def test_a_yes_basket_pays_one() -> None:
    legs = [book("A", ("0.30", 10)), book("B", ("0.30", 10)), book("C", ("0.32", 10))]
    price = price_basket(Side.YES, legs, max_contracts=100)
    assert price is not None and price.payout == D(10)


# --- is the outcome set exhaustive? -------------------------------------------------------


def s(kind: str, floor: int | None = None, cap: int | None = None) -> Strike:
    return Strike(kind, None if floor is None else D(floor), None if cap is None else D(cap))


@pytest.mark.parametrize(
    ("strikes", "exhaustive"),
    [
        ([s("less", cap=10), s("between", 10, 20), s("greater", 20)], True),
        ([s("greater", 20), s("between", 10, 20), s("less", cap=10)], True),  # any order
        ([s("less", cap=10), s("between", 11, 20), s("greater", 20)], False),  # 10..11 gap
        ([s("less", cap=10), s("greater", 10)], False),  # 10 itself settles both NO
        ([s("less_or_equal", cap=10), s("greater", 10)], True),
        ([s("less", cap=10), s("greater_or_equal", 10)], True),
        ([s("less", cap=15), s("between", 10, 20), s("greater", 18)], True),  # overlaps
        ([s("between", 0, 10), s("between", 10, 20)], False),  # nothing below 0 or above 20
        ([s("less", cap=10), s("between", 10, 20)], False),  # nothing above 20
        ([s("less", cap=10), s("functional"), s("greater", 10)], False),
        ([s("between", 20, 10), s("less", cap=30), s("greater", 5)], False),  # inverted
        ([], False),
    ],
)
def test_strikes_prove_an_event_exhaustive_only_without_a_gap(
    strikes: list[Strike], exhaustive: bool
) -> None:
    assert strikes_cover_everything(strikes) is exhaustive


# --- the guard, on the basket as a whole --------------------------------------------------

TICKERS = ["KXP-A", "KXP-B", "KXP-C"]
PRICES = [D("0.60"), D("0.65"), D("0.67")]


def opportunity(side: Side = Side.NO, contracts: int = 50) -> BasketOpportunity:
    legs = [
        BasketLeg(market=t, side=side, price=p, quantity=contracts, cost=p * contracts, fee=D(0))
        for t, p in zip(TICKERS, PRICES, strict=True)
    ]
    cost = sum((leg.cost for leg in legs), D(0))
    return BasketOpportunity(
        event="KXP",
        side=side,
        legs=legs,
        contracts=contracts,
        cost=cost,
        fees=D(0),
        payout=D(2 * contracts),
        net_profit=D(2 * contracts) - cost,
        expires_at=NOW + timedelta(hours=1),
        settles_at=NOW + timedelta(days=30),
    )


def basket_state(**changes: Any) -> SystemState:
    base = state(markets=[market(t) for t in TICKERS])
    update: dict[str, Any] = {"basket_opportunities": [opportunity()], **changes}
    return base.model_copy(update=update)


def place_basket(
    quantity: int = 10,
    legs: list[tuple[str, str, str]] | None = None,
    quantities: list[int] | None = None,
) -> PlaceBasket:
    legs = legs or [(t, "no", str(p)) for t, p in zip(TICKERS, PRICES, strict=True)]
    sizes = quantities or [quantity] * len(legs)
    return PlaceBasket(
        details=PlaceBasketDetails(
            event="KXP",
            legs=[
                BasketLegDetails(market=m, side=Side(side), price=D(price), quantity=q)
                for (m, side, price), q in zip(legs, sizes, strict=True)
            ],
        )
    )


def test_a_basket_within_every_limit_is_allowed_as_one_unit() -> None:
    verdict = check_action(place_basket(), basket_state(), LIMITS)
    assert verdict.allowed, verdict.reason
    assert verdict.basket is not None and verdict.basket.quantity == 10
    assert verdict.basket.markets == TICKERS
    notional = sum(PRICES, D(0)) * 10
    fees = sum((taker_fee(10, p) for p in PRICES), D(0))
    assert (verdict.cost, verdict.new_exposure) == (notional + fees, notional)
    assert verdict.basket.worst_case_net == D(20) - notional - fees
    assert verdict.order is None  # never a single order


CLOSED = market("KXP-B").model_copy(update={"status": MarketStatus.CLOSED})
LEGS = [(t, "no", str(p)) for t, p in zip(TICKERS, PRICES, strict=True)]


@pytest.mark.parametrize(
    ("action", "changes", "why"),
    [
        (place_basket(legs=LEGS[:2]), {}, "must buy exactly its 3 legs; missing KXP-C"),
        (place_basket(legs=[*LEGS, ("KXQ-D", "no", "0.10")]), {}, "not in it KXQ-D"),
        (place_basket(legs=[LEGS[0], LEGS[0], LEGS[1]]), {}, "names a leg twice"),
        (place_basket(legs=[LEGS[0], LEGS[1], ("KXP-C", "yes", "0.30")]), {}, "mixes yes"),
        (place_basket(quantities=[10, 10, 9]), {}, "same quantity"),
        (place_basket(quantity=0), {}, "not a positive number"),
        (place_basket(quantity=101), {}, "max 100 contracts"),
        (place_basket(quantity=51), {}, "the 50 baskets the books offered"),
        (place_basket(legs=[("KXP-A", "no", "1.20"), *LEGS[1:]]), {}, "outside 0.01-0.99"),
        (place_basket(legs=[("KXP-A", "no", "0.605"), *LEGS[1:]]), {}, "not on the market's tick"),
        (
            place_basket(legs=[("KXP-A", "no", "0.70"), *LEGS[1:]]),
            {},
            "would pay $-0.",  # 0.70 + 0.65 + 0.67 > 2: a loss even filled in full
        ),
        (place_basket(quantity=30), {}, "max $50 per order"),
        (place_basket(), {"portfolio_cash": D(15)}, "cash available $15"),
        (place_basket(), {"exposure": D(495)}, "exposure would be"),
        (place_basket(), {"safe_mode": True}, "safe mode"),
        (place_basket(), {"current_risk_score": 0.9}, "risk 0.90 > 0.80"),
        (place_basket(), {"unknown_data": ["balance"]}, "balance unknown"),
        (place_basket(), {"unresolved_orders": {"KXP-B": "KXP-B: order unresolved"}}, "unresolved"),
        (place_basket(), {"basket_opportunities": []}, "no NO basket on KXP"),
        (
            place_basket(),
            {"basket_opportunities": [opportunity(Side.YES)]},
            "no NO basket on KXP",
        ),
        (place_basket(), {"markets": {"KXP-A": market("KXP-A"), "KXP-B": CLOSED}}, "not open"),
    ],
)
def test_the_guard_blocks_a_basket_with_its_reason(
    action: PlaceBasket, changes: dict[str, Any], why: str
) -> None:
    verdict = check_action(action, basket_state(**changes), LIMITS)
    assert not verdict.allowed and why in verdict.reason, verdict.reason
    assert verdict.basket is None


def test_a_fallback_that_blocks_new_orders_blocks_baskets() -> None:
    failed = Trading(TradingState.REDUCING, "brain failed")
    verdict = check_action(place_basket(), basket_state(), LIMITS, trading=failed)
    assert not verdict.allowed and verdict.reason == "brain failed"


def test_a_plan_sees_what_its_basket_committed() -> None:
    leg_order = PlaceOrder(
        details=PlaceOrderDetails(market="KXP-A", side=Side.NO, price=D("0.60"), quantity=1)
    )
    plan = Plan(reasoning="", actions=[place_basket(), leg_order, place_basket()])
    verdicts = check_plan(plan, basket_state(), LIMITS)
    assert verdicts[0].allowed
    assert not verdicts[1].allowed and "already has an order in this plan" in verdicts[1].reason
    assert not verdicts[2].allowed and "already has an order in this plan" in verdicts[2].reason


def test_the_plan_schema_reads_a_place_basket_as_design_md_shows_it() -> None:
    plan = Plan.model_validate(
        {
            "reasoning": "sure basket",
            "actions": [
                {
                    "action_type": "place_basket",
                    "details": {
                        "event": "KXPRES-28",
                        "legs": [
                            {"market": "KXPRES-28-A", "side": "no", "price": 0.61, "quantity": 20},
                            {"market": "KXPRES-28-B", "side": "NO", "price": 0.58, "quantity": 20},
                        ],
                    },
                }
            ],
        }
    )
    [action] = plan.actions
    assert isinstance(action, PlaceBasket)
    assert [leg.price for leg in action.details.legs] == [D("0.61"), D("0.58")]
    assert action.describe() == (
        "place_basket(KXPRES-28: KXPRES-28-A no 0.61×20, KXPRES-28-B no 0.58×20)"
    )


# --- the rules brain ----------------------------------------------------------------------


def brain() -> RulesBrain:
    return RulesBrain(Settings(_env_file=None))


def test_the_rules_brain_takes_a_basket_whose_profit_clears_its_thresholds() -> None:
    # Sized by the $50 max cost: 25 baskets cost 25 × 1.92 + $1.21 fees = $49.21 and pay $50.
    assert "25 baskets net $0.79 on $49.21" in brain().plan(basket_state(), RuleSet()).reasoning
    lower = RuleSet(thresholds=Thresholds(min_basket_profit=D("0.75")))
    plan = brain().plan(basket_state(), lower)
    [action] = plan.actions
    assert isinstance(action, PlaceBasket)
    assert {leg.quantity for leg in action.details.legs} == {25}
    assert [leg.market for leg in action.details.legs] == TICKERS
    assert check_action(action, basket_state(), LIMITS).allowed
    assert "sure basket" in plan.reasoning and "net" in plan.reasoning


def test_the_rules_brain_leaves_a_basket_below_its_thresholds() -> None:
    strict = RuleSet(thresholds=Thresholds(min_basket_profit=D(100)))
    plan = brain().plan(basket_state(), strict)
    assert plan.actions == [] and "needs $100" in plan.reasoning
    choosy = RuleSet(thresholds=Thresholds(min_basket_return=D("0.5")))
    assert brain().plan(basket_state(), choosy).actions == []


def test_the_rules_brain_takes_no_basket_in_safe_mode_or_on_a_busy_leg() -> None:
    assert brain().plan(basket_state(safe_mode=True), RuleSet()).actions == []
    busy = basket_state(awaiting_approval=["KXP"])
    plan = brain().plan(busy, RuleSet())
    assert plan.actions == [] and "awaiting approval" in plan.reasoning


# --- SENSE ---------------------------------------------------------------------------------


def test_sense_keeps_a_basket_only_while_every_leg_is_open() -> None:
    class Source:
        def basket_opportunities(self, now: object) -> list[BasketOpportunity]:
            stale = opportunity().model_copy(update={"expires_at": NOW, "event": "KXOLD"})
            return [opportunity(), stale]

    offered = offered_baskets([Source(), object()], NOW)
    assert [b.event for b in offered] == ["KXP"]  # the expired one is gone
    assert basket_tickers(offered) == set(TICKERS)
    quotes = {t: market(t) for t in TICKERS}
    assert tradeable(offered, quotes) == offered
    assert tradeable(offered, {**quotes, "KXP-B": CLOSED}) == []
    assert tradeable(offered, {"KXP-A": market("KXP-A")}) == []
