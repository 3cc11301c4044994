"""`backtest --replay DIR`: the real Director over a recording, one cycle per recorded poll.

Each brain gets a fresh database and a fresh replay account (director/exchanges/replay.py)
with OMEGA_PAPER_STARTING_CASH; the simulated clock jumps to each poll's recorded time, the
poll is applied (quotes, depth, settlements), the opportunities recorded at that poll become
the only opportunity source, and a cycle runs. Approvals are decided as in the simulated
backtest. A recording made before tick grids were recorded replays every market on whole
cents, and the result says so in its notes. Nothing reads the wall clock but the separate
`runtime` figures, and the recording is read in order, so the same recording gives the same
report.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from director.backtest.brain_run import BrainRun, Prepare
from director.backtest.runner import (
    MAX_DAYS,
    ApprovalPolicy,
    BacktestConfig,
    BacktestError,
    BacktestResult,
    Progress,
    RunSetup,
    backtest_settings,
    pick_brain,
    refuse_used_databases,
    run_each_brain,
)
from director.backtest.simclock import SimClock
from director.backtest.tally import BrainResult
from director.clock import Clock
from director.exchanges.base import Exchange
from director.exchanges.replay import ReplayExchange
from director.models import Opportunity
from director.recorder.reader import Poll, Recording, RecordingError
from director.sense import OpportunitySource
from director.settings import Settings
from director.store import Store


@dataclass(frozen=True)
class ReplayConfig:
    recording: Path
    brains: tuple[str, ...]
    approvals: ApprovalPolicy = "approve"
    db_dir: Path | None = None
    replay_dir: Path = Path("omega-replay")  # the Claude brain's answers
    allow_api_spend: bool = False
    # Only the polls in [since, until) (a review's window); None: from the start / to the end.
    since: datetime | None = None
    until: datetime | None = None


class RecordedOpportunities:
    """The opportunities recorded at the current poll, as one SENSE source."""

    name = "recorded"

    def __init__(self) -> None:
        self.current: list[Opportunity] = []

    async def opportunities(self, now: datetime) -> list[Opportunity]:
        return [o for o in self.current if o.expires_at > now]

    def counters(self) -> dict[str, int]:
        return {"found": len(self.current)}


def _polls(recording: Recording, config: ReplayConfig) -> Iterator[Poll]:
    for poll in recording.polls():
        if config.since is not None and poll.at < config.since:
            continue
        if config.until is not None and poll.at >= config.until:
            return
        yield poll


def _setup(recording: Recording, config: ReplayConfig, settings: Settings) -> RunSetup:
    count, first, last, markets = 0, None, None, set[str]()
    for poll in _polls(recording, config):
        count += 1
        first = first or poll.at
        last = poll.at
        markets.update(m.ticker for m in poll.markets)
    if first is None or last is None or count < 2:
        raise BacktestError(
            f"{recording.directory}: a replay needs at least 2 polls, found {count}"
        )
    interval = recording.manifest.interval_seconds
    days = max(1, math.ceil((last - first).total_seconds() / 86_400))
    paper = settings.model_copy(update={"exchange": "paper"})
    return RunSetup(
        days=min(days, MAX_DAYS),
        seed=0,
        start=first,
        cycle_seconds=interval,
        cycles=count,
        approvals=config.approvals,
        autonomy=paper.autonomy.value,
        markets=len(markets),
        starting_cash=settings.paper_starting_cash,
        max_order_contracts=settings.max_order_contracts,
        max_order_cost=settings.max_order_cost,
        max_exposure=settings.max_exposure,
        daily_loss_limit=settings.daily_loss_limit,
        approval_cost_threshold=paper.approval_cost_threshold,
    )


async def run_replay_backtest(
    config: ReplayConfig,
    settings: Settings,
    *,
    progress: Progress | None = None,
    prepare: Prepare | None = None,
) -> BacktestResult:
    """Every brain of `config` over the same recording (see the module docstring)."""
    try:
        recording = Recording.open(config.recording)
        setup = _setup(recording, config, settings)
    except RecordingError as exc:
        raise BacktestError(str(exc)) from None
    # Validates the brains and the approval policy the same way as a simulated backtest.
    base = BacktestConfig(
        days=setup.days,
        seed=0,
        brains=config.brains,
        approvals=config.approvals,
        start=setup.start,
        db_dir=config.db_dir,
        replay_dir=config.replay_dir,
        allow_api_spend=config.allow_api_spend,
    )
    if config.db_dir is not None:
        refuse_used_databases(config.db_dir, config.brains)

    async def run_one(brain: str, db_path: Path) -> tuple[BrainResult, None]:
        brain_settings = backtest_settings(settings, 0, db_path)
        brain_settings = brain_settings.model_copy(update={"cycle_seconds": setup.cycle_seconds})
        try:
            result = await _run_brain(
                brain, recording, config, base, setup, brain_settings, progress, prepare
            )
        except RecordingError as exc:
            raise BacktestError(str(exc)) from None
        return result, None

    result = await run_each_brain(config.brains, config.db_dir, "omega-replay-", setup, run_one)
    if recording.has_grids:
        return result
    note = (
        f"{recording.directory} was recorded without tick grids (schema "
        f"{recording.manifest.schema_version}): every market was replayed on whole cents"
    )
    return replace(result, notes=(*result.notes, note))


async def _run_brain(
    name: str,
    recording: Recording,
    config: ReplayConfig,
    base: BacktestConfig,
    setup: RunSetup,
    settings: Settings,
    progress: Progress | None,
    prepare: Prepare | None,
) -> BrainResult:
    clock = SimClock(setup.start)
    exchange = ReplayExchange(starting_cash=settings.paper_starting_cash, clock=clock)
    source = RecordedOpportunities()

    async def venue(
        settings: Settings, store: Store, clock: Clock, stack: AsyncExitStack
    ) -> tuple[Exchange, list[OpportunitySource]]:
        stack.push_async_callback(exchange.close)
        return exchange, [source]

    async with AsyncExitStack() as stack:
        brain, transport = pick_brain(name, settings, base, stack)
        run = await BrainRun.open(name, brain, transport, settings, clock, stack, venue, prepare)
        for done, poll in enumerate(_polls(recording, config), start=1):
            clock.advance((poll.at - clock()).total_seconds())
            exchange.apply(poll)
            source.current = [line.to_opportunity() for line in poll.opportunities]
            await run.cycle(config.approvals)
            if run.refusal is not None:
                raise BacktestError(run.refusal)
            if progress is not None:
                progress(name, done, setup.cycles)
        return await _finish(run, exchange)


async def _finish(run: BrainRun, exchange: ReplayExchange) -> BrainResult:
    """Mark the book once more after the last poll, and count trades and fees."""
    final = await run.director.sense()
    fills = await exchange.get_fills()
    return await run.result(
        final.equity, len(final.open_positions), fills, exchange.results, exchange.fees_paid
    )
