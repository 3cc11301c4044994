"""The LLM usage ledger (the brains.base.UsageLedger port): every model call, costed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from director.brains.base import LLMCall
from director.store.connection import Database, iso


class UsageMixin(Database):
    async def record_llm_call(self, call: LLMCall) -> None:
        await self.execute(
            "INSERT INTO llm_usage (created_at, cycle_id, purpose, tier, model, input_tokens,"
            " output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens,"
            " latency_ms, cost_usd, ok, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                iso(call.created_at),
                call.cycle_id,
                call.purpose,
                call.tier,
                call.model,
                call.input_tokens,
                call.output_tokens,
                call.cache_read_tokens,
                call.cache_write_tokens,
                call.cache_write_1h_tokens,
                call.latency_ms,
                str(call.cost_usd),
                int(call.ok),
                call.error,
            ),
        )

    async def llm_spend_since(self, since: datetime) -> Decimal:
        return sum((cost for _, cost in await self.llm_costs_since(since)), Decimal(0))

    async def llm_costs_since(self, since: datetime) -> list[tuple[datetime, Decimal]]:
        """(when, cost in dollars) of every model call since `since`, in UTC."""
        rows = await self.fetch(
            "SELECT created_at, cost_usd FROM llm_usage WHERE created_at >= ?", (iso(since),)
        )
        return [(datetime.fromisoformat(r[0]).astimezone(UTC), Decimal(r[1])) for r in rows]
