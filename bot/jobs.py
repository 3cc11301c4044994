"""The bot's jobs, in PTB's job queue: the cycle (at once, then every OMEGA_CYCLE_SECONDS),
approval expiry, and the review on OMEGA_REVIEW_SCHEDULE.

They start before Telegram answers (the loop before the face, bot/connect.py): nothing here
talks to Telegram; the cycle's reports go to the outbox.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any, Protocol

from telegram.ext import Application, ContextTypes, JobQueue

from bot.cycles import CycleRunner
from bot.port import DirectorPort
from bot.review import ReviewRunner
from director.clock import wall_clock
from director.setting_parsers import ReviewSchedule

log = logging.getLogger(__name__)


class Scheduled(Protocol):
    """What the jobs drive (OmegaBot)."""

    director: DirectorPort
    runner: CycleRunner
    reviews: ReviewRunner
    chat_id: int


def review_days(schedule: ReviewSchedule) -> tuple[int, ...]:
    """PTB's run_daily counts days from Sunday = 0; ReviewSchedule from Monday = 0."""
    if schedule.weekday is None:
        return tuple(range(7))
    return ((schedule.weekday + 1) % 7,)


def schedule_jobs(
    application: Application[Any, Any, Any, Any, Any, Any],
    bot: Scheduled,
    expiry_check_seconds: float,
) -> JobQueue[ContextTypes.DEFAULT_TYPE]:
    jobs: JobQueue[ContextTypes.DEFAULT_TYPE] | None = application.job_queue
    if jobs is None:  # the job-queue extra is a declared dependency
        raise RuntimeError("python-telegram-bot was installed without the job-queue extra")
    settings = bot.director.settings

    async def cycle_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        if not bot.runner.start("schedule"):
            log.info("scheduled cycle skipped: the previous one is still running")
        job = context.job
        bot.director.next_cycle_at = job.next_t if job is not None else None

    async def expiry_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            expired = await bot.director.expire_approvals()
        except Exception:
            log.exception("expiring approvals failed")
            return
        if expired:
            log.info("expired %d approval(s)", len(expired))

    async def review_tick(context: ContextTypes.DEFAULT_TYPE) -> None:
        if not bot.reviews.start("schedule", bot.chat_id):
            log.info("scheduled review skipped: another review is still running")

    # The first cycle runs at start. APScheduler would round first=0 up to a whole interval
    # once the start time has passed (it has, by the time the scheduler starts), so the
    # first run time is given explicitly.
    jobs.run_repeating(
        cycle_tick,
        interval=settings.cycle_seconds,
        first=0,
        name="director-cycle",
        job_kwargs={
            "next_run_time": wall_clock(),
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": None,
        },
    )
    jobs.run_repeating(
        expiry_tick,
        interval=expiry_check_seconds,
        first=expiry_check_seconds,
        name="approval-expiry",
    )
    schedule = settings.review_schedule
    if schedule.enabled:
        jobs.run_daily(
            review_tick,
            time=schedule.at.replace(tzinfo=UTC),
            days=review_days(schedule),
            name="review",
        )
        log.info("review scheduled: %s", schedule)
    return jobs
