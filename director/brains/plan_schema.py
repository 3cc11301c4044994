"""The JSON schemas Claude's answers are decoded against (structured outputs,
`output_config.format`), derived from the pydantic models so there is one source of truth.

The API accepts a subset of JSON Schema (anthropic.transform_schema is the SDK's statement of
it: every object closed with additionalProperties false; no numeric or length bounds, which
move into descriptions). On top of that subset the wire schema makes every property required
(an optional one the model may leave open is nullable instead, so "not set" is an explicit
null) and drops what costs tokens without guiding the model (titles, pydantic defaults, the
OpenAPI discriminator). Bounds the schema cannot express (a price within 0.01-0.99) are
checked after decoding by the pydantic models, which stay the single validator.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import anthropic

from director.models import Plan

_NOISE = frozenset({"title", "default", "discriminator"})

PLACE_ORDER_HINTS = {
    "price": "dollars per contract, 0.01-0.99 on the market's tick grid; null: filled from "
    "the quote by a smaller model",
    "quantity": "whole contracts within the guard limits; null: filled by a smaller model",
}

ORDER_FILL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "price": {"type": "number", "description": "dollars per contract, 0.01-0.99"},
        "quantity": {"type": "integer", "description": "whole contracts, at least 1"},
        "reasoning": {"type": "string", "description": "one sentence"},
    },
    "required": ["price", "quantity", "reasoning"],
    "additionalProperties": False,
}


@functools.cache
def _plan_schema() -> dict[str, Any]:
    schema = wire_schema(Plan.model_json_schema())
    details = schema.get("$defs", {}).get("PlaceOrderDetails", {}).get("properties", {})
    for name, hint in PLACE_ORDER_HINTS.items():
        if name in details:
            details[name]["description"] = hint
    return schema


def plan_schema() -> dict[str, Any]:
    """The Plan as the model writes it; a fresh copy each call (callers may not share it)."""
    return copy.deepcopy(_plan_schema())


def order_schema() -> dict[str, Any]:
    return copy.deepcopy(ORDER_FILL_SCHEMA)


def wire_schema(json_schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema made acceptable to structured outputs, all properties required."""
    required = _require_all(_strip_noise(_numbers_not_strings(json_schema)))
    transformed: dict[str, Any] = _strip_noise(anthropic.transform_schema(required))
    return transformed


def _numbers_not_strings(node: Any) -> Any:
    """A Decimal field accepts a number or a string; on the wire it is a number."""
    if isinstance(node, dict):
        out = {k: _numbers_not_strings(v) for k, v in node.items()}
        options = out.get("anyOf")
        if isinstance(options, list) and {"type": "number"} in options:
            kept = [o for o in options if o != {"type": "string"}]
            del out["anyOf"]
            out = {**kept[0], **out} if len(kept) == 1 else {**out, "anyOf": kept}
        return out
    if isinstance(node, list):
        return [_numbers_not_strings(item) for item in node]
    return node


def _require_all(node: Any) -> Any:
    if isinstance(node, list):
        return [_require_all(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _require_all(v) for k, v in node.items()}
    props = out.get("properties")
    if out.get("type") == "object" and isinstance(props, dict):
        out["required"] = list(props)
    return out


def _strip_noise(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_noise(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            # Under "properties" the keys are field names, not keywords: keep them all.
            out[key] = {name: _strip_noise(sub) for name, sub in value.items()}
        elif key not in _NOISE:
            out[key] = _strip_noise(value)
    description = out.get("description")
    # transform_schema appends what it cannot express as "{default: ...}"; a default is noise.
    if isinstance(description, str) and description.startswith("{default:"):
        del out["description"]
    return out
