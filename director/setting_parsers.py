"""The parsers and validators of settings that are more than one value: a listen address, the
review schedule, lists of Telegram user ids and of feed URLs, the local API's token. Each raises
ValueError with the problem; director/settings.py names the variable."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import time

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

API_TOKEN_MIN = 16


def parse_listen(text: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:8787`) for OMEGA_API_LISTEN; port 0 takes a free one."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not host:port (e.g. 127.0.0.1:8787)")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"{text!r} is not host:port (e.g. 127.0.0.1:8787)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost could resolve anywhere


@dataclass(frozen=True)
class ReviewSchedule:
    """When the periodic review runs: a weekday (0=Monday) or every day, at a UTC time."""

    weekday: int | None
    at: time
    enabled: bool = True

    @classmethod
    def parse(cls, text: str) -> ReviewSchedule:
        words = text.strip().lower().replace(",", " ").split()
        words = [w for w in words if w not in ("weekly", "utc", "at")]
        if words == ["off"]:
            return cls(weekday=None, at=time(0, 0), enabled=False)
        if len(words) != 2:
            raise ValueError("expected '<day> HH:MM' (day: mon..sun or daily) or 'off'")
        day, clock = words
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", clock)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError(f"bad time {clock!r}, expected HH:MM (UTC)")
        if day == "daily":
            weekday = None
        elif day[:3] in _DAYS:
            weekday = _DAYS.index(day[:3])
        else:
            raise ValueError(f"bad day {day!r}, expected mon..sun or daily")
        return cls(weekday=weekday, at=time(int(match[1]), int(match[2])))

    def __str__(self) -> str:
        if not self.enabled:
            return "off"
        day = "daily" if self.weekday is None else _DAYS[self.weekday]
        return f"{day} {self.at:%H:%M} UTC"


def parse_user_ids(text: str) -> list[int]:
    """Comma-separated numeric Telegram user ids (negative for groups)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    for part in parts:
        if not re.fullmatch(r"-?\d+", part):
            raise ValueError(f"{part!r} is not a numeric Telegram user id")
    return [int(p) for p in parts]


def parse_http_urls(text: str) -> list[str]:
    """Comma-separated http(s) URLs."""
    urls = [p.strip() for p in text.split(",") if p.strip()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not an http(s) URL")
    return urls


def parse_api_token(text: str) -> str | None:
    """The local API's token, trimmed; blank is unset."""
    if not text.strip():
        return None
    if len(text.strip()) < API_TOKEN_MIN:
        raise ValueError(f"at least {API_TOKEN_MIN} characters (a guessable token is a hole)")
    return text.strip()
