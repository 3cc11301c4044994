"""A clean environment for tests that run the command line (loaded by tests/conftest.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No .env (a fresh working directory), no secrets or brain choice from the environment,
    and the root logger put back after the command configured it."""
    monkeypatch.chdir(tmp_path)
    for name in ("ANTHROPIC_API_KEY", "TELEGRAM_BOT_TOKEN", "OMEGA_BRAIN", "OMEGA_AUTONOMY"):
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
