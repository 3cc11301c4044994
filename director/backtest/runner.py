"""Run the real Director against the paper venue on a simulated clock, one brain at a time.

Every brain compared gets its own fresh database and paper account with the same seed and the
same start time, so they all see the same market path: the hidden probabilities, the crowd and
the settlements never react to orders; only a brain's own quotes carry its price impact.
A cycle runs at every OMEGA_CYCLE_SECONDS of simulated time; the clock jumps, nothing
sleeps. Approval requests are decided by the policy (`approve` or `reject`) right after the
cycle that raised them, by the same `decide_approval` path a Telegram press takes, re-check
included.

Nothing here reads the wall clock or an unseeded random source; wall time is measured only
for the separate `runtime` figures.
"""

from __future__ import annotations

import functools
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from director.app import open_paper
from director.backtest import BRAINS
from director.backtest.baselines import NaiveBrain, NaiveOnceBrain, NoneBrain
from director.backtest.brain_run import ApprovalPolicy as ApprovalPolicy
from director.backtest.brain_run import BrainRun, BrainUnderTest
from director.backtest.replay import RecordReplayTransport, ReplayStats, ResponseCache
from director.backtest.simclock import SimClock
from director.backtest.tally import BrainResult
from director.brains.base import Brain
from director.brains.rules import RulesBrain
from director.clock import Clock
from director.exchanges.base import Exchange
from director.exchanges.paper import PaperExchange
from director.exchanges.paper_scenarios import scenario_named
from director.sense import OpportunitySource
from director.settings import Settings
from director.store import Store

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

log = logging.getLogger(__name__)

# A Monday at midnight UTC: on the simulator's 5-minute grid and at a UTC day boundary, so
# simulated days line up with the AI budget's days.
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
MAX_DAYS = 366
# Replay-only clients never reach the network; the SDK still insists on a key.
_REPLAY_ONLY_KEY = "replay-only-no-key"

Progress = Callable[[str, int, int], None]  # (brain, cycles done, cycles in total)


class BacktestError(Exception):
    """The backtest can't run or had to stop; the message says why."""


