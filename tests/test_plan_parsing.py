"""plan_parsing: the forms real models answer in, and every way an answer can be wrong."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from director.brains.plan_parsing import (
    MAX_ANSWER_CHARS,
    PlanParseError,
    extract_json_object,
    parse_action,
    parse_plan,
    validate_plan,
)
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


def test_tool_input_mapping() -> None:
    assert parse_plan(PLAN) == _expected()


def test_bare_json_text() -> None:
    assert parse_plan(json.dumps(PLAN)) == _expected()


@pytest.mark.parametrize("language", ["json", "JSON", ""])
def test_json_in_code_fences(language: str) -> None:
    text = f"Here is the plan:\n```{language}\n{json.dumps(PLAN, indent=2)}\n```\nDone."
    assert parse_plan(text) == _expected()


def test_prose_then_json() -> None:
    text = "I looked at the state. Risk is low, so I act on rule 2.\n\n" + json.dumps(PLAN)
    assert parse_plan(text) == _expected()


def test_json_then_prose_with_braces() -> None:
    text = json.dumps(PLAN) + "\nNote: {this is not json} and neither is {that}."
    assert parse_plan(text) == _expected()


def test_text_prices_are_exact_decimals() -> None:
    text = '{"reasoning": "r", "actions": [{"action_type": "place_order", "details": {"market":'
    text += ' "M", "price": 0.1, "quantity": 3}}]}'
    action = parse_plan(text).actions[0]
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
    plan = parse_plan(payload)
    action = plan.actions[0]
    assert isinstance(action, PlaceOrder)
    assert action.details.side is Side.YES
    assert plan.priority is Priority.HIGH
    assert plan.requires_opus_consult is True


def test_actions_serialized_as_a_string() -> None:
    payload = {**PLAN, "actions": json.dumps(PLAN["actions"])}
    assert parse_plan(payload) == _expected()


def test_details_written_inline() -> None:
    payload = {
        "reasoning": "r",
        "actions": [
            {"action_type": "cancel_order", "order_id": "ord-9"},
            {"action_type": "rebalance", "market": "M", "target_quantity": 0},
            {"action_type": "do_nothing"},
        ],
    }
    assert parse_plan(payload).actions == [
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
    assert parse_plan({"plan": PLAN}) == _expected()
    assert parse_plan(json.dumps({"plan": PLAN})) == _expected()


def test_same_plan_twice_is_one_plan() -> None:
    text = f"Draft:\n```json\n{json.dumps(PLAN)}\n```\nFinal:\n```json\n{json.dumps(PLAN)}\n```"
    assert parse_plan(text) == _expected()


def test_empty_actions_is_a_hold() -> None:
    plan = parse_plan({"reasoning": "nothing worth doing", "actions": None})
    assert plan.actions == []
    assert plan.priority is Priority.LOW


def test_missing_price_and_quantity_are_left_for_the_executor() -> None:
    action = parse_action({"action_type": "place_order", "details": {"market": "M"}})
    assert isinstance(action, PlaceOrder)
    assert action.details.price is None
    assert action.details.quantity is None


# --- rejected answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("I think we should hold.", "no JSON object"),
        ('{"reasoning": "r", "actions": [', "no JSON object"),
        ("[1, 2, 3]", "no JSON object"),
    ],
)
def test_no_plan_in_text(answer: str, needle: str) -> None:
    with pytest.raises(PlanParseError, match=needle):
        parse_plan(answer)


def test_two_different_plans_are_ambiguous() -> None:
    other = {**PLAN, "priority": "HIGH"}
    with pytest.raises(PlanParseError, match="2 different plans"):
        parse_plan(json.dumps(PLAN) + "\nor maybe\n" + json.dumps(other))


def test_wrong_types_name_the_field() -> None:
    payload = json.loads(json.dumps(PLAN))
    payload["actions"][0]["details"]["quantity"] = "ten"
    with pytest.raises(PlanParseError) as caught:
        parse_plan(payload)
    message = str(caught.value)
    assert "actions.0.place_order.details.quantity" in message
    assert "'ten'" in message


def test_fractional_quantity_is_refused() -> None:
    payload = json.loads(json.dumps(PLAN))
    payload["actions"][0]["details"]["quantity"] = 2.5
    with pytest.raises(PlanParseError, match="whole number"):
        parse_plan(payload)


def test_unknown_action_type() -> None:
    payload = {"reasoning": "r", "actions": [{"action_type": "buy", "details": {"market": "M"}}]}
    with pytest.raises(PlanParseError) as caught:
        parse_plan(payload)
    assert "'buy'" in str(caught.value)
    assert "place_order" in str(caught.value)


def test_missing_reasoning() -> None:
    with pytest.raises(PlanParseError, match="reasoning: Field required"):
        parse_plan({"actions": []})


def test_plan_that_is_not_an_object() -> None:
    with pytest.raises(PlanParseError, match="a list"):
        validate_plan([PLAN])


def test_unparseable_actions_string() -> None:
    with pytest.raises(PlanParseError, match="actions"):
        parse_plan({"reasoning": "r", "actions": "place an order please"})


def test_error_list_is_bounded() -> None:
    actions = [{"action_type": "cancel_order", "details": {}} for _ in range(30)]
    with pytest.raises(PlanParseError) as caught:
        parse_plan({"reasoning": "r", "actions": actions})
    assert "and 22 more" in str(caught.value)
    assert len(str(caught.value)) < 1000


def test_huge_answer_is_refused_without_scanning() -> None:
    with pytest.raises(PlanParseError, match="too long"):
        extract_json_object("{" * (MAX_ANSWER_CHARS + 1))


def test_non_plan_object_is_returned_when_alone() -> None:
    assert extract_json_object('prefix {"price": 0.5, "quantity": 3} suffix') == {
        "price": Decimal("0.5"),
        "quantity": 3,
    }


# --- properties --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_a_plan_or_a_parse_error(text: str) -> None:
    try:
        result = parse_plan(text)
    except PlanParseError:
        return
    assert isinstance(result, Plan)


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


@settings(max_examples=100, deadline=None)
@given(before=_prose, after=_prose, actions=_actions, fenced=st.booleans())
def test_a_plan_survives_any_surrounding_prose(
    before: str, after: str, actions: list[dict[str, Any]], fenced: bool
) -> None:
    payload = {"reasoning": "because", "actions": actions, "priority": "LOW"}
    body = json.dumps(payload)
    text = f"{before}\n```json\n{body}\n```\n{after}" if fenced else f"{before}\n{body}\n{after}"
    assert parse_plan(text) == Plan.model_validate(payload)
