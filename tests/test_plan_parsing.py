"""plan_parsing: the shapes real models' decoded answers take, and every way one can be
wrong. (The answer's JSON is decoded by brains/structured.py; its tests are below too.)"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from anthropic.types import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from director.brains.plan_parsing import (
    MAX_ANSWER_CHARS,
    PlanParseError,
    parse_action,
    validate_plan,
)
from director.brains.structured import read_answer
from director.models import (
    CancelOrder,
    CancelOrderDetails,
    DoNothing,
    PlaceOrder,
    PlaceOrderDetails,
    Plan,
    Priority,
    Rebalance,
    RebalanceDetails,
    Side,
)

PLAN: dict[str, Any] = {
    "reasoning": "Rule 2: KXHEAT edge 0.15 at 0.8 confidence.",
    "actions": [
        {
            "action_type": "place_order",
            "details": {"market": "KXHEAT", "side": "yes", "price": 0.58, "quantity": 10},
        },
        {"action_type": "cancel_order", "details": {"order_id": "ord-1"}},
    ],
    "priority": "MEDIUM",
    "requires_opus_consult": False,
}


def _expected() -> Plan:
    return Plan(
        reasoning=PLAN["reasoning"],
        actions=[
            PlaceOrder(
                details=PlaceOrderDetails(
                    market="KXHEAT", side=Side.YES, price=Decimal("0.58"), quantity=10
                )
            ),
            CancelOrder(details=CancelOrderDetails(order_id="ord-1")),
        ],
        priority=Priority.MEDIUM,
    )


# --- accepted forms ----------------------------------------------------------------------


def test_decoded_mapping() -> None:
    assert validate_plan(PLAN) == _expected()


def _answer(text: str, stop_reason: str = "end_turn") -> Message:
    return Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5-5",
            "content": [
                {"type": "thinking", "thinking": "", "signature": "sig"},
                {"type": "text", "text": text},
            ],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    )


def test_decoded_prices_are_exact_decimals() -> None:
    text = '{"reasoning": "r", "actions": [{"action_type": "place_order", "details": {"market":'
    text += ' "M", "price": 0.1, "quantity": 3}}]}'
    action = read_answer(_answer(text), validate_plan).actions[0]
    assert isinstance(action, PlaceOrder)
    assert action.details.price == Decimal("0.1")
    assert str(action.details.price) == "0.1"


def test_upper_case_and_word_forms_are_accepted() -> None:
    payload = {
        "reasoning": "r",
        "actions": [
            {
                "action_type": " PLACE_ORDER ",
                "details": {"market": "M", "side": "YES", "price": "0.40", "quantity": 2},
            }
        ],
        "priority": "high",
        "requires_opus_consult": "yes",
    }
    plan = validate_plan(payload)
    action = plan.actions[0]
    assert isinstance(action, PlaceOrder)
    assert action.details.side is Side.YES
    assert plan.priority is Priority.HIGH
    assert plan.requires_opus_consult is True


def test_actions_serialized_as_a_string() -> None:
    payload = {**PLAN, "actions": json.dumps(PLAN["actions"])}
    assert validate_plan(payload) == _expected()


def test_details_written_inline() -> None:
    payload = {
        "reasoning": "r",
        "actions": [
            {"action_type": "cancel_order", "order_id": "ord-9"},
            {"action_type": "rebalance", "market": "M", "target_quantity": 0},
            {"action_type": "do_nothing"},
        ],
    }
    assert validate_plan(payload).actions == [
        CancelOrder(details=CancelOrderDetails(order_id="ord-9")),
        Rebalance(details=RebalanceDetails(market="M", target_quantity=0)),
        DoNothing(),
    ]


def test_inline_key_never_overrides_details() -> None:
    payload = {
        "action_type": "place_order",
        "price": 0.9,
        "details": {"market": "M", "price": 0.3, "quantity": 1},
    }
    action = parse_action(payload)
    assert isinstance(action, PlaceOrder)
    assert action.details.price == Decimal("0.3")


def test_wrapped_plan() -> None:
    assert validate_plan({"plan": PLAN}) == _expected()


def test_empty_actions_is_a_hold() -> None:
    plan = validate_plan({"reasoning": "nothing worth doing", "actions": None})
    assert plan.actions == []
    assert plan.priority is Priority.LOW


def test_missing_price_and_quantity_are_left_for_the_executor() -> None:
    action = parse_action({"action_type": "place_order", "details": {"market": "M"}})
    assert isinstance(action, PlaceOrder)
    assert action.details.price is None
    assert action.details.quantity is None


# --- rejected answers --------------------------------------------------------------------


def test_wrong_types_name_the_field() -> None:
    payload = json.loads(json.dumps(PLAN))
    payload["actions"][0]["details"]["quantity"] = "ten"
    with pytest.raises(PlanParseError) as caught:
        validate_plan(payload)
    message = str(caught.value)
    assert "actions.0.place_order.details.quantity" in message
    assert "'ten'" in message


def test_fractional_quantity_is_refused() -> None:
    payload = json.loads(json.dumps(PLAN))
    payload["actions"][0]["details"]["quantity"] = 2.5
    with pytest.raises(PlanParseError, match="whole number"):
        validate_plan(payload)


def test_unknown_action_type() -> None:
    payload = {"reasoning": "r", "actions": [{"action_type": "buy", "details": {"market": "M"}}]}
    with pytest.raises(PlanParseError) as caught:
        validate_plan(payload)
    assert "'buy'" in str(caught.value)
    assert "place_order" in str(caught.value)


def test_missing_reasoning() -> None:
    with pytest.raises(PlanParseError, match="reasoning: Field required"):
        validate_plan({"actions": []})


def test_plan_that_is_not_an_object() -> None:
    with pytest.raises(PlanParseError, match="a list"):
        validate_plan([PLAN])


def test_unparseable_actions_string() -> None:
    with pytest.raises(PlanParseError, match="actions"):
        validate_plan({"reasoning": "r", "actions": "place an order please"})


def test_error_list_is_bounded() -> None:
    actions = [{"action_type": "cancel_order", "details": {}} for _ in range(30)]
    with pytest.raises(PlanParseError) as caught:
        validate_plan({"reasoning": "r", "actions": actions})
    assert "and 22 more" in str(caught.value)
    assert len(str(caught.value)) < 1000


# --- properties --------------------------------------------------------------------------


_prose = st.text(
    alphabet=st.characters(blacklist_characters="{}`", blacklist_categories=["Cs"]),
    max_size=80,
)
_actions = st.lists(
    st.one_of(
        st.builds(
            lambda m, s, p, q: {
                "action_type": "place_order",
                "details": {"market": m, "side": s, "price": str(p), "quantity": q},
            },
            st.from_regex(r"[A-Z]{2,8}-[0-9]{2}", fullmatch=True),
            st.sampled_from(["yes", "no", "YES", "No"]),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.99"), places=2),
            st.integers(min_value=1, max_value=1000),
        ),
        st.builds(
            lambda o: {"action_type": "cancel_order", "details": {"order_id": o}},
            st.from_regex(r"ord-[0-9]{1,6}", fullmatch=True),
        ),
    ),
    max_size=5,
)


@pytest.mark.parametrize(
    ("text", "stop", "needle"),
    [
        ("", "end_turn", "no text"),
        ('{"reasoning": "r", "actions": [', "max_tokens", "not valid JSON (the answer was cut"),
        ("I would hold.", "end_turn", "not valid JSON"),
        ("{" * (MAX_ANSWER_CHARS + 1), "end_turn", "too long"),
    ],
)
def test_an_answer_that_is_not_a_json_plan_is_a_parse_error(
    text: str, stop: str, needle: str
) -> None:
    with pytest.raises(PlanParseError, match=re.escape(needle)):
        read_answer(_answer(text, stop), validate_plan)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_json)
def test_any_decoded_value_is_a_plan_or_a_parse_error(value: Any) -> None:
    try:
        result = validate_plan(value)
    except PlanParseError:
        return
    assert isinstance(result, Plan)