@dataclass(frozen=True)
class BacktestConfig:
    days: int
    seed: int
    brains: tuple[str, ...]
    approvals: ApprovalPolicy = "approve"
    start: datetime = DEFAULT_START
    # Keep each brain's database here (<dir>/<brain>.db); None: a temporary directory.
    db_dir: Path | None = None
    replay_dir: Path = Path("omega-replay")
    allow_api_spend: bool = False
    # The simulator's regime (paper_scenarios.py): `base`, or a stress scenario.
    scenario: str = "base"
    # Run on each brain's fresh store before its first cycle (the review's evidence saves the
    # suggested rules there). Not part of the report.
    prepare: Callable[[Store], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int):
            raise BacktestError(f"--days must be a whole number, got {self.days!r}")
        if not 1 <= self.days <= MAX_DAYS:
            raise BacktestError(f"--days must be between 1 and {MAX_DAYS}, got {self.days}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise BacktestError(f"--seed must be an integer, got {self.seed!r}")
        if not self.brains:
            raise BacktestError("no brain to run")
        unknown = [b for b in self.brains if b not in BRAINS]
        if unknown:
            raise BacktestError(f"unknown brain {unknown[0]!r}: choose from {', '.join(BRAINS)}")
        if len(set(self.brains)) != len(self.brains):
            raise BacktestError("a brain is named twice")
        if self.approvals not in ("approve", "reject"):
            raise BacktestError(f"--approvals must be approve or reject, got {self.approvals!r}")
        if self.start.tzinfo is None:
            raise BacktestError("the start time must be timezone-aware")
        try:
            scenario_named(self.scenario)
        except ValueError as exc:
            raise BacktestError(f"--scenario: {exc}") from None

    def cycles(self, cycle_seconds: int) -> int:
        return self.days * 86_400 // cycle_seconds


@dataclass(frozen=True)
class RunSetup:
    """The settings every brain ran under: part of the report, so a reader can rerun it."""

    days: int
    seed: int
    start: datetime
    cycle_seconds: int
    cycles: int
    approvals: str
    autonomy: str
    markets: int
    starting_cash: Decimal
    max_order_contracts: int
    max_order_cost: Decimal
    max_exposure: Decimal
    daily_loss_limit: Decimal
    approval_cost_threshold: Decimal
    models: dict[str, str] = field(default_factory=dict)
    scenario: str = "base"


@dataclass(frozen=True)
class BrainRuntime:
    wall_seconds: float
    replay: ReplayStats | None = None


@dataclass(frozen=True)
class BacktestResult:
    setup: RunSetup
    results: dict[str, BrainResult]
    # Wall-clock figures and cache traffic: vary run to run, so kept apart from `results`.
    runtime: dict[str, BrainRuntime]
    # What the operator should know about the run (printed once, not in report.json).
    notes: tuple[str, ...] = ()


def backtest_settings(settings: Settings, seed: int, db_path: Path) -> Settings:
    """The operator's settings (limits, autonomy, cycle, models) on the paper venue."""
    return settings.model_copy(
        update={
            "exchange": "paper",
            "db_path": db_path,
            "paper_seed": seed,
            "opportunity_feed": None,
            "news_feeds": [],
        }
    )


def refuse_used_databases(db_dir: Path, brains: Sequence[str]) -> None:
    """BacktestError if a brain's database in `db_dir` exists: a run starts from fresh ones."""
    taken = [b for b in brains if (db_dir / f"{b}.db").exists()]
    if taken:
        raise BacktestError(
            f"{db_dir / (taken[0] + '.db')} already exists: a backtest starts from "
            "a fresh database; choose another --out or move the old one away"
        )


def describe_setup(config: BacktestConfig, settings: Settings) -> RunSetup:
    paper = settings.model_copy(update={"exchange": "paper"})
    models: dict[str, str] = {}
    if "claude" in config.brains:
        models = {
            "planner": settings.model_planner,
            "executor": settings.model_executor,
            "escalation": settings.model_escalation,
        }
    return RunSetup(
        days=config.days,
        seed=config.seed,
        start=config.start,
        cycle_seconds=settings.cycle_seconds,
        cycles=config.cycles(settings.cycle_seconds),
        approvals=config.approvals,
        autonomy=paper.autonomy.value,
        markets=settings.paper_markets,
        starting_cash=settings.paper_starting_cash,
        max_order_contracts=settings.max_order_contracts,
        max_order_cost=settings.max_order_cost,
        max_exposure=settings.max_exposure,
        daily_loss_limit=settings.daily_loss_limit,
        approval_cost_threshold=paper.approval_cost_threshold,
        models=models,
        scenario=config.scenario,
    )


async def run_backtest(
    config: BacktestConfig, settings: Settings, *, progress: Progress | None = None
) -> BacktestResult:
    """Every brain of `config`, one after another, over the same market path."""
    if "claude" in config.brains and config.allow_api_spend and settings.anthropic_api_key is None:
        raise BacktestError("--allow-api-spend needs ANTHROPIC_API_KEY to record new answers")
    cycles = config.cycles(settings.cycle_seconds)
    if cycles < 2:
        raise BacktestError(
            f"{config.days} day(s) of {settings.cycle_seconds}s cycles is {cycles} cycle(s): "
            "a backtest needs at least 2"
        )
    if config.db_dir is not None:
        if config.db_dir.exists() and not config.db_dir.is_dir():
            raise BacktestError(f"{config.db_dir} exists and is not a directory")
        refuse_used_databases(config.db_dir, config.brains)
    setup = describe_setup(config, settings)

    async def run_one(brain: str, db_path: Path) -> tuple[BrainResult, ReplayStats | None]:
        brain_settings = backtest_settings(settings, config.seed, db_path)
        return await _run_brain(brain, config, setup, brain_settings, progress)

    return await run_each_brain(config.brains, config.db_dir, "omega-backtest-", setup, run_one)


async def run_each_brain(
    brains: Sequence[str],
    db_dir: Path | None,
    scratch_prefix: str,
    setup: RunSetup,
    run_one: Callable[[str, Path], Awaitable[tuple[BrainResult, ReplayStats | None]]],
) -> BacktestResult:
    """`run_one(brain, its fresh database)` for each brain in turn, timed; the databases in
    `db_dir`, or in a temporary directory (named from `scratch_prefix`) when None."""
    results: dict[str, BrainResult] = {}
    runtime: dict[str, BrainRuntime] = {}
    with tempfile.TemporaryDirectory(prefix=scratch_prefix) as scratch:
        db_dir = db_dir or Path(scratch)
        db_dir.mkdir(parents=True, exist_ok=True)
        for brain in brains:
            started = time.perf_counter()
            result, replay = await run_one(brain, db_dir / f"{brain}.db")
            results[brain] = result
            runtime[brain] = BrainRuntime(round(time.perf_counter() - started, 3), replay)
    return BacktestResult(setup=setup, results=results, runtime=runtime)


async def _run_brain(
    name: str,
    config: BacktestConfig,
    setup: RunSetup,
    settings: Settings,
    progress: Progress | None,
) -> tuple[BrainResult, ReplayStats | None]:
    clock = SimClock(config.start)
    scenario = scenario_named(config.scenario)

    async def venue(
        settings: Settings, store: Store, clock: Clock, stack: AsyncExitStack
    ) -> tuple[Exchange, list[OpportunitySource]]:
        exchange, sources = await open_paper(settings, store, clock, stack, scenario)
        return exchange, sources

    async with AsyncExitStack() as stack:
        brain, transport = pick_brain(name, settings, config, stack)
        run = await BrainRun.open(
            name, brain, transport, settings, clock, stack, venue, config.prepare
        )
        for done in range(1, setup.cycles + 1):
            await run.cycle(config.approvals)
            if run.refusal is not None:
                raise BacktestError(run.refusal)
            clock.advance(setup.cycle_seconds)
            if progress is not None:
                progress(name, done, setup.cycles)
        result = await _finish(run)
        return result, None if transport is None else transport.stats


async def _finish(run: BrainRun) -> BrainResult:
    """Mark the book once more after the last cycle, and count trades and fees."""
    exchange = run.exchange
    assert isinstance(exchange, PaperExchange)  # the venue of `_run_brain`
    final = await run.director.sense()
    fills = await exchange.get_fills()
    settled = {s.market: s.result for s in await exchange.settlements()}
    account = await exchange.account()
    return await run.result(
        final.equity, len(final.open_positions), fills, settled, account.fees_paid
    )


def pick_brain(
    name: str, settings: Settings, config: BacktestConfig, stack: AsyncExitStack
) -> tuple[BrainUnderTest, RecordReplayTransport | None]:
    """The brain `name`, and the Claude brain's replay transport (else None). The Claude
    brain's client is closed with `stack`, after the brain (which only closes clients it made)."""
    if name == "claude":
        transport, client = _replay_client(settings, config)
        stack.push_async_callback(client.close)  # and with it the replay transport
        return functools.partial(_claude_brain, client=client), transport
    return functools.partial(_offline_brain, name), None


def _offline_brain(name: str, settings: Settings, store: Store, clock: Clock) -> Brain:
    if name == "rules":
        return RulesBrain(settings)
    if name == "naive":
        return NaiveBrain(settings)
    if name == "naive-once":
        return NaiveOnceBrain(settings)
    if name == "none":
        return NoneBrain()
    raise BacktestError(f"unknown brain {name!r}")


def _replay_client(
    settings: Settings, config: BacktestConfig
) -> tuple[RecordReplayTransport, AsyncAnthropic]:
    """An SDK client whose HTTP goes through the replay cache."""
    # Imported here: the offline brains need neither the SDK nor its HTTP stack.
    from anthropic import AsyncAnthropic, DefaultAsyncHttpxClient

    transport = RecordReplayTransport(
        ResponseCache(config.replay_dir), allow_network=config.allow_api_spend
    )
    key = settings.anthropic_api_key
    client = AsyncAnthropic(
        api_key=key.get_secret_value() if key is not None else _REPLAY_ONLY_KEY,
        base_url=settings.anthropic_base_url,
        timeout=settings.ai_timeout_seconds,
        # Retrying a replay miss can't help; live, the SDK's retries are worth having.
        max_retries=settings.ai_max_retries if config.allow_api_spend else 0,
        http_client=DefaultAsyncHttpxClient(transport=transport),
    )
    return transport, client


def _claude_brain(
    settings: Settings, store: Store, clock: Clock, *, client: AsyncAnthropic
) -> Brain:
    """The same routed Claude brain as live, on `client`."""
    from director.brains.claude import ClaudeBrain
    from director.brains.router import RoutedBrain

    claude = ClaudeBrain(
        settings,
        ledger=store,
        clock=clock,
        client=client,
        # Latency is wall time: pinned so the recorded usage rows don't differ run to run.
        monotonic=lambda: 0.0,
    )
    return RoutedBrain(
        primary=claude, fallback=RulesBrain(settings), ledger=store, settings=settings, clock=clock
    )
