"""The trading state: the one thing the guard asks before anything adds exposure. Pure.

Three states, after the risk engines that separate "trade" from "only reduce" from "stop":

- HALTED — the exchange is not trading (its maintenance window, a pause): nothing is sent, not
  even a cancel; resting orders are left as they are until it is back;
- REDUCING — safe mode (the operator's switch, or a degraded source), the brain failed with the
  `safe` fallback, or the risk score above rule 1's limit: only cancels and position-reducing
  rebalances;
- ACTIVE — every limit of the guard still applies, but new exposure may be taken.

The state carries the reason the operator reads when an action is refused by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from director.models import SystemState

if TYPE_CHECKING:
    from director.guard import Limits

BRAIN_FAILED_SAFE = "brain failed and the fallback is safe: no new orders"


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


@dataclass(frozen=True)
class Trading:
    state: TradingState
    reason: str = ""

    @property
    def halted(self) -> bool:
        return self.state is TradingState.HALTED

    @property
    def allows_new_exposure(self) -> bool:
        return self.state is TradingState.ACTIVE


ACTIVE = Trading(TradingState.ACTIVE)


def trading_state(
    state: SystemState, limits: Limits, *, brain_failed_safe: bool = False
) -> Trading:
    """The trading state of `state` under the guard's `limits` (rule 1's risk limit);
    `brain_failed_safe`: this cycle's brain failed and its fallback is `safe`.

    The first cause found names the state, in the order the guard has always checked them."""
    if state.trading_halt:
        return Trading(
            TradingState.HALTED, f"exchange not trading ({state.trading_halt}): nothing is sent"
        )
    if state.safe_mode:
        why = f" ({state.safe_mode_reason})" if state.safe_mode_reason else ""
        return Trading(
            TradingState.REDUCING,
            f"safe mode{why}: only cancels and position-reducing rebalances",
        )
    if brain_failed_safe:
        return Trading(TradingState.REDUCING, BRAIN_FAILED_SAFE)
    if state.current_risk_score > limits.risk_limit:
        return Trading(
            TradingState.REDUCING,
            f"risk {state.current_risk_score:.2f} > {limits.risk_limit:.2f}: no new exposure",
        )
    return ACTIVE
