"""The Messages API contract the stand-in enforces, as documented by Anthropic for today's
models (read 2026-12-01: "What's new in Claude Sonnet 5.5" / "Opus 5.5", the Haiku 5.5
migration guide, "Structured outputs", "Adaptive thinking", "Effort", "Prompt caching").

Pure functions over a request body: `violation(body)` names the first thing the real API
answers with HTTP 400, or None. Also: the structured-output schema subset, thinking-block
signatures bound to the model and the conversation before them, a token estimate, and the
cacheable prefix. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

# Model ids the stand-in answers; anything else is a 404, as on the real API.
GEN_5_5 = frozenset({"claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5"})
KNOWN_MODELS = GEN_5_5 | {"claude-sonnet-5", "claude-opus-5", "claude-haiku-4-5"}
EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
# Accepted thinking.type per model; "enabled" (manual budget) is refused by every 5.x model.
THINKING_TYPES = {
    "claude-sonnet-5-5": frozenset({"adaptive", "between_tools"}),
    "claude-opus-5-5": frozenset({"adaptive"}),  # thinking can't be disabled
    "claude-haiku-5-5": frozenset({"adaptive", "disabled"}),
}
# Shortest cacheable prefix: Sonnet 5.5's is documented (512); the others are assumed at the
# older 1,024 so a prefix that relies on less fails here first.
MIN_CACHEABLE_TOKENS = {"claude-sonnet-5-5": 512}
DEFAULT_MIN_CACHEABLE = 1024
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
SAMPLING = ("temperature", "top_p", "top_k")
_SECRET = b"stand-in thinking signatures"

# What structured outputs accept per schema node (anthropic.transform_schema's output set).
_ALWAYS = {"description", "title", "$defs", "$ref", "anyOf", "allOf", "enum", "const", "type"}
_BY_TYPE = {
    "object": {"properties", "required", "additionalProperties"},
    "array": {"items", "minItems"},
    "string": {"format"},
}
_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6"}


def estimate_tokens(value: Any) -> int:
    """About four characters a token: the documented rule of thumb for English and JSON."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return max(1, (len(text) + 3) // 4)


def violation(body: dict[str, Any]) -> str | None:
    """The 400 the real API gives this request, or None."""
    model = str(body.get("model", ""))
    checks = (
        _sampling,
        _tool_choice,
        _prefill,
        _thinking,
        _output_config,
        _cache_ttls,
    )
    for check in checks:
        problem = check(model, body)
        if problem:
            return problem
    return None


def _sampling(model: str, body: dict[str, Any]) -> str | None:
    for name in SAMPLING:
        if name in body and model.startswith("claude-") and "-5" in model:
            return f"{name}: sampling parameters are not supported by {model}; remove {name}"
    return None


def _tool_choice(model: str, body: dict[str, Any]) -> str | None:
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("tool", "any") and model in GEN_5_5:
        return (
            f"tool_choice: forced tool use is not supported by {model}; "
            "use tool_choice auto or none, or structured outputs"
        )
    return None


def _prefill(model: str, body: dict[str, Any]) -> str | None:
    messages = body.get("messages") or []
    if messages and messages[-1].get("role") == "assistant" and model in GEN_5_5:
        return (
            f"This model ({model}) does not support assistant message prefill. "
            "The conversation must end with a user message."
        )
    return None


def _thinking(model: str, body: dict[str, Any]) -> str | None:
    thinking = body.get("thinking")
    if thinking is None or model not in THINKING_TYPES:
        return None
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in THINKING_TYPES[model]:
        allowed = ", ".join(sorted(THINKING_TYPES[model]))
        return f"thinking.type: {kind!r} is not supported by {model} (use {allowed})"
    return None


def _output_config(model: str, body: dict[str, Any]) -> str | None:
    config = body.get("output_config")
    if config is None:
        return None
    if not isinstance(config, dict):
        return "output_config: must be an object"
    effort = config.get("effort")
    if effort is not None and effort not in EFFORTS:
        return f"output_config.effort: {effort!r} is not one of {sorted(EFFORTS)}"
    fmt = config.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return "output_config.format.type: must be 'json_schema'"
    schema = fmt.get("schema")
    if not isinstance(schema, dict):
        return "output_config.format.schema: required"
    problem = schema_problem(schema, "schema")
    return f"output_config.format.{problem}" if problem else None


def schema_problem(node: Any, where: str) -> str | None:
    """The first JSON-schema feature structured outputs refuse, or None."""
    if not isinstance(node, dict):
        return f"{where}: a schema must be an object"
    kind = node.get("type")
    allowed = _ALWAYS | _BY_TYPE.get(kind if isinstance(kind, str) else "", set())
    for key in node:
        if key not in allowed:
            return f"{where}: '{key}' is not supported in structured outputs"
    if kind == "object" and node.get("additionalProperties") is not False:
        return f"{where}: objects must set additionalProperties to false"
    if kind == "array" and node.get("minItems", 0) not in (0, 1):
        return f"{where}: minItems must be 0 or 1"
    if kind == "string" and "format" in node and node["format"] not in _FORMATS:
        return f"{where}: string format {node['format']!r} is not supported"
    children: list[tuple[str, Any]] = []
    children += [(f"{where}.properties.{k}", v) for k, v in node.get("properties", {}).items()]
    children += [(f"{where}.$defs.{k}", v) for k, v in node.get("$defs", {}).items()]
    children += [(f"{where}.anyOf[{i}]", v) for i, v in enumerate(node.get("anyOf", []))]
    children += [(f"{where}.allOf[{i}]", v) for i, v in enumerate(node.get("allOf", []))]
    if "items" in node:
        children.append((f"{where}.items", node["items"]))
    for path, child in children:
        problem = schema_problem(child, path)
        if problem:
            return problem
    return None


