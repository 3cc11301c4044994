"""The one rule change a review suggests, and what applying it makes of the rules.

A suggestion changes rule text and/or one threshold; it is validated by the same model whether
the statistics or the escalation tier made it, and `apply_suggestion` is the only way it turns
into rules (director/review.py creates the new version when a human applies it).
"""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from director.rulebook import RuleSet, Thresholds

ThresholdName = Literal[
    "risk_limit",
    "min_confidence",
    "min_edge",
    "stale_order_hours",
    "near_risk",
    "max_new_orders",
    "kelly_fraction",
]


class RuleTextChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["add", "replace"]
    rule_number: int | None = Field(None, ge=1, description="1-based; required for replace")
    text: str = Field(min_length=5, max_length=600)

    @model_validator(mode="after")
    def _number_for_replace(self) -> RuleTextChange:
        if self.op == "replace" and self.rule_number is None:
            raise ValueError("replace needs rule_number")
        return self


class ThresholdChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ThresholdName
    new_value: Decimal


class Suggestion(BaseModel):
    """ONE change, with why and on what evidence."""

    model_config = ConfigDict(extra="ignore")

    summary: str = Field(min_length=3, max_length=300)
    patterns: list[str] = Field(default_factory=list, max_length=6)
    rule_change: RuleTextChange | None = None
    threshold_change: ThresholdChange | None = None
    rationale: str = Field(min_length=3, max_length=3000)
    evidence: list[str] = Field(default_factory=list, max_length=60)

    @model_validator(mode="after")
    def _one_change(self) -> Suggestion:
        if self.rule_change is None and self.threshold_change is None:
            raise ValueError("a suggestion needs a rule_change or a threshold_change")
        return self


def apply_suggestion(rules: RuleSet, suggestion: Suggestion) -> tuple[tuple[str, ...], Thresholds]:
    """The rule texts and thresholds after the change; ValueError if it can't apply."""
    texts = list(rules.rules)
    change = suggestion.rule_change
    if change is not None:
        if change.op == "add":
            texts.append(change.text)
        else:
            assert change.rule_number is not None
            if change.rule_number > len(texts):
                raise ValueError(f"there is no rule {change.rule_number} to replace")
            texts[change.rule_number - 1] = change.text
    thresholds = rules.thresholds
    if suggestion.threshold_change is not None:
        t = suggestion.threshold_change
        data = thresholds.model_dump()
        data[t.name] = t.new_value
        try:
            thresholds = Thresholds.model_validate(data)
        except ValidationError as exc:
            raise ValueError(
                f"{t.name}={t.new_value} is out of range: {exc.errors()[0]['msg']}"
            ) from None
    return tuple(texts), thresholds


def describe_rules(rules: RuleSet) -> list[str]:
    lines = rules.rendered()
    lines += [f"  {k} = {v}" for k, v in rules.thresholds.model_dump().items()]
    return lines


def rules_diff(old: RuleSet, new: RuleSet) -> list[str]:
    return list(
        difflib.unified_diff(
            describe_rules(old),
            describe_rules(new),
            f"v{old.version}",
            f"v{new.version}",
            lineterm="",
            n=0,
        )
    )
