"""What becomes of one checked action, decided as data: the approval policy and the disposition.
Pure: no I/O, no clock.

Every action takes this one path after the guard, whoever asked: a cycle's brain, a script's
intent or an operator's command. `dispose` says what to do; director/dispatch.py does it
(records, parks, sends).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from director.guard import Verdict
from director.models import Action, Autonomy, CancelOrder, Priority


@dataclass(frozen=True)
class ApprovalPolicy:
    """What the approval policy weighs besides the verdict and the autonomy: the plan's
    priority and escalation, and the cost above which an action waits (in `auto`)."""

    priority: Priority
    escalated: bool
    cost_threshold: Decimal


def approval_reason(
    verdict: Verdict,
    *,
    autonomy: Autonomy,
    priority: Priority,
    escalated: bool,
    cost_threshold: Decimal,
) -> str | None:
    """Why an allowed action must wait for a human, or None to execute it now.

    `observe` never gets here: the director records without acting."""
    if not verdict.sends_something:
        return None
    if escalated:
        return "plan was escalated"
    if autonomy is Autonomy.CONFIRM:
        return "autonomy is confirm"
    if priority is Priority.HIGH:
        return "HIGH-priority plan"
    if verdict.cost > cost_threshold:
        return f"cost ${verdict.cost} above the approval threshold ${cost_threshold}"
    return None


def action_key(action: Action) -> str:
    """Actions with the same key do the same thing: one approval request is enough."""
    if isinstance(action, CancelOrder):
        return f"cancel:{action.details.order_id}"
    market = getattr(action.details, "market", "")
    return f"{action.action_type}:{market}"


@dataclass(frozen=True)
class Parked:
    """What waits for approval, read once (per cycle, per outside submission): the pending
    approval that covers each action key, and the markets those actions are on."""

    by_key: Mapping[str, int] = field(default_factory=dict)
    markets: tuple[str, ...] = ()
    # How many changes to what waits this process had made when this was read
    # (Approvals.changed): a larger count later means this read is stale (Approvals.current).
    changes_seen: int = 0

    @classmethod
    def of(cls, pending: Iterable[tuple[int, Action, str | None]], changes_seen: int = 0) -> Parked:
        """From (approval id, its action, its market), oldest first: for a key asked twice,
        the newest approval is the one that covers it."""
        by_key: dict[str, int] = {}
        markets: set[str] = set()
        for approval_id, action, market in pending:
            by_key[action_key(action)] = approval_id
            if market:
                markets.add(market)
        return cls(by_key, tuple(sorted(markets)), changes_seen)

    def covering(self, action: Action) -> int | None:
        return self.by_key.get(action_key(action))


class DispositionKind(StrEnum):
    BLOCKED = "blocked"  # the guard refused it
    NOOP = "noop"  # nothing to send (do_nothing, a rebalance at its target)
    OBSERVED = "observed"  # autonomy is observe: recorded, not sent
    DUPLICATE = "duplicate"  # the same action already waits for approval
    PARK = "park"  # wait for a human's approval
    EXECUTE = "execute"  # send it now


@dataclass(frozen=True)
class Disposition:
    kind: DispositionKind
    reason: str
    approval_id: int | None = None  # DUPLICATE: the pending approval that covers it


def dispose(
    verdict: Verdict, autonomy: Autonomy, policy: ApprovalPolicy, parked: int | None
) -> Disposition:
    """One checked action's disposition. `parked`: the pending approval that already asks for
    the same action (Parked.covering), if any."""
    if not verdict.allowed:
        return Disposition(DispositionKind.BLOCKED, verdict.reason)
    if verdict.noop:
        return Disposition(DispositionKind.NOOP, verdict.reason)
    if autonomy is Autonomy.OBSERVE:
        return Disposition(DispositionKind.OBSERVED, "autonomy is observe")
    why = approval_reason(
        verdict,
        autonomy=autonomy,
        priority=policy.priority,
        escalated=policy.escalated,
        cost_threshold=policy.cost_threshold,
    )
    if why is None:
        return Disposition(DispositionKind.EXECUTE, verdict.reason)
    if parked is not None:
        return Disposition(
            DispositionKind.DUPLICATE, f"already awaiting approval #{parked}", approval_id=parked
        )
    return Disposition(DispositionKind.PARK, why)
