"""The Telegram Bot API stand-in and the bot tests' clock as shared fixtures (loaded by
tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.clocks import ManualClock, real_time_clock
from tests.telegram_standin import TelegramStandIn


@pytest.fixture
def tg() -> Iterator[TelegramStandIn]:
    with TelegramStandIn() as standin:
        yield standin


@pytest.fixture
def clock() -> ManualClock:
    """The director's clock next to the stand-in: it starts at the real time (Telegram
    dates updates with it) and moves on demand. Modules with a clock of their own override it."""
    return real_time_clock()
