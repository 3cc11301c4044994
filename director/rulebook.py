"""The THINK rules as data: text for the AI and numeric thresholds both brains read.

Rules are versioned in the database (store.rules_versions); version 1 is DEFAULT_RULESET.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class Thresholds(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_limit: float = Field(0.8, gt=0, le=1, description="rule 1: reduce positions above it")
    min_confidence: Decimal = Field(Decimal("0.7"), ge=0, le=1, description="rule 2")
    min_edge: Decimal = Field(Decimal("0.1"), ge=0, le=1, description="rule 2, dollars/contract")
    stale_order_hours: float = Field(2.0, gt=0, description="rule 3")
    near_risk: float = Field(
        0.6, ge=0, le=1, description="rule 2: above it, take only the single best opportunity"
    )
    max_new_orders: int = Field(3, ge=0, le=50, description="rule 2: new orders per cycle")
    kelly_fraction: Decimal = Field(
        Decimal("0.25"), gt=0, le=1, description="rule 2: fraction of the Kelly stake to bet"
    )
    # Baskets (rule 2, place_basket): the payout is sure, so confidence and edge do not apply;
    # what remains is whether the profit is worth the execution risk and the capital tied up.
    min_basket_profit: Decimal = Field(
        Decimal("1.00"),
        ge=0,
        description="rule 2, baskets: least net profit in dollars, at the limit prices, after "
        "fees (below it, unwinding one uneven fill across a spread can cost more)",
    )
    min_basket_return: Decimal = Field(
        Decimal("0.01"),
        ge=0,
        le=1,
        description="rule 2, baskets: least net profit as a fraction of the cash committed "
        "until settlement",
    )
    max_new_baskets: int = Field(1, ge=0, le=10, description="rule 2: new baskets per cycle")


DEFAULT_RULE_TEXT: tuple[str, ...] = (
    "Preserve capital. If risk_score > {risk_limit}, reduce positions.",
    "Act on high-confidence opportunities (confidence > {min_confidence}, edge > {min_edge}) "
    "within risk limits.",
    "Cancel stale pending orders (> {stale_order_hours:g} hours old) that have not filled.",
    "If system health is degraded, enter safe mode (only close positions, no new orders).",
)


class RuleSet(BaseModel):
    """One version of the rules."""

    model_config = ConfigDict(frozen=True)

    version: int = 1
    rules: tuple[str, ...] = DEFAULT_RULE_TEXT
    thresholds: Thresholds = Field(default_factory=Thresholds)
    created_at: datetime | None = None
    note: str = "default rules (DESIGN.md)"
    source: str = "default"  # "default", "review", "rollback", ...

    def rendered(self) -> list[str]:
        """Rule texts with the thresholds filled in, numbered from 1."""
        values = self.thresholds.model_dump()
        out = []
        for number, text in enumerate(self.rules, start=1):
            try:
                body = text.format(**values)
            except (KeyError, IndexError, ValueError):
                body = text
            out.append(f"{number}. {body}")
        return out


DEFAULT_RULESET = RuleSet()
