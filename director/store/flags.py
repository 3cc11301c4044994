"""The operator's switches (safe mode, pause, autonomy), kept across restarts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from director.clock import wall_clock
from director.models import Autonomy
from director.store.connection import Database, iso


class FlagKey(StrEnum):
    SAFE_MODE = "safe_mode"  # "1" or "0"
    PAUSED = "paused"  # "1" or "0": scheduled cycles don't run
    AUTONOMY = "autonomy"  # an Autonomy value; absent: the setting decides


class FlagsMixin(Database):
    async def get_flag(self, key: str, default: str | None = None) -> str | None:
        """The value under `key` (a FlagKey), or `default` when it was never set."""
        row = await self.fetch_one("SELECT value FROM operator_state WHERE key = ?", (key,))
        return default if row is None else str(row[0])

    async def set_flag(
        self, key: str, value: str, by: str = "", now: datetime | None = None
    ) -> None:
        await self.execute(
            "INSERT INTO operator_state (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            (key, value, iso(now or wall_clock()), by),
        )

    async def safe_mode(self) -> bool:
        return await self.get_flag(FlagKey.SAFE_MODE, "0") == "1"

    async def set_safe_mode(self, on: bool, by: str = "") -> None:
        await self.set_flag(FlagKey.SAFE_MODE, "1" if on else "0", by)

    async def paused(self) -> bool:
        return await self.get_flag(FlagKey.PAUSED, "0") == "1"

    async def set_paused(self, on: bool, by: str = "") -> None:
        await self.set_flag(FlagKey.PAUSED, "1" if on else "0", by)

    async def autonomy(self) -> Autonomy | None:
        """The operator's override, or None to use the setting."""
        value = await self.get_flag(FlagKey.AUTONOMY)
        return None if value is None else Autonomy(value)

    async def set_autonomy(self, autonomy: Autonomy, by: str = "") -> None:
        await self.set_flag(FlagKey.AUTONOMY, autonomy.value, by)
