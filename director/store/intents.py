"""The order-intent journal (the exchanges.kalshi.IntentJournal port): what each order was
meant to do, so a restart still tells a sell of YES from a buy of NO (one order on Kalshi's
book)."""

from __future__ import annotations

from datetime import datetime

from director.store.connection import Database, iso


class IntentsMixin(Database):
    async def save_order_intent(self, key: str, side: str, action: str, now: datetime) -> None:
        """What an order (by its client or exchange id) was meant to do."""
        await self.execute(
            "INSERT INTO order_intents (key, side, action, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET side = excluded.side,"
            " action = excluded.action, created_at = excluded.created_at",
            (key, side, action, iso(now)),
        )

    async def recent_order_intents(self, limit: int) -> list[tuple[str, str, str]]:
        """(key, side, action), oldest first, the newest `limit` of them."""
        rows = await self.fetch(
            "SELECT key, side, action FROM (SELECT key, side, action, created_at, rowid"
            " FROM order_intents ORDER BY created_at DESC, rowid DESC LIMIT ?)"
            " ORDER BY created_at, rowid",
            (limit,),
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]
