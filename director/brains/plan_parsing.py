"""Turn what a model said into a Plan, accepting the shapes real models produce.

A model's answer is untrusted input. This module only finds the JSON and smooths over
harmless variations (code fences, prose around the JSON, "YES" for "yes", an action whose
details were written inline, a list serialized as a string); the pydantic `Plan` in
director.models is the single validator and decides what is acceptable. Nothing here guesses
at meaning: two different plans in one answer is an error, not a choice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from director.models import ACTION_ADAPTER, Action, Plan

# Far beyond any real answer (max_tokens bounds it); stops a pathological input from costing
# quadratic scanning time.
MAX_ANSWER_CHARS = 200_000
_MAX_ERRORS_SHOWN = 8
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_PLAN_KEYS = frozenset({"reasoning", "actions", "priority", "requires_opus_consult"})
_ACTION_KEYS = frozenset({"action_type", "details"})


class PlanParseError(ValueError):
    """The answer holds no valid plan. The message is short and safe to quote back to the
    model in a repair request and to show the operator."""


def parse_plan(answer: str | Mapping[str, Any]) -> Plan:
    """A Plan from a tool input (a mapping) or a text answer; raises PlanParseError."""
    if isinstance(answer, str):
        payload: Any = extract_json_object(answer)
    else:
        payload = answer
    return validate_plan(payload)


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


def extract_json_object(text: str) -> dict[str, Any]:
    """The one plan-like JSON object in `text`: inside code fences, after prose, or bare."""
    if len(text) > MAX_ANSWER_CHARS:
        raise PlanParseError(f"the answer is too long ({len(text)} characters)")
    stripped = text.strip()
    if not stripped:
        raise PlanParseError("the answer is empty; expected a JSON plan")
    candidates: list[dict[str, Any]] = []
    for match in _FENCE.finditer(stripped):
        candidates.extend(_objects_in(match.group(2)))
    if not candidates:
        candidates = _objects_in(stripped)
    if not candidates:
        raise PlanParseError("no JSON object found in the answer; expected a JSON plan")
    plans = [c for c in candidates if _PLAN_KEYS & c.keys() or _wrapped_plan(c) is not None]
    if not plans:
        if len(candidates) == 1:
            return candidates[0]
        raise PlanParseError("the answer has JSON objects but none looks like a plan")
    distinct: list[dict[str, Any]] = []
    for plan in plans:
        if plan not in distinct:
            distinct.append(plan)
    if len(distinct) > 1:
        raise PlanParseError(f"the answer holds {len(distinct)} different plans; give exactly one")
    return distinct[0]


def _objects_in(text: str) -> list[dict[str, Any]]:
    """Top-level JSON objects anywhere in `text` (objects nested in one are not repeated)."""
    # Decimal, never float: a price must reach the plan exactly as the model wrote it.
    decoder = json.JSONDecoder(parse_float=Decimal)
    found: list[dict[str, Any]] = []
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except ValueError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        position = text.find("{", end)
    return found


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
