"""End to end on the production wiring: director.app.build_director with the paper exchange and
the rules brain, the real bot, the Bot API stand-in. Only the clock is fixed (determinism)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app import OmegaBot
from bot.port import DirectorPort
from director.app import build_director
from director.director import Director
from director.models import Opportunity
from director.reporting import Reporter
from director.sense import OpportunitySource
from director.settings import Settings
from director.store import Store
from tests.bot_harness import FAST, OPERATOR, make_settings
from tests.clocks import ManualClock
from tests.telegram_standin import StoredMessage, TelegramStandIn


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 25, 11, 0, tzinfo=UTC))


@asynccontextmanager
async def paper_bot(settings: Settings, clock: ManualClock) -> AsyncIterator[OmegaBot]:
    async def factory(reporter: Reporter) -> DirectorPort:
        return await build_director(settings, reporter, clock=clock)

    bot = await OmegaBot.create(settings, tuning=FAST, director_factory=factory)
    try:
        assert await bot.start(asyncio.Event())
        yield bot
    finally:
        await bot.stop()


async def loosen_rules(db_path: Path) -> None:
    """Rules v2 with low bars, so the first cycle surely proposes several orders."""
    store = await Store.open(db_path)
    try:
        rules = await store.active_rules()
        looser = rules.thresholds.model_copy(
            update={"min_confidence": Decimal("0.3"), "min_edge": Decimal("0.01")}
        )
        await store.add_rules_version(rules.rules, looser, "test: low bars", "test")
    finally:
        await store.close()


async def reply(tg: TelegramStandIn, text: str) -> StoredMessage:
    before = tg.last_message_id(OPERATOR)
    tg.send_command(OPERATOR, text)
    return await tg.wait_for(
        lambda: next((m for m in tg.bot_messages(OPERATOR) if m.message_id > before + 1), None),
        what=f"a reply to {text!r}",
    )


async def test_paper_cycle_approval_and_restart(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(
        tg,
        tmp_path / "omega.db",
        exchange="paper",
        approval_ttl_setting=3600,
        approval_cost_threshold_setting=Decimal(25),
    )
    await loosen_rules(settings.db_path)
    async with paper_bot(settings, clock) as bot:
        report = await tg.wait_for_message("Cycle #1", chat_id=OPERATOR)
        assert "Cash $10,000.00 · Equity $10,000.00" in report.text
        await bot.runner.wait()
        await bot.outbox.join()
        pending = await bot.director.pending_approvals()
        assert len(pending) >= 2, report.text
        first = await tg.wait_for_message("Approval needed #1", chat_id=OPERATOR)
        second = await tg.wait_for_message("Approval needed #2", chat_id=OPERATOR)

        answer = await tg.wait_for_answer(tg.press(OPERATOR, first, "Approve"))
        assert answer["text"].startswith("Approved by User1001 (1001)"), answer
        state = (await reply(tg, "/state")).text
        # Filled, resting, or partly both (the simulator walks the book).
        assert "Positions (1)" in state or "Resting orders (1)" in state
        assert "Paused" in (await reply(tg, "/pause")).text

    # A restart: the paper venue, the approvals and their messages all come from the database.
    async with paper_bot(settings, clock) as bot:
        await tg.wait_for_message("online", chat_id=OPERATOR, after=second.message_id)
        answer = await tg.wait_for_answer(tg.press(OPERATOR, second, "Reject"))
        assert answer["text"] == "Rejected by User1001 (1001)."
        edited = await tg.wait_for_edit(second)
        assert edited.text.startswith("🚫 Rejected · approval #2")
        state = (await reply(tg, "/state")).text
        assert "Loop PAUSED" in state
        # Filled, resting, or partly both (the simulator walks the book).
        assert "Positions (1)" in state or "Resting orders (1)" in state
        history = (await reply(tg, "/history")).text
        assert "Last 1 cycle(s)" in history
        assert await bot.director.store.cycle_count() == 1


async def test_approvals_pressed_seconds_later_on_paper_execute(
    tg: TelegramStandIn, tmp_path: Path, clock: ManualClock
) -> None:
    """Defect 1 of issue 14: a parked order stays approvable while its market is open and the
    limits hold, whatever the scanner says a second later. The presses land 3 s after the
    requests, across a scan boundary (scans are fixed per cycle-long period from the epoch),
    so the scanner the re-check reads has drawn a new scan."""
    clock.now = datetime(2026, 11, 25, 11, 59, 58, tzinfo=UTC)
    settings = make_settings(
        tg,
        tmp_path / "omega.db",
        exchange="paper",
        approval_ttl_setting=3600,
        max_exposure=Decimal("0.9"),
    )
    await loosen_rules(settings.db_path)
    async with paper_bot(settings, clock) as bot:
        await asyncio.wait_for(bot.connected.wait(), 10)
        await tg.wait_for_message("Cycle #1", chat_id=OPERATOR)
        await bot.runner.wait()
        await bot.outbox.join()
        pending = await bot.director.pending_approvals()
        assert len(pending) >= 2
        clock.advance(seconds=3)  # 12:00:01: a new scan period
        # And whatever that scan says, say the worst: none of the parked markets is an
        # opportunity any more (the defect: a scanner redrawing every second).
        parked = {r.description.split("(")[1].split()[0] for r in pending}
        director = bot.director
        assert isinstance(director, Director)
        director.senser.sources = [Forgetful(s, parked) for s in director.senser.sources]
        answers = []
        for request in pending:
            message = await tg.wait_for_message(
                f"Approval needed #{request.approval_id}", chat_id=OPERATOR
            )
            answers.append(await tg.wait_for_answer(tg.press(OPERATOR, message, "Approve")))
        texts = [a["text"] for a in answers]
        assert not [t for t in texts if "neither an opportunity" in t], texts
        assert all(t.startswith("Approved by User1001 (1001)") for t in texts), texts


class Forgetful:
    """An opportunity source that no longer lists `markets`."""

    def __init__(self, inner: OpportunitySource, markets: set[str]) -> None:
        self.inner = inner
        self.name = inner.name
        self.markets = markets

    async def opportunities(self, now: datetime) -> list[Opportunity]:
        return [o for o in await self.inner.opportunities(now) if o.market not in self.markets]

    def counters(self) -> dict[str, int]:
        return self.inner.counters()
