"""The local API's request and answer bodies (DESIGN.md, "The local API"), typed for OpenAPI."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from director.heartbeats import NAME_PATTERN, BeatStatus, Script

# The plan's action types, for the docs; ACTION_ADAPTER is the validation (new types included).
ACTION_TYPES = ("place_order", "cancel_order", "rebalance", "do_nothing")


class IntentIn(BaseModel):
    """A script's trade, to go through the director's guard and approval policy."""

    model_config = ConfigDict(extra="forbid")

    intent_id: str = Field(
        min_length=1,
        max_length=200,
        description="unique per trade, across every script: a repeat is answered 'duplicate'",
    )
    source: str = Field(pattern=NAME_PATTERN, description="the script asking, e.g. rebalancer")
    action_type: str = Field(description="a plan action type: " + ", ".join(ACTION_TYPES))
    details: dict[str, Any] = Field(default_factory=dict, description="as in a plan's action")
    reason: str = Field("", max_length=1000, description="why the script wants it (recorded)")


class IntentOut(BaseModel):
    status: Literal["executed", "awaiting_approval", "blocked", "duplicate"]
    reason: str
    approval_id: int | None = None
    order_id: str | None = None


class Rejection(BaseModel):
    index: int
    error: str


class OpportunitiesOut(BaseModel):
    accepted: int
    rejected: list[Rejection]


class ScriptOut(BaseModel):
    name: str
    every_seconds: float
    status: BeatStatus
    detail: str
    critical: bool
    last_beat_at: datetime
    next_due_at: datetime
    late: bool

    @classmethod
    def of(cls, script: Script, late: bool) -> ScriptOut:
        return cls(
            name=script.name,
            every_seconds=script.every_seconds,
            status=script.status,
            detail=script.detail,
            critical=script.critical,
            last_beat_at=script.last_beat_at,
            next_due_at=script.due_at(),
            late=late,
        )


class HealthOut(BaseModel):
    director: Literal["up"] = "up"
    cycle_running: bool
    next_cycle_at: datetime | None
    scripts: list[ScriptOut]
    degraded_by: list[str] = Field(description="critical scripts that are down now")
