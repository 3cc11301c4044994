"""The accounting identity a simulated venue's books keep (paper and replay), for the tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol


class Books(Protocol):
    @property
    def cash(self) -> Decimal: ...
    @property
    def reserved(self) -> Decimal: ...
    @property
    def positions_cost(self) -> Decimal: ...
    @property
    def fees_paid(self) -> Decimal: ...
    @property
    def realized_pnl(self) -> Decimal: ...
    @property
    def starting_cash(self) -> Decimal: ...


def balanced(books: Books) -> bool:
    """Cash, reserve and the cost of what is held add up to the starting cash plus realized
    P&L less fees: no money made or lost by the bookkeeping. False is a bug."""
    held = books.cash + books.reserved + books.positions_cost
    return held == books.starting_cash + books.realized_pnl - books.fees_paid
