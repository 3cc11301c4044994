"""Two guard checks that keep unknown data from becoming orders (pure, like the guard).

- An exchange read that failed this cycle (balance, positions or resting orders) leaves a
  placeholder in the State of the Union: a $0 balance, no positions. Nothing may be sent from
  it — no buy (the cash is unknown) and no sell (a risk score over a $0 balance reads 1.00 and
  would "reduce" every position). Cancels of orders the state does know still pass.
- A market with an order whose outcome is not reconciled with the exchange takes no new order,
  so a create that landed late (after a kill, a timeout) is never doubled.
"""

from __future__ import annotations

from director.models import Action, CancelOrder, DoNothing, SystemState


def action_markets(action: Action) -> list[str]:
    """The markets an action would send orders on (none for cancels and do_nothing)."""
    details = action.details
    # Legs first: a basket's `market` is its event, which no order is sent on.
    legs = getattr(details, "legs", None) or []
    if legs:
        return [str(leg.market) for leg in legs if getattr(leg, "market", None)]
    market = getattr(details, "market", None)
    return [market] if isinstance(market, str) else []


def refusal(action: Action, state: SystemState) -> str | None:
    """Why this action may not be sent on this state, or None."""
    if isinstance(action, DoNothing | CancelOrder):
        return None
    if state.unknown_data:
        failed = ", ".join(state.unknown_data)
        return (
            f"safe mode: {failed} unknown (that exchange read failed this cycle), "
            "no order from unknown data"
        )
    for market in action_markets(action):
        why = state.unresolved_orders.get(market)
        if why is not None:
            return why
    return None
