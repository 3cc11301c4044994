"""What the bot needs from the engine: the slice of director.Director it drives.

Typing the bot against this Protocol keeps the dependency one-way and small, and mypy checks
that the real Director still satisfies it wherever one is passed in (bot/app.py). Reads go
through `queries` (director/queries.py); nothing here reaches the store.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol

from director.clock import Clock
from director.face import PanicResult, Queries, Submission
from director.models import Action, Autonomy, SystemState
from director.reporting import ApprovalDecision, ApprovalRequest, CycleReport
from director.settings import Settings


class DirectorPort(Protocol):
    settings: Settings
    clock: Clock
    next_cycle_at: datetime | None

    @property
    def queries(self) -> Queries: ...

    @property
    def running(self) -> bool: ...

    async def run_cycle(self, trigger: str = "schedule") -> CycleReport: ...

    async def sense(self) -> SystemState: ...

    async def decide_approval(
        self, approval_id: int, user: str, approve: bool, *, half: bool = False
    ) -> ApprovalDecision: ...

    async def expire_approvals(self) -> list[ApprovalDecision]: ...

    async def pending_approvals(self) -> list[ApprovalRequest]: ...

    async def set_safe_mode(self, on: bool, by: str) -> None: ...

    async def set_paused(self, on: bool, by: str) -> None: ...

    async def set_autonomy(self, autonomy: Autonomy, by: str) -> None: ...

    async def autonomy(self) -> Autonomy: ...

    async def panic(self, by: str) -> PanicResult: ...

    async def ai_spend_today(self) -> Decimal: ...

    async def submit_action(
        self, action: Action, *, origin: str, key: str | None = None, note: str = ""
    ) -> Submission: ...

    async def close(self) -> None: ...
