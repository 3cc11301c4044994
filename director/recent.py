"""The planner's short memory: what the last cycles did with their actions and why.

Read from the store each cycle (a cycle is otherwise stateless), so the planner sees that an
order was blocked by the guard, is waiting for approval, or filled, instead of proposing it
again blind.
"""

from __future__ import annotations

import logging

from director.brains.base import RecentAction
from director.store import Store

log = logging.getLogger(__name__)

RECENT_CYCLES = 3


async def recent_actions(
    store: Store, current_cycle: int, cycles: int = RECENT_CYCLES
) -> tuple[RecentAction, ...]:
    """The actions of the `cycles` cycles before `current_cycle`, oldest first; empty (and
    logged) when the store can't be read: memory is a help, never a reason to fail a cycle."""
    try:
        records = [c for c in await store.recent_cycles(cycles + 1) if c.id != current_cycle]
        found: list[RecentAction] = []
        for cycle in sorted(records[:cycles], key=lambda c: c.id):
            for record in await store.cycle_actions(cycle.id):
                if record.kind == "do_nothing":
                    continue
                described = record.kind if record.action is None else record.action.describe()
                found.append(RecentAction(cycle.id, described, str(record.status), record.reason))
        return tuple(found)
    except Exception:
        log.exception("cannot read the recent cycles' actions; planning without them")
        return ()
