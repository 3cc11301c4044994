"""The plan every brain returns: its actions, each with typed details (DESIGN.md, "The plan")."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, field_validator

from director.models.base import Priority, Side, lowercase, uppercase


class _Details(BaseModel):
    model_config = ConfigDict(extra="ignore")


def _whole_contracts(value: Any) -> Any:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("quantity must be a whole number of contracts")
        return int(value)
    return value


# "YES" and "yes" are one side; 10.0 is ten contracts, 10.5 is an error.
AnyCaseSide = Annotated[Side, BeforeValidator(lowercase)]
WholeContracts = Annotated[int, BeforeValidator(_whole_contracts)]


class PlaceOrderDetails(_Details):
    market: str = Field(min_length=1)
    side: AnyCaseSide = Side.YES
    # Left unconstrained on purpose: the guard, not the parser, rejects an out-of-range
    # price or size, so the operator sees the reason instead of a parse error.
    price: Decimal | None = None
    quantity: WholeContracts | None = None


class CancelOrderDetails(_Details):
    order_id: str = Field(min_length=1)


class RebalanceDetails(_Details):
    market: str = Field(min_length=1)
    target_quantity: int


class EmptyDetails(_Details):
    pass


class PlaceOrder(BaseModel):
    action_type: Literal["place_order"] = "place_order"
    details: PlaceOrderDetails

    def describe(self) -> str:
        d = self.details
        price = "?" if d.price is None else f"{d.price}"
        qty = "?" if d.quantity is None else f"{d.quantity}"
        return f"place_order({d.market} {d.side.value} {price}×{qty})"


class CancelOrder(BaseModel):
    action_type: Literal["cancel_order"] = "cancel_order"
    details: CancelOrderDetails

    def describe(self) -> str:
        return f"cancel_order({self.details.order_id})"


class Rebalance(BaseModel):
    action_type: Literal["rebalance"] = "rebalance"
    details: RebalanceDetails

    def describe(self) -> str:
        return f"rebalance({self.details.market} → {self.details.target_quantity})"


class BasketLegDetails(_Details):
    market: str = Field(min_length=1)
    side: AnyCaseSide  # no default: a leg's side is never guessed
    # Unconstrained like PlaceOrderDetails: the guard names what is wrong.
    price: Decimal
    quantity: WholeContracts


class PlaceBasketDetails(_Details):
    event: str = Field(min_length=1)
    legs: list[BasketLegDetails] = Field(min_length=2, max_length=100)

    @property
    def market(self) -> str:
        """What the basket is about, where an action names one market: its event (records,
        approval keys and `awaiting_approval` use it)."""
        return self.event


class PlaceBasket(BaseModel):
    """Buy every leg of a basket over one event as one unit (DESIGN.md, "The plan")."""

    action_type: Literal["place_basket"] = "place_basket"
    details: PlaceBasketDetails

    def describe(self) -> str:
        d = self.details
        legs = ", ".join(
            f"{leg.market} {leg.side.value} {leg.price}×{leg.quantity}" for leg in d.legs
        )
        return f"place_basket({d.event}: {legs})"


class DoNothing(BaseModel):
    action_type: Literal["do_nothing"] = "do_nothing"
    details: EmptyDetails = Field(default_factory=EmptyDetails)

    def describe(self) -> str:
        return "do_nothing"


Action = Annotated[
    PlaceOrder | CancelOrder | Rebalance | PlaceBasket | DoNothing,
    Field(discriminator="action_type"),
]


# Older pydantic/mypy pairs cannot see an Annotated union as a type for TypeAdapter.
ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)  # type: ignore[arg-type, unused-ignore]


class Plan(BaseModel):
    """What every brain returns (DESIGN.md, "The plan")."""

    reasoning: str
    actions: list[Action] = Field(default_factory=list)
    priority: Priority = Priority.LOW
    requires_opus_consult: bool = False

    @field_validator("priority", mode="before")
    @classmethod
    def _priority_any_case(cls, value: Any) -> Any:
        return uppercase(value)

    @classmethod
    def no_op(cls, reasoning: str) -> Plan:
        return cls(reasoning=reasoning, actions=[], priority=Priority.LOW)
