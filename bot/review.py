"""Runs the periodic review (director/review.py) for /review and the scheduled review job, and
posts its report: to the chat that asked, or to the report chat for the schedule.

A review is a few database reads and at most one AI call (the escalation tier, which can take
a minute), so it runs as a background task: no command waits for it. At most one runs; a second
request while one runs is refused, not queued. A pending suggestion is posted with Apply /
Dismiss buttons, and where its message landed is stored with the review, so the decision (see
bot/buttons.py) survives a restart.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from bot.keyboards import review_keyboard
from bot.port import DirectorPort
from bot.render import esc
from bot.render_review import render_review
from bot.send import Sender
from bot.single_flight import SingleFlight
from director.describe import describe_error
from director.review import ReviewReport

log = logging.getLogger(__name__)

Trigger = Literal["manual", "schedule"]


class ReviewRunner:
    def __init__(self, director: DirectorPort, sender: Sender) -> None:
        self._director = director
        self._sender = sender
        self._flight = SingleFlight("review", director.clock)

    @property
    def busy(self) -> bool:
        return self._flight.running

    @property
    def started_at(self) -> datetime | None:
        """When the running review started, if one is running."""
        return self._flight.started_at if self.busy else None

    def start(self, trigger: Trigger, chat_id: int) -> bool:
        """Start a review whose report goes to `chat_id`; False when one is already running.

        The check and the start happen without an await in between, so two /review commands
        handled concurrently cannot both start one.
        """
        return self._flight.start(f"review:{trigger}", lambda: self._run(trigger, chat_id))

    async def _run(self, trigger: Trigger, chat_id: int) -> None:
        queries = self._director.queries
        if trigger == "manual":
            how = "the escalation-tier model" if queries.review_by_model else "statistics"
            # Sent from the task, before the review, so it always precedes the report.
            await self._sender.send_html(
                chat_id, f"🔬 Review started ({how}); its report follows when it finishes."
            )
        try:
            report = await queries.run_review(trigger)
        except Exception as exc:
            log.exception("%s review failed", trigger)
            await self._sender.send_html(
                chat_id,
                f"💥 <b>Review failed</b>: {esc(describe_error(exc, 340))}\n"
                "Nothing was recorded and the rules are unchanged.",
            )
            return
        log.info("review #%d (%s): %s", report.review_id, trigger, report.status)
        await self._post(report, chat_id)

    async def _post(self, report: ReviewReport, chat_id: int) -> None:
        pending = report.status == "pending"
        sent = await self._sender.send_html(
            chat_id,
            render_review(report),
            reply_markup=review_keyboard(report.review_id) if pending else None,
        )
        if not sent:
            log.warning(
                "review #%d report not delivered to chat %s%s",
                report.review_id,
                chat_id,
                "; its suggestion waits undecided (/review runs a new one)" if pending else "",
            )
            return
        if not pending:
            return
        try:
            # The buttons ride on the last part of a split report: that is the message to edit.
            await self._director.queries.set_review_message(
                report.review_id, chat_id, sent[-1].message_id
            )
        except Exception:
            # The buttons work without it (their data carries the review id); only a later
            # edit by someone other than the presser would miss the message.
            log.exception("could not record where review #%d was posted", report.review_id)

    async def wait(self) -> None:
        """Wait for the running review, if any (tests and shutdown)."""
        await self._flight.wait()

    async def stop(self, grace_seconds: float) -> None:
        """Refuse new reviews; give a running one `grace_seconds` to finish, then cancel it.

        Cancelling is safe: a review writes one row, last, and changes no rules.
        """
        await self._flight.stop(grace_seconds)
