"""Catching up when Telegram comes back: approval requests it never received are sent again.

Triggered when the bot first connects and whenever a delivery succeeds after one was given up
(the Sender's on_failed / on_delivered). Requests still waiting in the outbox are left to it.
A handful are re-sent with their buttons; more than that are summarized with a pointer to
/pending, so a long outage doesn't end in a flood.
"""

from __future__ import annotations

import asyncio
import logging

from bot.port import DirectorPort
from bot.render import render_pending
from bot.reporter import TelegramReporter

log = logging.getLogger(__name__)

MAX_RESENT = 5


class CatchUp:
    def __init__(self, director: DirectorPort, reporter: TelegramReporter) -> None:
        self._director = director
        self._reporter = reporter
        self._down = False
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # how many catch-ups ran (tests wait on it)

    # The Sender's hooks: called after each call Telegram took / did not take in the end.
    def failed(self) -> None:
        self._down = True

    def delivered(self) -> None:
        if self._down:
            self._down = False
            log.info("Telegram is back: catching up")
            self.start()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="telegram-catch-up")

    async def wait(self) -> None:
        if self._task is not None:
            await asyncio.shield(self._task)

    async def run(self) -> None:
        try:
            await self._resend()
        except Exception:
            log.exception("catching up failed; /pending shows what waits")
        finally:
            self.runs += 1

    async def _resend(self) -> None:
        unsent = set(await self._director.queries.unsent_approvals())
        unsent -= self._reporter.queued_requests
        if not unsent:
            return
        requests = [r for r in await self._director.pending_approvals() if r.approval_id in unsent]
        log.info("re-sending %d approval request(s) Telegram never received", len(requests))
        if len(requests) > MAX_RESENT:
            now = self._director.clock()
            self._reporter.notify(
                "📬 While Telegram was unreachable, these approvals were requested:\n"
                + render_pending(requests, now)
                + f"\nButtons follow for the first {MAX_RESENT}; /pending shows them all.",
                "catch-up summary",
                urgent=True,
            )
        for request in requests[:MAX_RESENT]:
            await self._reporter.approval_requested(request)
