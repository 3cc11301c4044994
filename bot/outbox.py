"""Deliveries the engine hands to Telegram, done in order by one background worker.

The director awaits its reporter inside a cycle; with Telegram slow or hanging, each send could
hold the cycle for a full timeout. The outbox takes the work and returns at once, so a cycle
never waits on the chat, and reports still arrive in the order they were made (an approval's
request before its settlement).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Delivery = Callable[[], Awaitable[None]]


class Outbox:
    def __init__(self, *, capacity: int = 500) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._queue: asyncio.Queue[tuple[str, Delivery]] = asyncio.Queue(maxsize=capacity)
        self._worker: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="telegram-outbox")

    def post(self, what: str, delivery: Delivery) -> None:
        """Queue `delivery`; never blocks, never raises. When full, the oldest is dropped."""
        if self._closed:
            log.warning("outbox closed; dropped %s", what)
            return
        if self._queue.full():
            dropped, _ = self._queue.get_nowait()
            self._queue.task_done()
            log.error("outbox full; dropped the oldest delivery (%s)", dropped)
        self._queue.put_nowait((what, delivery))

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    async def join(self) -> None:
        """Wait until everything posted so far has been attempted."""
        await self._queue.join()

    async def close(self, drain_seconds: float) -> None:
        """Stop taking work, try what is queued for up to `drain_seconds`, then stop."""
        self._closed = True
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        except TimeoutError:
            log.warning("outbox: %d delivery(ies) not attempted before shutdown", self.backlog)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None

    async def _run(self) -> None:
        while True:
            what, delivery = await self._queue.get()
            try:
                await delivery()
            except Exception:
                # The send path already swallows Telegram errors; anything here is a bug,
                # and a bug in one delivery must not stop the ones after it.
                log.exception("delivery failed: %s", what)
            finally:
                self._queue.task_done()
