"""What a model call cost, in Decimal dollars, from the usage block the API returns.

Prices are dollars per million tokens, (input, output), keyed by a model class ("opus",
"sonnet", "haiku") or a full model id; a model id is priced by the longest key it contains,
so "claude-sonnet-5-5" matches "sonnet" unless the table names it exactly. A model the table
does not know is priced at the table's most expensive rate: the daily budget must never
under-count spend because someone configured a new model id.

This module imports nothing from the rest of the project, so settings.py can use
parse_model_prices to validate an OMEGA_MODEL_PRICES setting without an import cycle; the
default table is settings.DEFAULT_MODEL_PRICES.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MILLION = Decimal(1_000_000)
# Anthropic bills 5-minute cache writes at 1.25x the input rate and cache reads at 0.1x.
CACHE_WRITE_FACTOR = Decimal("1.25")
CACHE_READ_FACTOR = Decimal("0.1")


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one response; `input_tokens` excludes the cached ones (API semantics)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def from_api(cls, usage: Any) -> TokenUsage:
        """From an SDK `Usage` object (or None). Missing or negative counts become 0, so a
        malformed usage block can't make a call look like it paid us."""
        return cls(
            input_tokens=_count(getattr(usage, "input_tokens", 0)),
            output_tokens=_count(getattr(usage, "output_tokens", 0)),
            cache_read_tokens=_count(getattr(usage, "cache_read_input_tokens", 0)),
            cache_write_tokens=_count(getattr(usage, "cache_creation_input_tokens", 0)),
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class PriceTable:
    """Dollars per million tokens by model class or id."""

    def __init__(self, prices: Mapping[str, tuple[Decimal, Decimal]]) -> None:
        if not prices:
            raise ValueError("a price table needs at least one entry")
        cleaned: dict[str, tuple[Decimal, Decimal]] = {}
        for key, (input_price, output_price) in prices.items():
            name = key.strip().lower()
            if not name:
                raise ValueError("a price table key is empty")
            if input_price < 0 or output_price < 0:
                raise ValueError(f"price for {key!r} is negative")
            cleaned[name] = (Decimal(input_price), Decimal(output_price))
        # Longest key first: an exact model id beats its class name.
        self._entries = sorted(cleaned.items(), key=lambda item: (-len(item[0]), item[0]))
        self._ceiling = max(cleaned.values(), key=lambda p: (p[0] + p[1], p[0]))

    def known(self, model: str) -> bool:
        return self._match(model) is not None

    def rates(self, model: str) -> tuple[Decimal, Decimal]:
        """(input, output) dollars per million tokens; the dearest entry for unknown models."""
        match = self._match(model)
        return self._ceiling if match is None else match

    def cost(self, model: str, usage: TokenUsage) -> Decimal:
        input_rate, output_rate = self.rates(model)
        micro = (
            usage.input_tokens * input_rate
            + usage.cache_write_tokens * input_rate * CACHE_WRITE_FACTOR
            + usage.cache_read_tokens * input_rate * CACHE_READ_FACTOR
            + usage.output_tokens * output_rate
        )
        return micro / MILLION

    def _match(self, model: str) -> tuple[Decimal, Decimal] | None:
        lowered = model.lower()
        for key, rates in self._entries:
            if key in lowered:
                return rates
        return None


_ENTRY = re.compile(r"^\s*([A-Za-z0-9._:-]+?)\s*[=:]\s*([0-9.]+)\s*/\s*([0-9.]+)\s*$")


def parse_model_prices(text: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Parse OMEGA_MODEL_PRICES: comma-separated `name=input/output` dollars per million
    tokens, e.g. "opus=5/25,sonnet=3/15,haiku=1/5". Raises ValueError naming the bad entry."""
    prices: dict[str, tuple[Decimal, Decimal]] = {}
    for raw in text.split(","):
        if not raw.strip():
            continue
        match = _ENTRY.match(raw)
        if match is None:
            raise ValueError(f"bad price entry {raw.strip()!r}, expected name=input/output")
        name, input_text, output_text = match.groups()
        try:
            rates = (Decimal(input_text), Decimal(output_text))
        except InvalidOperation:
            raise ValueError(f"bad price entry {raw.strip()!r}: not a number") from None
        if not all(r.is_finite() for r in rates):
            raise ValueError(f"bad price entry {raw.strip()!r}: not a finite number")
        key = name.lower()
        if key in prices:
            raise ValueError(f"price for {name!r} given twice")
        prices[key] = rates
    if not prices:
        raise ValueError("no prices given")
    return prices
