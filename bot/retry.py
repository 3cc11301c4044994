"""Retries for Bot API calls: honour a 429's retry_after, back off on 5xx and network errors.

One layer under the Sender (bot/send.py), so every message, edit and answer gets the same
treatment. What Telegram refuses for good (400 Bad Request, 403 Forbidden, 401) is never
retried: sending it again would be refused again. Each retry is one log line; giving up is one
line too, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError

from director.describe import describe_error

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. The defaults ride out a 502 blip and a few minutes of flood control;
    past `deadline_seconds` the caller gets the error (a lost approval request is re-sent when
    Telegram is back, see bot/catchup.py)."""

    attempts: int = 8
    first_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0
    deadline_seconds: float = 180.0
    jitter: float = 0.1  # share of a back-off added at random, so restarts don't stampede


URGENT = RetryPolicy()
# A button's answer is useless after Telegram's callback timeout (a few seconds): try briefly.
BRIEF = RetryPolicy(attempts=3, first_backoff_seconds=0.5, deadline_seconds=8.0)


def retry_after_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for (PTB gives an int or a timedelta, by version setting)."""
    value: object = error._retry_after  # the timedelta PTB stores; .retry_after may warn
    if isinstance(value, timedelta):
        return max(value.total_seconds(), 0.0)
    if isinstance(value, int | float):
        return max(float(value), 0.0)
    return 1.0


def is_transient(error: TelegramError) -> bool:
    """Worth another try: flood control, a 5xx, a timeout or a dropped connection."""
    if isinstance(error, RetryAfter):
        return True
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


async def with_retries(
    what: str,
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> T:
    """`call()` until it succeeds, a permanent error, or the policy runs out (then the last
    error is raised). Monotonic time is only read to keep to the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.deadline_seconds
    backoff = policy.first_backoff_seconds
    rng = rng or random.Random()
    for attempt in range(1, policy.attempts + 1):
        try:
            return await call()
        except TelegramError as exc:
            if not is_transient(exc) or attempt == policy.attempts:
                raise
            if isinstance(exc, RetryAfter):
                wait = retry_after_seconds(exc)
            else:
                wait = backoff * (1 + policy.jitter * rng.random())
                backoff = min(backoff * 2, policy.max_backoff_seconds)
            if loop.time() + wait > deadline:
                raise
            log.info("%s: %s; retry %d in %.1f s", what, _short(exc), attempt, wait)
            await sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _short(error: TelegramError) -> str:
    return describe_error(error)
