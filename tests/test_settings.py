from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from director.models import Autonomy
from director.setting_parsers import ReviewSchedule
from director.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "OMEGA_ALLOWED_USERS",
        "ANTHROPIC_API_KEY",
        "OMEGA_EXCHANGE",
        "OMEGA_AUTONOMY",
        "OMEGA_BRAIN",
        "OMEGA_APPROVAL_COST_THRESHOLD",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_design() -> None:
    s = load_settings()
    assert s.cycle_seconds == 900 and s.exchange == "paper" and s.autonomy is Autonomy.AUTO
    assert s.brain_kind == "rules" and s.approval_ttl_seconds == 900
    assert (s.max_order_contracts, str(s.max_order_cost), str(s.max_exposure)) == (100, "50", "0.5")
    assert s.model_planner == "claude-sonnet-5-5"
    assert str(s.review_schedule) == "sun 18:00 UTC"


def test_kalshi_defaults_to_confirm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OMEGA_EXCHANGE", "kalshi")
    monkeypatch.setenv("KALSHI_API_KEY_ID", "k")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(tmp_path / "k.pem"))
    settings = load_settings()
    assert settings.autonomy is Autonomy.CONFIRM
    assert str(settings.approval_cost_threshold) == "25"


def test_the_approval_cost_threshold_is_none_on_paper_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # On paper nothing costs more than the order limit, so no order waits for its cost alone.
    paper = load_settings()
    assert paper.approval_cost_threshold == paper.max_order_cost
    monkeypatch.setenv("OMEGA_APPROVAL_COST_THRESHOLD", "10")
    assert str(load_settings().approval_cost_threshold) == "10"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("OMEGA_CYCLE_SECONDS", "abc", "OMEGA_CYCLE_SECONDS: Input should be a valid integer"),
        ("OMEGA_MAX_EXPOSURE", "2", "OMEGA_MAX_EXPOSURE: Input should be less than or equal to 1"),
        ("OMEGA_ALLOWED_USERS", "12,bob", "OMEGA_ALLOWED_USERS: 'bob' is not a numeric"),
        (
            "OMEGA_AUTONOMY",
            "yolo",
            "OMEGA_AUTONOMY: Input should be 'observe', 'confirm' or 'auto'",
        ),
        ("OMEGA_NEWS_FEEDS", "ftp://x", "OMEGA_NEWS_FEEDS: 'ftp://x' is not an http(s) URL"),
        ("OMEGA_REVIEW_SCHEDULE", "someday 25:00", "OMEGA_REVIEW_SCHEDULE:"),
        ("TELEGRAM_BOT_TOKEN", "123:abc", "OMEGA_ALLOWED_USERS: required when TELEGRAM_BOT_TOKEN"),
        ("OMEGA_BRAIN", "claude", "ANTHROPIC_API_KEY: required with OMEGA_BRAIN=claude"),
    ],
)
def test_bad_value_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:SECRETSECRET")
    monkeypatch.setenv("OMEGA_ALLOWED_USERS", "1")
    s = load_settings()
    assert "SECRETSECRET" not in repr(s) and "SECRETSECRET" not in str(s)


def test_review_schedule_parsing() -> None:
    assert ReviewSchedule.parse("weekly, Sunday 18:00 UTC") == ReviewSchedule.parse("sun 18:00")
    assert ReviewSchedule.parse("daily 07:30").weekday is None
    assert not ReviewSchedule.parse("off").enabled


def test_cli_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "OMEGA_CYCLE_SECONDS": "-1", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "omega.cli", "cycle"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "omega-director: bad setting OMEGA_CYCLE_SECONDS: "
        "Input should be greater than or equal to 5 (got '-1')"
    ]
