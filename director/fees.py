"""Kalshi's trading fees: the one fee function for the guard's cost check, the paper
simulator, the scanners and every edge.

Kalshi (fee schedule; docs.kalshi.com "Fee rounding"): a fill of C contracts at price P pays
`rate × multiplier × C × P × (1 − P)`, the rate set by the market's series `fee_type` (an event
may override the type and the multiplier): takers 0.07; makers nothing on `quadratic`, a quarter
of that on `quadratic_with_maker_fees` (0.0175), half on `quadratic_with_combo_maker_fees`. A
market in its fee waiver pays nothing. The trade fee is rounded up to $0.0001; then the
balance change (−C·P − fee) is floored to the cent, so what a buyer pays is
`ceil_cent(C·P + trade fee)`: on a whole-cent price that is the fee rounded up to the cent, on a
sub-penny price the rounding also takes the price's sub-cent remainder. `trade_fee` returns that
charged amount, less C·P: the fee as the account's balance sees it, for one fill.

`flat` series ("Specific Trading Fees Table") are not modelled: `FeeSchedule.modelled` is False
and `trade_fee` raises `UnmodelledFee`, so the guard refuses rather than guess.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

CENT = Decimal("0.01")
CENTICENT = Decimal("0.0001")
ZERO = Decimal(0)
TAKER_FEE_RATE = Decimal("0.07")


class FeeType(StrEnum):
    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
    FLAT = "flat"
    UNKNOWN = "unknown"  # a type Kalshi added after this code: not modelled, refused

    @classmethod
    def of(cls, text: str) -> FeeType:
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN


# A maker's rate as a share of the taker's.
MAKER_SHARE = {
    FeeType.QUADRATIC: ZERO,
    FeeType.QUADRATIC_WITH_MAKER_FEES: Decimal("0.25"),
    FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES: Decimal("0.5"),
}


class UnmodelledFee(ValueError):
    """A fee schedule this module cannot compute (Kalshi's `flat` series)."""


class FeeSchedule(BaseModel):
    """A market's fees: its series' type and multiplier, after the event's overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fee_type: FeeType = FeeType.QUADRATIC
    multiplier: Decimal = Field(default=Decimal(1), ge=0, le=100)
    waived_until: datetime | None = None  # Kalshi's fee_waiver_expiration_time

    @property
    def modelled(self) -> bool:
        return self.fee_type in MAKER_SHARE

    def waived(self, at: datetime | None) -> bool:
        return self.waived_until is not None and at is not None and at < self.waived_until

    def rate(self, *, maker: bool) -> Decimal:
        if not self.modelled:
            raise UnmodelledFee(f"fee type {self.fee_type.value!r} is not modelled")
        share = MAKER_SHARE[self.fee_type] if maker else Decimal(1)
        return TAKER_FEE_RATE * share * self.multiplier

    def describe(self) -> str:
        return f"{self.fee_type.value} ×{self.multiplier.normalize()}"


STANDARD = FeeSchedule()


def trade_fee(
    contracts: int,
    price: Decimal,
    schedule: FeeSchedule | None = None,
    *,
    maker: bool = False,
    at: datetime | None = None,
) -> Decimal:
    """What one fill of `contracts` at `price` costs in fees, as Kalshi charges it (see the
    module's docstring). `at` decides a fee waiver; without it no waiver applies."""
    if contracts <= 0:
        return ZERO
    schedule = schedule or STANDARD
    rate = ZERO if schedule.waived(at) else schedule.rate(maker=maker)
    notional = contracts * price
    fee = (rate * notional * (1 - price)).quantize(CENTICENT, rounding=ROUND_CEILING)
    return (notional + fee).quantize(CENT, rounding=ROUND_CEILING) - notional


def taker_fee(contracts: int, price: Decimal, multiplier: Decimal = Decimal(1)) -> Decimal:
    """The taker fee on a standard (`quadratic`) series with `multiplier`."""
    schedule = STANDARD if multiplier == 1 else FeeSchedule(multiplier=multiplier)
    return trade_fee(contracts, price, schedule)


def maker_fee(contracts: int, price: Decimal, multiplier: Decimal = Decimal(1)) -> Decimal:
    """Kalshi's maker fee on markets that charge one: 0.0175 × multiplier × contracts × price ×
    (1 − price), rounded up to the cent, charged when a resting order fills (never to place or
    cancel it)."""
    schedule = FeeSchedule(fee_type=FeeType.QUADRATIC_WITH_MAKER_FEES, multiplier=multiplier)
    return trade_fee(contracts, price, schedule, maker=True)


def fee_per_contract(
    price: Decimal, schedule: FeeSchedule | None = None, *, maker: bool = False
) -> Decimal:
    """The unrounded fee of one contract, for edge-net-of-fee estimates."""
    return (schedule or STANDARD).rate(maker=maker) * price * (1 - price)
