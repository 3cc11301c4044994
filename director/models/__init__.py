"""Typed data that flows through a cycle: the State of the Union, plans, orders, positions.

Money is Decimal dollars everywhere (prices are dollars per contract, 0.01-0.99); counts of
contracts are integers. Nothing here does I/O. This package's face: import from
`director.models`; each module holds one kind of thing (base, market, orders, opportunities,
state, plan).
"""

from director.models.base import CENT, ONE, Autonomy, Frozen, Priority, Side
from director.models.market import Market, MarketStatus
from director.models.opportunities import BasketLeg, BasketOpportunity, Opportunity
from director.models.orders import Fill, Order, OrderAction, OrderRequest, OrderStatus, Position
from director.models.plan import (
    ACTION_ADAPTER,
    Action,
    AnyCaseSide,
    BasketLegDetails,
    CancelOrder,
    CancelOrderDetails,
    DoNothing,
    EmptyDetails,
    PlaceBasket,
    PlaceBasketDetails,
    PlaceOrder,
    PlaceOrderDetails,
    Plan,
    Rebalance,
    RebalanceDetails,
    WholeContracts,
)
from director.models.state import NewsItem, SourceHealth, SystemHealth, SystemState

__all__ = [
    "ACTION_ADAPTER",
    "CENT",
    "ONE",
    "Action",
    "AnyCaseSide",
    "Autonomy",
    "BasketLeg",
    "BasketLegDetails",
    "BasketOpportunity",
    "CancelOrder",
    "CancelOrderDetails",
    "DoNothing",
    "EmptyDetails",
    "Fill",
    "Frozen",
    "Market",
    "MarketStatus",
    "NewsItem",
    "Opportunity",
    "Order",
    "OrderAction",
    "OrderRequest",
    "OrderStatus",
    "PlaceBasket",
    "PlaceBasketDetails",
    "PlaceOrder",
    "PlaceOrderDetails",
    "Plan",
    "Position",
    "Priority",
    "Rebalance",
    "RebalanceDetails",
    "Side",
    "SourceHealth",
    "SystemHealth",
    "SystemState",
    "WholeContracts",
]
