"""An approval card: what a trader needs to decide on a parked action, as data (no I/O here
but `approval_card`, which gathers it).

For a buy: the market's title, the side and price in words, the cost with fees, the most it can
lose and what it pays if it wins, the edge and confidence with their source, the brain's one-line
reason, why it waits and until when. Sells, closes and cancels carry what applies to them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from director.describe import clip
from director.models import Action, CancelOrder, PlaceOrder, Rebalance, SystemState
from director.reporting import ApprovalRequest

if TYPE_CHECKING:
    from director.director import Director


@dataclass(frozen=True)
class ApprovalCard:
    approval_id: int
    cycle_id: int
    kind: str
    description: str
    market: str | None
    title: str
    side: str | None
    price: Decimal | None
    quantity: int | None
    cost: Decimal | None  # cash committed, fees included
    payout: Decimal | None  # what a buy pays if it wins ($1 a contract)
    edge: Decimal | None
    confidence: Decimal | None
    source: str
    brain_reason: str  # the plan's first sentence, when the cycle recorded one
    why_approval: str
    expires_at: datetime
    target_quantity: int | None = None  # for a rebalance
    held: int | None = None  # what is held now, for a rebalance
    order_id: str | None = None  # for a cancel
    escalated: bool = False

    @property
    def max_loss(self) -> Decimal | None:
        """A buy can lose at most what it costs."""
        return self.cost if self.kind == "place_order" else None

    @property
    def halvable(self) -> bool:
        return self.kind == "place_order" and (self.quantity or 0) >= 2


def first_sentence(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    for end in (". ", "! ", "? "):
        cut = text.find(end)
        if 0 < cut < limit:
            return text[: cut + 1]
    return clip(text, limit)


def build_card(
    request: ApprovalRequest, action: Action, state: SystemState | None, brain_reason: str
) -> ApprovalCard:
    market = getattr(action.details, "market", None)
    quote = state.markets.get(market) if state is not None and market else None
    opportunity = state.opportunity(market) if state is not None and market else None
    held = state.position(market) if state is not None and market else None
    title = request.market_title or (quote.title if quote is not None else "")
    card = ApprovalCard(
        approval_id=request.approval_id,
        cycle_id=request.cycle_id,
        kind=action.action_type,
        description=request.description,
        market=market,
        title=title,
        side=None,
        price=None,
        quantity=None,
        cost=request.cost,
        payout=None,
        edge=opportunity.edge if opportunity is not None else None,
        confidence=opportunity.confidence if opportunity is not None else None,
        source=opportunity.source if opportunity is not None else "",
        brain_reason=brain_reason,
        why_approval=request.reason,
        expires_at=request.expires_at,
        escalated=request.escalated,
    )
    if isinstance(action, PlaceOrder):
        d = action.details
        return replace(
            card,
            side=d.side.value,
            price=d.price,
            quantity=d.quantity,
            payout=Decimal(d.quantity) if d.quantity is not None else None,
        )
    if isinstance(action, Rebalance):
        return replace(
            card,
            side=held.side.value if held is not None else None,
            target_quantity=action.details.target_quantity,
            held=held.quantity if held is not None else None,
        )
    if isinstance(action, CancelOrder):
        return replace(card, order_id=action.details.order_id)
    return card


async def approval_card(director: Director, request: ApprovalRequest) -> ApprovalCard | None:
    """The card for a parked request: its action from the record, the market and opportunity
    from a fresh State of the Union (the scan is fixed per cycle), the brain's reason from the
    cycle's plan when it is recorded. None when the action can't be read."""
    record = await director.store.action(request.action_id)
    if record is None or record.action is None:
        return None
    action = record.action
    try:
        # No news: a card needs the quote, and ten cards must not fetch every feed ten times.
        state: SystemState | None = await director.sense(news=False)
    except Exception:
        state = None  # a card without quotes beats no card
    cycle = await director.store.cycle(request.cycle_id)
    reasoning = ""
    if cycle is not None and cycle.plan is not None:
        reasoning = first_sentence(cycle.plan.reasoning)
    return build_card(request, action, state, reasoning)
