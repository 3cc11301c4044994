"""Field-level checks for Kalshi responses: each value's type, range and presence.

Prices are `*_dollars` fixed-point strings and counts `*_fp` fixed-point strings, both parsed
with Decimal; a bad value raises `KalshiParseError` naming the field. Kalshi supports fractional
contracts (0.01 granularity) but the director trades whole ones, so counts are rounded toward
the safe side by `whole`: holdings down, order sizes up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from director.exchanges.base import ExchangeError
from director.exchanges.kalshi.errors import KalshiParseError
from director.models import ONE

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MAX_NUMBER_TEXT = 40
MAX_TICKER = 200
MAX_TEXT = 2000


# --- primitive fields ---------------------------------------------------------------------


def mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise KalshiParseError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def sequence(value: Any, what: str, *, allow_null: bool = False) -> Sequence[Any]:
    if value is None and allow_null:
        return ()
    if not isinstance(value, list):
        raise KalshiParseError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def text(
    obj: Mapping[str, Any], field: str, *, required: bool = True, limit: int = MAX_TEXT
) -> str:
    value = obj.get(field)
    if value is None:
        if required:
            raise KalshiParseError(f"{field}: missing")
        return ""
    if not isinstance(value, str):
        raise KalshiParseError(f"{field}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise KalshiParseError(f"{field}: longer than {limit} characters")
    return value


def identifier(obj: Mapping[str, Any], field: str) -> str:
    """A ticker or id: non-empty, printable, no whitespace."""
    value = text(obj, field, limit=MAX_TICKER)
    if not value or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise KalshiParseError(f"{field}: not a valid identifier {value[:40]!r}")
    return value


def decimal_text(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise KalshiParseError(f"{field}: expected a fixed-point string, got {value!r:.40}")
    raw = str(value).strip()
    if not raw or len(raw) > MAX_NUMBER_TEXT:
        raise KalshiParseError(f"{field}: not a number {raw[:40]!r}")
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise KalshiParseError(f"{field}: not a number {raw[:40]!r}") from None
    if not number.is_finite():
        raise KalshiParseError(f"{field}: not a finite number {raw!r}")
    return number


def dollars(obj: Mapping[str, Any], field: str) -> Decimal:
    """A `*_dollars` amount (may be negative: P&L)."""
    if obj.get(field) is None:
        raise KalshiParseError(f"{field}: missing")
    return decimal_text(obj[field], field)


def optional_dollars(obj: Mapping[str, Any], field: str) -> Decimal | None:
    return None if obj.get(field) is None else decimal_text(obj[field], field)


def optional_price(obj: Mapping[str, Any], field: str) -> Decimal | None:
    """A price per contract in dollars, within [0, 1]; None when absent."""
    if obj.get(field) is None:
        return None
    value = decimal_text(obj[field], field)
    if not ZERO <= value <= ONE:
        raise KalshiParseError(f"{field}: price {value} outside 0..1")
    return value


def price(obj: Mapping[str, Any], field: str) -> Decimal:
    value = optional_price(obj, field)
    if value is None:
        raise KalshiParseError(f"{field}: missing")
    return value


def count(obj: Mapping[str, Any], field: str, *, signed: bool = False) -> Decimal:
    """A `*_fp` contract count."""
    if obj.get(field) is None:
        raise KalshiParseError(f"{field}: missing")
    value = decimal_text(obj[field], field)
    if value < 0 and not signed:
        raise KalshiParseError(f"{field}: negative count {value}")
    return value


def whole(value: Decimal, *, up: bool) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR))


def optional_timestamp(obj: Mapping[str, Any], field: str) -> datetime | None:
    value = obj.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise KalshiParseError(f"{field}: expected an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise KalshiParseError(f"{field}: not an RFC 3339 timestamp {value[:40]!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def timestamp(obj: Mapping[str, Any], field: str) -> datetime:
    value = optional_timestamp(obj, field)
    if value is None:
        raise KalshiParseError(f"{field}: missing")
    return value


def epoch_ms(obj: Mapping[str, Any], field: str) -> datetime | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**14:
        raise KalshiParseError(f"{field}: not an epoch-milliseconds integer")
    return datetime.fromtimestamp(value / 1000, UTC)


def flag(obj: Mapping[str, Any], field: str, *, default: bool = False) -> bool:
    value = obj.get(field)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise KalshiParseError(f"{field}: expected true or false")
    return value


def optional_number(obj: Mapping[str, Any], field: str) -> Decimal | None:
    """A JSON number (Kalshi sends a few multipliers as floats): converted via its text."""
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise KalshiParseError(f"{field}: expected a number")
    return decimal_text(str(value), field)


def check_identifier(value: str, what: str, limit: int = MAX_TICKER) -> str:
    """A ticker or id we are about to put in a path or query: refused before sending."""
    if (
        not value
        or len(value) > limit
        or any(ch.isspace() or not ch.isprintable() or ch in "/?#%" for ch in value)
    ):
        raise ExchangeError(f"invalid {what} {value[:40]!r}")
    return value
