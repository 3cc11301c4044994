"""What every model shares: the sides of a contract, autonomy and priority, money constants, the
frozen base model and the case-folding the parsers use."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

CENT = Decimal("0.01")
ONE = Decimal(1)


class Side(StrEnum):
    YES = "yes"
    NO = "no"

    @property
    def other(self) -> Side:
        return Side.NO if self is Side.YES else Side.YES


class Autonomy(StrEnum):
    OBSERVE = "observe"
    CONFIRM = "confirm"
    AUTO = "auto"


class Priority(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


def lowercase(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def uppercase(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
