"""Deliveries the engine hands to Telegram, done in order by one background worker.

The director awaits its reporter inside a cycle; with Telegram slow or hanging, each send could
hold the cycle for a full timeout. The outbox takes the work and returns at once, so a cycle
never waits on the chat. Two lanes: urgent deliveries (approval requests and their settlements,
alerts) go before routine ones (cycle reports), each lane in the order it was posted (an
approval's request before its settlement). Until Telegram has answered once (`open()`), work
waits here; when a lane is full its oldest delivery is dropped, routine ones first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Delivery = Callable[[], Awaitable[None]]


class Outbox:
    def __init__(self, *, capacity: int = 500) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._urgent: deque[tuple[str, Delivery]] = deque()
        self._routine: deque[tuple[str, Delivery]] = deque()
        self._wake = asyncio.Event()
        self._gate = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = False
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        # id(delivery) -> what to do if it is dropped unsent; forgotten once it is attempted.
        self._on_drop: dict[int, Callable[[], None]] = {}

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="telegram-outbox")

    def open(self) -> None:
        """Telegram answers: deliver."""
        self._gate.set()

    @property
    def is_open(self) -> bool:
        return self._gate.is_set()

    def post(
        self,
        what: str,
        delivery: Delivery,
        *,
        urgent: bool = False,
        first: bool = False,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        """Queue `delivery`; never blocks, never raises. `first` puts it ahead of everything
        (the online notice, which must read before what the loop reported meanwhile).
        `on_drop` runs if the delivery is dropped unsent (closed, or pushed out when full)."""
        if self._closed:
            log.warning("outbox closed; dropped %s", what)
            if on_drop is not None:
                on_drop()
            return
        if on_drop is not None:
            self._on_drop[id(delivery)] = on_drop
        if self.backlog >= self._capacity:
            lane = self._routine if self._routine else self._urgent
            dropped, lost = lane.popleft()
            log.error("outbox full; dropped the oldest delivery (%s)", dropped)
            forget = self._on_drop.pop(id(lost), None)
            if forget is not None:
                forget()
        if first:
            self._urgent.appendleft((what, delivery))
        else:
            (self._urgent if urgent else self._routine).append((what, delivery))
        self._idle.clear()
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._urgent) + len(self._routine)

    async def join(self) -> None:
        """Wait until everything posted so far has been attempted."""
        await self._idle.wait()

    async def close(self, drain_seconds: float) -> None:
        """Stop taking work, try what is queued for up to `drain_seconds`, then stop."""
        self._closed = True
        if self._worker is None:
            return
        if self._gate.is_set():
            try:
                await asyncio.wait_for(self.join(), drain_seconds)
            except TimeoutError:
                log.warning("outbox: %d delivery(ies) not attempted before shutdown", self.backlog)
        elif self.backlog:
            log.warning("outbox: Telegram never answered; %d delivery(ies) dropped", self.backlog)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None

    def _next(self) -> tuple[str, Delivery] | None:
        for lane in (self._urgent, self._routine):
            if lane:
                return lane.popleft()
        return None

    async def _run(self) -> None:
        while True:
            await self._gate.wait()
            item = self._next()
            if item is None:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            what, delivery = item
            self._on_drop.pop(id(delivery), None)
            try:
                await delivery()
            except Exception:
                # The send path already swallows Telegram errors; anything here is a bug,
                # and a bug in one delivery must not stop the ones after it.
                log.exception("delivery failed: %s", what)
            if not self.backlog:
                self._idle.set()
