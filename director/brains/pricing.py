"""What a model call cost, in Decimal dollars, from the usage block the API returns.

Prices are dollars per million tokens, one `Rates` per model id, from Anthropic's price list
(platform.claude.com "Pricing" and each model's overview page, read 2026-12-01): base input,
output, 5-minute cache write, 1-hour cache write and cache read ("hits and refreshes"). Haiku
5.5 is priced by prompt length: a request whose prompt (input + cache reads + cache writes) is
over 100,000 tokens pays its long-prompt rates on every token, output included.

A model id is priced only when the table names it (a dated snapshot such as
`claude-sonnet-4-5-20250929` matches its alias); an unknown id has no price, and Settings
refuses to start the claude brain with one unless OMEGA_MODEL_PRICES names it: spend must
never be under-counted because someone configured a new model id.

This module imports nothing from the rest of the project, so settings.py can use it to
validate OMEGA_MODEL_PRICES without an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MILLION = Decimal(1_000_000)
# The standard cache multipliers of the price list, used only for a price given as
# input/output alone in OMEGA_MODEL_PRICES; 0.1x reads over-count the newest models (0.05x).
CACHE_WRITE_5M_FACTOR = Decimal("1.25")
CACHE_WRITE_1H_FACTOR = Decimal(2)
CACHE_READ_FACTOR = Decimal("0.1")
LONG_PROMPT_TOKENS = 100_000


@dataclass(frozen=True)
class Rates:
    """Dollars per million tokens."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal

    @classmethod
    def standard(cls, input_rate: Decimal, output_rate: Decimal) -> Rates:
        return cls(
            input=input_rate,
            output=output_rate,
            cache_write_5m=input_rate * CACHE_WRITE_5M_FACTOR,
            cache_write_1h=input_rate * CACHE_WRITE_1H_FACTOR,
            cache_read=input_rate * CACHE_READ_FACTOR,
        )

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} rate must be a finite, non-negative number")


@dataclass(frozen=True)
class ModelPrice:
    """A model's rates, with the long-prompt tier where the price list has one."""

    rates: Rates
    long_prompt: Rates | None = None

    def for_prompt(self, prompt_tokens: int) -> Rates:
        if self.long_prompt is not None and prompt_tokens > LONG_PROMPT_TOKENS:
            return self.long_prompt
        return self.rates


def _r(inp: str, out: str, w5: str, w1: str, read: str) -> Rates:
    return Rates(Decimal(inp), Decimal(out), Decimal(w5), Decimal(w1), Decimal(read))


_OPUS_4_5_TO_5 = ModelPrice(_r("5", "25", "6.25", "10", "0.50"))
_SONNET_4 = ModelPrice(_r("3", "15", "3.75", "6", "0.30"))

# Model id -> price. The 5.5 generation is the default routing (settings.DEFAULT_PLANNER, ...).
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-opus-5-5": ModelPrice(_r("4", "20", "5", "8", "0.20")),
    # Sonnet 5.5's cache reads were cut from $0.20 to $0.10 on 2026-10-07.
    "claude-sonnet-5-5": ModelPrice(_r("2", "10", "2.50", "4", "0.10")),
    "claude-haiku-5-5": ModelPrice(
        _r("0.10", "0.50", "0.125", "0.20", "0.01"),
        long_prompt=_r("0.50", "2.50", "0.625", "1.00", "0.05"),
    ),
    "claude-fable-5-1": ModelPrice(_r("10", "50", "12.50", "20", "0.25")),
    "claude-opus-5": _OPUS_4_5_TO_5,
    "claude-sonnet-5": ModelPrice(_r("2", "10", "2.50", "4", "0.20")),
    "claude-opus-4-8": _OPUS_4_5_TO_5,
    "claude-opus-4-7": _OPUS_4_5_TO_5,
    "claude-opus-4-6": _OPUS_4_5_TO_5,
    "claude-opus-4-5": _OPUS_4_5_TO_5,
    "claude-sonnet-4-6": _SONNET_4,
    "claude-sonnet-4-5": _SONNET_4,
    "claude-haiku-4-5": ModelPrice(_r("1", "5", "1.25", "2", "0.10")),
}

