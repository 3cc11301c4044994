"""Whether the world changed materially since the last planned cycle: if not, the planner is
not called (the cheapest call there is) and the cycle reports "unchanged since cycle N".

Material: the opportunities (which, and their edge and confidence to the precision the rules
compare them at), positions and resting orders (which, and how many contracts), news items,
failing health sources, risk to 0.05, safe mode, autonomy, what waits for approval, and the
rules version. Quote noise on its own is not material. A resting order past the stale-order
age always is: rule 3 has work to do. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from director.models import SystemState
from director.rulebook import RuleSet

EDGE_STEP = Decimal("0.01")
CONFIDENCE_STEP = Decimal("0.05")
RISK_STEP = 0.05


def _bucket(value: Decimal, step: Decimal) -> str:
    return str((value / step).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def has_stale_orders(state: SystemState, rules: RuleSet) -> bool:
    limit = timedelta(hours=rules.thresholds.stale_order_hours)
    return any(state.timestamp - o.created_at > limit for o in state.pending_orders)


def fingerprint(state: SystemState, rules: RuleSet) -> str:
    """A digest of what a plan depends on; equal digests mean nothing material changed."""
    now = state.timestamp
    material: dict[str, Any] = {
        "rules": rules.version,
        "opportunities": sorted(
            (
                o.market,
                o.side.value,
                _bucket(o.edge, EDGE_STEP),
                _bucket(o.confidence, CONFIDENCE_STEP),
            )
            for o in state.active_opportunities
            if o.expires_at > now
        ),
        "positions": sorted((p.market, p.side.value, p.quantity) for p in state.open_positions),
        "orders": sorted((o.order_id, o.remaining) for o in state.pending_orders),
        "news": sorted((n.link or n.title) for n in state.news),
        "failing": sorted(state.system_health.failing),
        "risk": round(state.current_risk_score / RISK_STEP),
        "safe_mode": state.safe_mode,
        "autonomy": state.autonomy.value,
        "awaiting": sorted(state.awaiting_approval),
    }
    encoded = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()
