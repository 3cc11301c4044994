"""Kalshi's errors as typed exceptions, and how an error response maps onto them.

Every exception here is an `ExchangeError` (the port's error, safe to show the operator), so a
caller that only knows the port still fails closed. The finer types let the director tell a
refusal from a response it could not trust:

- `KalshiRequestError` — Kalshi answered with an error status (`status`, `code` are Kalshi's);
- `KalshiParseError` — a response did not have the shape Kalshi documents (a failed source: a
  `{}`, a 200 carrying an error body, a missing field, a wrong type), never an empty result;
- `KalshiRetriesExhausted` — every attempt failed in a way worth retrying (429, 5xx, timeouts);
- `OrderStateUnknown` — a create may or may not be on the book and it could not be checked;
- `ExchangeInactive` — the exchange or trading is paused; no order was sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from director.describe import clip
from director.exchanges.base import (
    ExchangeError,
    InsufficientFunds,
    MarketClosed,
    OrderNotFound,
)

INSUFFICIENT_FUNDS_CODES = frozenset({"insufficient_balance", "insufficient_funds"})
MARKET_CLOSED_CODES = frozenset(
    {"market_closed", "market_not_open", "market_inactive", "trading_is_paused"}
)
EXCHANGE_INACTIVE_CODES = frozenset({"exchange_closed", "exchange_inactive", "trading_is_paused"})


class KalshiParseError(ExchangeError):
    """A response did not have the shape Kalshi documents."""


class KalshiRequestError(ExchangeError):
    """Kalshi answered with an error status; `status` and `code` are Kalshi's."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class KalshiRetriesExhausted(ExchangeError):
    """Every attempt failed in a retryable way; `unclear` when the last one may have landed."""

    def __init__(self, message: str, *, detail: str, attempts: int, unclear: bool) -> None:
        super().__init__(message)
        self.detail = detail
        self.attempts = attempts
        self.unclear = unclear


class OrderStateUnknown(ExchangeError):
    """A create may or may not have reached the book and it could not be checked."""


class ExchangeInactive(ExchangeError):
    """Kalshi's exchange or trading is not active; nothing was sent. `resume_at` is Kalshi's
    estimate of when trading comes back, when it gave one."""

    def __init__(self, message: str, *, resume_at: datetime | None = None) -> None:
        super().__init__(message)
        self.resume_at = resume_at


def clean(text: str, limit: int = 200) -> str:
    """Server text shown to the operator: printable, one line, bounded."""
    return clip("".join(ch if ch.isprintable() else " " for ch in text), limit)


def error_info(body: Any) -> tuple[str, str]:
    """(code, message) from an error body: the SDK's flat ErrorResponse or {"error": {...}}."""
    if not isinstance(body, Mapping):
        return "", ""
    inner = body.get("error")
    source = inner if isinstance(inner, Mapping) else body
    code = source.get("code")
    message = source.get("message") or source.get("details")
    return (
        code if isinstance(code, str) else "",
        message if isinstance(message, str) else "",
    )


def safe_json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def error_code(response: httpx.Response) -> str:
    return clean(error_info(safe_json(response))[0], 60)


def error_for(response: httpx.Response, what: str) -> ExchangeError:
    """The typed error for an error response to `what` (e.g. "GET /portfolio/balance")."""
    code, message = error_info(safe_json(response))
    code, message = clean(code, 60), clean(message)
    status = response.status_code
    detail = f"{code}: {message}" if code and message else (code or message or "no detail")
    text = f"Kalshi {status} on {what} ({detail})"
    if status in (401, 403):
        return KalshiRequestError(
            f"{text}: check KALSHI_API_KEY_ID and KALSHI_PRIVATE_KEY_PATH",
            status=status,
            code=code,
        )
    if code in INSUFFICIENT_FUNDS_CODES:
        return InsufficientFunds(text)
    if code in EXCHANGE_INACTIVE_CODES - MARKET_CLOSED_CODES:
        return ExchangeInactive(text)
    if code in MARKET_CLOSED_CODES:
        return MarketClosed(text)
    if status == 404 and "/orders/" in what:
        return OrderNotFound(text)
    return KalshiRequestError(text, status=status, code=code)