_SNAPSHOT_SUFFIX = re.compile(r"(-\d{8}|\[1m\])$")


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one response; `input_tokens` excludes the cached ones (API semantics).
    Cache writes are split by TTL: they are billed at different rates."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def prompt_tokens(self) -> int:
        """What the price list's prompt-length tier counts: input, cache reads and writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @classmethod
    def from_api(cls, usage: Any) -> TokenUsage:
        """From an SDK `Usage` object (or None). Missing or negative counts become 0, so a
        malformed usage block can't make a call look like it paid us. Without the per-TTL
        breakdown, every write counts as a 1-hour write, the dearer kind."""
        written = _count(getattr(usage, "cache_creation_input_tokens", 0))
        split = getattr(usage, "cache_creation", None)
        five = _count(getattr(split, "ephemeral_5m_input_tokens", 0))
        hour = _count(getattr(split, "ephemeral_1h_input_tokens", 0))
        if five + hour < written:
            hour = written - five
        return cls(
            input_tokens=_count(getattr(usage, "input_tokens", 0)),
            output_tokens=_count(getattr(usage, "output_tokens", 0)),
            cache_read_tokens=_count(getattr(usage, "cache_read_input_tokens", 0)),
            cache_write_5m_tokens=five,
            cache_write_1h_tokens=hour,
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class PriceTable:
    """Prices by model id: the default list, overridden by OMEGA_MODEL_PRICES."""

    def __init__(self, overrides: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = {**DEFAULT_PRICES, **{k.lower(): v for k, v in (overrides or {}).items()}}

    def known(self, model: str) -> bool:
        return self._match(model) is not None

    def price(self, model: str) -> ModelPrice:
        match = self._match(model)
        if match is None:
            raise KeyError(f"no price for model {model!r}")
        return match

    def cost(self, model: str, usage: TokenUsage) -> Decimal:
        rates = self.price(model).for_prompt(usage.prompt_tokens)
        micro = (
            usage.input_tokens * rates.input
            + usage.cache_write_5m_tokens * rates.cache_write_5m
            + usage.cache_write_1h_tokens * rates.cache_write_1h
            + usage.cache_read_tokens * rates.cache_read
            + usage.output_tokens * rates.output
        )
        return micro / MILLION

    def _match(self, model: str) -> ModelPrice | None:
        name = model.strip().lower()
        return self._prices.get(name) or self._prices.get(_SNAPSHOT_SUFFIX.sub("", name))


_ENTRY = re.compile(r"^\s*([A-Za-z0-9._:\[\]-]+?)\s*[=:]\s*([0-9.]+(?:\s*/\s*[0-9.]+)*)\s*$")


def parse_model_prices(text: str) -> dict[str, ModelPrice]:
    """Parse OMEGA_MODEL_PRICES: comma-separated `model=input/output` or
    `model=input/output/write5m/write1h/read`, dollars per million tokens, e.g.
    "claude-sonnet-6=3/15,claude-x=2/10/2.5/4/0.1". With two numbers the cache rates follow
    the price list's standard multipliers. Raises ValueError naming the bad entry."""
    prices: dict[str, ModelPrice] = {}
    for raw in text.split(","):
        if not raw.strip():
            continue
        entry = raw.strip()
        match = _ENTRY.match(entry)
        if match is None:
            raise ValueError(f"bad price entry {entry!r}, expected model=input/output")
        name, numbers = match.groups()
        try:
            values = [Decimal(part.strip()) for part in numbers.split("/")]
        except InvalidOperation:
            raise ValueError(f"bad price entry {entry!r}: not a number") from None
        if len(values) not in (2, 5):
            raise ValueError(f"bad price entry {entry!r}: give 2 or 5 rates, not {len(values)}")
        if not all(v.is_finite() for v in values):
            raise ValueError(f"bad price entry {entry!r}: not a finite number")
        rates = Rates.standard(*values) if len(values) == 2 else Rates(*values)
        key = name.lower()
        if key in prices:
            raise ValueError(f"price for {name!r} given twice")
        prices[key] = ModelPrice(rates)
    if not prices:
        raise ValueError("no prices given")
    return prices
