"""One brain's Director over a backtest venue, put together by the live wiring
(director/app.py `assemble`), cycled and counted.

Shared by the simulated backtest (runner.py) and the replay of a recording (recorded.py),
which differ only in the venue, the opportunity source and how time moves between cycles.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from director.app import Venue, assemble, open_scratch_store
from director.backtest.claims import ClaimRecorder
from director.backtest.metrics import hit_rate, trade_results
from director.backtest.replay import RecordReplayTransport
from director.backtest.simclock import SimClock
from director.backtest.tally import BacktestReporter, BrainResult, MeteredBrain, RunTally
from director.backtest.trader_metrics import trader_metrics
from director.brains.base import Brain
from director.clock import Clock
from director.director import Director
from director.exchanges.base import Exchange
from director.models import Fill, Side
from director.settings import Settings
from director.store import Store

ApprovalPolicy = Literal["approve", "reject"]
# The brain a backtest runs, made on the run's store (the AI ledger) and clock.
BrainUnderTest = Callable[[Settings, Store, Clock], Brain]
# Run on each brain's fresh store before its first cycle (e.g. to make other rules active).
Prepare = Callable[[Store], Awaitable[None]]
TRIGGER = "backtest"
APPROVER = "backtest"


@dataclass(frozen=True)
class BrainRun:
    """One brain's Director on a backtest venue, and the tally its cycles add up in."""

    director: Director
    exchange: Exchange
    brain: MeteredBrain
    claims: ClaimRecorder
    reporter: BacktestReporter
    tally: RunTally
    transport: RecordReplayTransport | None

    @classmethod
    async def open(
        cls,
        name: str,
        brain: BrainUnderTest,
        transport: RecordReplayTransport | None,
        settings: Settings,
        clock: SimClock,
        stack: AsyncExitStack,
        venue: Venue,
        prepare: Prepare | None = None,
    ) -> BrainRun:
        """The live wiring (director/app.py) on the backtest's venue, clock and fresh
        database, with `brain` thinking; `prepare` runs on the store before the first cycle.
        No start-up settling: a backtest's database is always new."""
        metered = _Metered(brain)
        reporter = BacktestReporter()
        director = await assemble(
            settings,
            reporter,
            clock,
            stack,
            venue=venue,
            brains=metered,
            store_opener=open_scratch_store,
        )
        if prepare is not None:
            await prepare(director.store)
        assert metered.brain is not None and metered.claims is not None  # assemble made them
        tally = RunTally(name, settings.cycle_seconds, settings.paper_starting_cash)
        return cls(
            director, director.exchange, metered.brain, metered.claims, reporter, tally, transport
        )

    async def cycle(self, approvals: ApprovalPolicy) -> None:
        """One cycle, then the approvals it raised decided by the policy."""
        self.tally.add_cycle(await self.director.run_cycle(TRIGGER))
        approve = approvals == "approve"
        for request in self.reporter.take_requests():
            self.tally.add_decision(
                await self.director.decide_approval(request.approval_id, APPROVER, approve)
            )

    @property
    def refusal(self) -> str | None:
        """Why the replay transport refused a model call (a backtest must stop), if it did."""
        if self.transport is not None and self.transport.stats.refused:
            return str(self.transport.stats.refused[0])
        return None

    async def result(
        self,
        final_equity: Decimal,
        open_positions: int,
        fills: list[Fill],
        settled: Mapping[str, Side | None],
        fees: Decimal,
    ) -> BrainResult:
        """The brain's result from the final mark, its fills, the markets settled and fees."""
        traded = sorted({f.market for f in fills})
        results = {m.ticker: m.result for m in await self.exchange.get_markets(traded)}
        pnl = final_equity - self.tally.start_equity
        trader = trader_metrics(fills, results, self.claims.log, pnl)
        return self.tally.result(
            final_equity=final_equity,
            hits=hit_rate(trade_results(fills, settled)),
            fees=fees,
            fills=len(fills),
            open_positions=open_positions,
            ai=self.brain.usage,
            alerts=self.reporter.alerts,
            expired=self.reporter.expired,
            trader=trader,
        )


class _Metered:
    """The wiring's brain factory for a backtest: the brain under test, what it claims recorded
    (the trader metrics of report.json) and its model calls counted."""

    def __init__(self, inner: BrainUnderTest) -> None:
        self._inner = inner
        self.claims: ClaimRecorder | None = None
        self.brain: MeteredBrain | None = None

    def __call__(self, settings: Settings, store: Store, clock: Clock) -> tuple[Brain, None]:
        self.claims = ClaimRecorder(
            self._inner(settings, store, clock),
            max_contracts=settings.max_order_contracts,
            max_cost=settings.max_order_cost,
        )
        self.brain = MeteredBrain(self.claims)
        return self.brain, None
