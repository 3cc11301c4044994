"""The Telegram Bot API stand-in as a shared fixture (loaded by tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.telegram_standin import TelegramStandIn


@pytest.fixture
def tg() -> Iterator[TelegramStandIn]:
    with TelegramStandIn() as standin:
        yield standin
