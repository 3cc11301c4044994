"""Each market's own price grid (Kalshi's `price_level_structure` / `price_ranges`).

Kalshi quotes most markets on whole cents (`linear_cent`), some on tenths of a cent near 0 and
1 (`tapered_deci_cent`: $0.001 below $0.10 and above $0.90) or everywhere (`deci_cent`). An
order off its market's grid is refused by Kalshi, so the guard checks the grid, not whole
cents. A market that states no grid is taken to be on the cent grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ZERO = Decimal(0)
ONE = Decimal(1)


class PriceRange(BaseModel):
    """Valid prices start, start + step, … up to end (dollars)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: Decimal = Field(ge=0, le=1)
    end: Decimal = Field(ge=0, le=1)
    step: Decimal = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> PriceRange:
        if self.end <= self.start:
            raise ValueError(f"price range {self.start}-{self.end} is empty")
        return self

    def holds(self, price: Decimal) -> bool:
        return self.start <= price <= self.end and (price - self.start) % self.step == 0


CENT_GRID: tuple[PriceRange, ...] = (PriceRange(start=ZERO, end=ONE, step=Decimal("0.01")),)


def grid_of(ranges: Sequence[PriceRange]) -> Sequence[PriceRange]:
    return ranges or CENT_GRID


def stated(ranges: Sequence[PriceRange]) -> tuple[PriceRange, ...]:
    """The ranges, or () when they are just the cent grid (what a recording writes)."""
    return () if tuple(ranges) == CENT_GRID else tuple(ranges)


def finest_step(ranges: Sequence[PriceRange] = ()) -> Decimal:
    """The smallest tick of the grid ($0.01 on the cent grid, $0.001 on a deci-cent one)."""
    return min(r.step for r in grid_of(ranges))


def on_grid(price: Decimal, ranges: Sequence[PriceRange] = ()) -> bool:
    """A price an order may carry: strictly between 0 and 1, on one of the ranges' ticks."""
    if not price.is_finite() or not ZERO < price < ONE:
        return False
    return any(r.holds(price) for r in grid_of(ranges))


def price_bounds(ranges: Sequence[PriceRange] = ()) -> tuple[Decimal, Decimal]:
    """The lowest and highest prices an order may carry (0.01 and 0.99 on the cent grid)."""
    grid = sorted(grid_of(ranges), key=lambda r: r.start)
    low = grid[0].start if grid[0].start > ZERO else grid[0].start + grid[0].step
    last = grid[-1]
    high = last.end if last.end < ONE else last.end - last.step
    return low, high


def describe(ranges: Sequence[PriceRange] = ()) -> str:
    if tuple(grid_of(ranges)) == CENT_GRID:
        return "whole cents"
    return ", ".join(
        f"{r.start.normalize()}-{r.end.normalize()} by {r.step.normalize()}"
        for r in grid_of(ranges)
    )
