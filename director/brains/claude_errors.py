"""What a failed Messages API call means for the operator: a passing outage, or a
misconfiguration that will not pass by itself.

429, 529, 5xx, timeouts and connection failures pass (the SDK already retried them). 400, 401,
403, 404 and 413 are answers about the request or the account: retrying the same request
cannot succeed, so the alert says what is wrong and how to fix it. No message here contains a
credential (the SDK's errors carry none, and nothing of the request's headers is quoted).
"""

from __future__ import annotations

from collections.abc import Mapping

import anthropic

from director.brains.base import LLMCall, Tier
from director.describe import clip, describe_error
from director.settings import Settings

MISCONFIGURATION_STATUSES = frozenset({400, 401, 403, 404, 413})

_TIER_SETTING: dict[Tier, str] = {
    "planner": "OMEGA_MODEL_PLANNER",
    "executor": "OMEGA_MODEL_EXECUTOR",
    "escalation": "OMEGA_MODEL_ESCALATION",
}


class BrainUnavailable(Exception):
    """The Messages API could not be used this cycle. `calls` holds every call made before
    (and including) the one that failed, all already recorded through the ledger.
    `misconfigured`: the API refused the request itself, so it will fail again until a
    setting or the account changes."""

    def __init__(self, message: str, calls: list[LLMCall], *, misconfigured: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.calls = calls
        self.misconfigured = misconfigured


def is_misconfiguration(exc: anthropic.APIError) -> bool:
    return (
        isinstance(exc, anthropic.APIStatusError) and exc.status_code in MISCONFIGURATION_STATUSES
    )


def describe_api_error(
    exc: anthropic.APIError, settings: Settings, *, tier: Tier, model: str
) -> str:
    """One line for the operator: what happened and, for a misconfiguration, the fix."""
    count = settings.ai_max_retries
    retries = f" after {count} {'retry' if count == 1 else 'retries'}" if count else ""
    if isinstance(exc, anthropic.APITimeoutError):
        return f"timed out ({settings.ai_timeout_seconds:g}s per attempt){retries}"
    if isinstance(exc, anthropic.APIConnectionError):
        return f"connection failed{retries}"
    if not isinstance(exc, anthropic.APIStatusError):
        return describe_error(exc)
    status = exc.status_code
    detail = _api_message(exc.body)
    said = f": {detail}" if detail else ""
    if status in MISCONFIGURATION_STATUSES:
        return f"HTTP {status} {_fix(status, tier, model)}{said}"
    label = {429: "rate limited", 529: "overloaded"}.get(
        status, "server error" if status >= 500 else "request rejected"
    )
    retried = retries if status in (408, 409, 429) or status >= 500 else ""
    return f"HTTP {status} {label}{retried}{said}"


def _fix(status: int, tier: Tier, model: str) -> str:
    setting = _TIER_SETTING[tier]
    return {
        400: (
            f"request refused by the API for {model} (check {setting} and "
            f"OMEGA_EFFORT_{tier.upper()}; if they are right, this is a bug to report)"
        ),
        401: "authentication failed (check ANTHROPIC_API_KEY)",
        403: f"permission denied (the API key's workspace has no access to {model})",
        404: f"model {model} not found (check {setting})",
        413: "prompt too large for the API (lower the state limits or report it)",
    }[status]


def _api_message(body: object) -> str:
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return clip(str(error["message"]), 160)
    return ""