def conforms(value: Any, node: dict[str, Any], root: dict[str, Any]) -> bool:
    """Whether `value` fits the (supported subset of a) schema: what constrained decoding
    guarantees of every answer that is not cut off or refused."""
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        return conforms(value, root.get("$defs", {}).get(name, {}), root)
    if "anyOf" in node:
        return any(conforms(value, option, root) for option in node["anyOf"])
    if "const" in node:
        return bool(value == node["const"])
    if "enum" in node:
        return value in node["enum"]
    kind = node.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return False
        props = node.get("properties", {})
        if any(key not in props for key in value):
            return False
        if any(key not in value for key in node.get("required", [])):
            return False
        return all(conforms(value[k], props[k], root) for k in value)
    if kind == "array":
        return isinstance(value, list) and all(
            conforms(item, node.get("items", {}), root) for item in value
        )
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return kind is None or bool(checks.get(str(kind), lambda v: False)(value))


def _cache_ttls(model: str, body: dict[str, Any]) -> str | None:
    """1-hour breakpoints must come before 5-minute ones (prompt caching docs)."""
    seen_short = False
    for block in prefix_blocks(body):
        control = block.get("cache_control") if isinstance(block, dict) else None
        if not isinstance(control, dict):
            continue
        ttl = control.get("ttl", "5m")
        if ttl not in TTL_SECONDS:
            return f"cache_control.ttl: {ttl!r} is not one of 5m, 1h"
        if ttl == "1h" and seen_short:
            return "cache_control: a 1h breakpoint must come before any 5m breakpoint"
        seen_short = seen_short or ttl == "5m"
    return None


# --- thinking signatures --------------------------------------------------------------------


def sign(model: str, history: list[Any], thinking: str) -> str:
    """A signature bound to the producing model, the conversation before the answer and the
    thinking text: any change to one of them makes the block fail on replay."""
    digest = hashlib.sha256(json.dumps(history, sort_keys=True).encode()).hexdigest()
    mac = hmac.new(_SECRET, f"{model}|{digest}|{thinking}".encode(), hashlib.sha256)
    return f"{model}.{mac.hexdigest()}"


def replay_problem(body: dict[str, Any]) -> str | None:
    """Thinking blocks sent back must be unmodified, from this model (Haiku 5.5's blocks replay
    anywhere), and the last assistant turn with tool use must keep its thinking."""
    model = str(body.get("model", ""))
    messages = body.get("messages") or []
    head = {"system": body.get("system"), "tools": body.get("tools")}
    last_assistant = max(
        (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1
    )
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
            continue
        blocks = message["content"]
        history = [head, messages[:index]]
        for block in blocks:
            if block.get("type") != "thinking":
                continue
            signature = str(block.get("signature", ""))
            producer = signature.split(".", 1)[0]
            if producer != model and producer != "claude-haiku-5-5":
                if model == "claude-haiku-5-5":
                    continue  # dropped as model_binding_mismatch, not an error
                return f"messages.{index}: thinking block was produced by another model"
            if signature != sign(producer, history, str(block.get("thinking", ""))):
                return f"messages.{index}: thinking block signature is invalid or modified"
        has_tool = any(b.get("type") == "tool_use" for b in blocks)
        thinks = body.get("thinking", {}).get("type") != "disabled"
        if (
            index == last_assistant
            and has_tool
            and thinks
            and blocks[0].get("type")
            not in (
                "thinking",
                "redacted_thinking",
            )
        ):
            return (
                f"messages.{index}.content.0.type: expected thinking or redacted_thinking, "
                "the assistant turn with tool use must start with its thinking block"
            )
    return None


# --- the cacheable prefix ---------------------------------------------------------------------


def prefix_blocks(body: dict[str, Any]) -> list[Any]:
    """Tools, then system blocks, then message blocks: the order the cache reads them."""
    blocks: list[Any] = list(body.get("tools") or [])
    system = body.get("system")
    if isinstance(system, list):
        blocks += system
    elif isinstance(system, str):
        blocks.append({"type": "text", "text": system})
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, list):
            blocks += content
        else:
            blocks.append({"type": "text", "text": content})
    return blocks


@dataclass(frozen=True)
class Prefix:
    key: str
    tokens: int
    ttl: str


def cached_prefix(body: dict[str, Any]) -> Prefix | None:
    """The prefix up to the last cache breakpoint (with the output format, which is part of
    what is cached), or None without one."""
    blocks = prefix_blocks(body)
    marks = [i for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("cache_control")]
    if not marks:
        return None
    last = marks[-1]
    ttl = str(blocks[last]["cache_control"].get("ttl", "5m"))
    upto = [{k: v for k, v in b.items() if k != "cache_control"} for b in blocks[: last + 1]]
    fmt = (body.get("output_config") or {}).get("format")
    material = json.dumps([body.get("model"), fmt, upto], sort_keys=True)
    tokens = sum(estimate_tokens(b) for b in upto)
    return Prefix(hashlib.sha256(material.encode()).hexdigest(), tokens, ttl)


def request_tokens(body: dict[str, Any]) -> int:
    """Every input token of a request, as count_tokens reports it."""
    fmt = (body.get("output_config") or {}).get("format")
    extra = estimate_tokens(fmt) if fmt else 0
    return sum(estimate_tokens(b) for b in prefix_blocks(body)) + extra
