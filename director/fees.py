"""Kalshi's trading fee, shared by the paper simulator, the guard and the scanners."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from director.models import CENT

TAKER_FEE_RATE = Decimal("0.07")


def taker_fee(contracts: int, price: Decimal, multiplier: Decimal = Decimal(1)) -> Decimal:
    """0.07 × multiplier × contracts × price × (1 − price), rounded up to the cent (some
    Kalshi events carry a fee multiplier; 1 elsewhere)."""
    if contracts <= 0:
        return Decimal(0)
    raw = TAKER_FEE_RATE * multiplier * contracts * price * (1 - price)
    return raw.quantize(CENT, rounding=ROUND_CEILING)


def fee_per_contract(price: Decimal) -> Decimal:
    """The unrounded fee of one contract, for edge-net-of-fee estimates."""
    return TAKER_FEE_RATE * price * (1 - price)
