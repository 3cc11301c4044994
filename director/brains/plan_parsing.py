"""Turn a model's decoded answer into a Plan, smoothing over the shapes real models produce.

A model's answer is untrusted input, even when decoded against a schema. This module only
smooths over harmless variations ("YES" for "yes", an action whose details were written
inline, a list serialized as a string, a plan wrapped in {"plan": ...}); the pydantic `Plan`
in director.models is the single validator and decides what is acceptable. Nothing here
guesses at meaning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from director.models import ACTION_ADAPTER, Action, Plan

# Far beyond any real answer (max_tokens bounds it): a longer one is refused unread.
MAX_ANSWER_CHARS = 200_000
_MAX_ERRORS_SHOWN = 8
_PLAN_KEYS = frozenset({"reasoning", "actions", "priority", "requires_opus_consult"})
_ACTION_KEYS = frozenset({"action_type", "details"})


class PlanParseError(ValueError):
    """The answer holds no valid plan. The message is short and safe to quote back to the
    model in a repair request and to show the operator."""


def validate_plan(payload: Any) -> Plan:
    if not isinstance(payload, Mapping):
        raise PlanParseError(f"the plan must be a JSON object, got {_kind(payload)}")
    try:
        return Plan.model_validate(normalize_plan(payload))
    except ValidationError as exc:
        raise PlanParseError(describe_validation_error(exc)) from None


def parse_action(payload: Any) -> Action:
    """One action, normalized like the actions of a plan; raises PlanParseError."""
    if not isinstance(payload, Mapping):
        raise PlanParseError(f"an action must be a JSON object, got {_kind(payload)}")
    try:
        return ACTION_ADAPTER.validate_python(_normalize_action(payload))
    except ValidationError as exc:
        raise PlanParseError(describe_validation_error(exc)) from None


def _wrapped_plan(candidate: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """{"plan": {...}}: a wrapper some models add around the object they were asked for."""
    if len(candidate) == 1:
        inner = next(iter(candidate.values()))
        if isinstance(inner, Mapping) and _PLAN_KEYS & inner.keys():
            return inner
    return None


def normalize_plan(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Smooth over representation differences; leaves every judgement to the Plan model."""
    inner = _wrapped_plan(payload) if not (_PLAN_KEYS & payload.keys()) else None
    plan = dict(inner if inner is not None else payload)
    actions = plan.get("actions")
    if isinstance(actions, str):
        # Some models serialize a nested list inside tool input as a JSON string.
        actions = _decoded(actions)
    if actions is None and "actions" in plan:
        actions = []
    if isinstance(actions, Mapping):
        actions = [actions]
    if isinstance(actions, list):
        plan["actions"] = [_normalize_action(a) if isinstance(a, Mapping) else a for a in actions]
    elif actions is not None:
        plan["actions"] = actions
    return plan


def _normalize_action(action: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kind = action.get("action_type")
    if "action_type" in action:
        out["action_type"] = kind.strip().lower() if isinstance(kind, str) else kind
    details = action.get("details")
    if isinstance(details, str):
        details = _decoded(details)
    if details is None:
        details = {}
    if isinstance(details, Mapping):
        # {"action_type": "cancel_order", "order_id": "x"}: details written inline. A key in
        # both places keeps the value inside "details"; nothing else is merged.
        inline = {k: v for k, v in action.items() if k not in _ACTION_KEYS}
        details = {**inline, **details}
    out["details"] = details
    return out


def _decoded(text: str) -> Any:
    """The JSON value in `text`, or `text` itself so the Plan model reports the wrong type."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        return text


def describe_validation_error(error: ValidationError) -> str:
    """A compact, model-readable list of what is wrong: `where: problem (got value)`."""
    lines = []
    for item in error.errors(include_url=False)[:_MAX_ERRORS_SHOWN]:
        where = ".".join(str(part) for part in item["loc"]) or "plan"
        got = item.get("input")
        shown = ""
        if item["type"] != "missing" and not isinstance(got, Mapping | list):
            shown = f" (got {_short(got)})"
        lines.append(f"{where}: {item['msg']}{shown}")
    extra = error.error_count() - _MAX_ERRORS_SHOWN
    if extra > 0:
        lines.append(f"... and {extra} more")
    return "; ".join(lines)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return type(value).__name__
