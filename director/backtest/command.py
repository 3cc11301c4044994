"""`omega-director backtest`: options in, a progress bar while it runs, then the table, the
JSON report and the equity chart."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from director.backtest import BRAINS
from director.backtest.report import ProgressBar, plot_equity, print_report, write_json
from director.backtest.runner import (
    ApprovalPolicy,
    BacktestConfig,
    BacktestError,
    run_backtest,
)
from director.settings import Settings

DEFAULT_OUT = Path("backtest-report")
DEFAULT_REPLAY_DIR = Path("omega-replay")


@dataclass(frozen=True)
class BacktestOptions:
    """The command line, parsed (omega/cli.py builds it)."""

    days: int
    seed: int
    brain: str | None
    compare: str | None
    approvals: ApprovalPolicy
    out: Path | None
    allow_api_spend: bool
    replay_dir: Path = DEFAULT_REPLAY_DIR
    # A recording (omega-director record) to replay instead of the simulator.
    replay: Path | None = None
    # The simulator's regime (director/exchanges/paper_scenarios.py).
    scenario: str = "base"


def brains_from(brain: str | None, compare: str | None) -> tuple[str, ...]:
    """`--brain` first, then the `--compare` list without repeats: `--brain claude --compare
    rules,naive` runs claude, rules and naive; `--compare naive,none` alone runs those two;
    neither runs the rules brain."""
    names = [brain] if brain is not None else []
    if compare is None:
        return tuple(names or ["rules"])
    for name in (part.strip().lower() for part in compare.split(",")):
        if name not in BRAINS:
            raise BacktestError(
                f"--compare: unknown brain {name!r} (choose from {', '.join(BRAINS)})"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


async def run_command(
    options: BacktestOptions,
    settings: Settings,
    *,
    console: Console | None = None,
    progress_console: Console | None = None,
) -> int:
    """Run the backtest the options describe; returns the process exit code."""
    console = console or Console()
    progress_console = progress_console or Console(stderr=True)
    brains = brains_from(options.brain, options.compare)
    out = options.out or DEFAULT_OUT
    if out.exists() and not out.is_dir():
        raise BacktestError(f"{out} exists and is not a directory: choose another --out")
    if options.replay is not None and options.scenario != "base":
        raise BacktestError("--scenario stresses the simulator; a --replay plays what was recorded")
    if options.replay is not None:
        return await _replay_command(options, brains, settings, console, progress_console)
    config = BacktestConfig(
        days=options.days,
        seed=options.seed,
        brains=brains,
        approvals=options.approvals,
        db_dir=options.out,
        replay_dir=options.replay_dir,
        allow_api_spend=options.allow_api_spend,
        scenario=options.scenario,
    )
    # One "account created" line per brain says nothing a backtest user needs.
    logging.getLogger("director.exchanges.paper").setLevel(logging.WARNING)
    with ProgressBar(progress_console) as bar:
        result = await run_backtest(config, settings, progress=bar)
    print_report(result, console)
    report = write_json(result, out / "report.json")
    chart = plot_equity(result, out / "equity.png")
    console.print(f"Saved {report} and {chart}")
    return 0


async def _replay_command(
    options: BacktestOptions,
    brains: tuple[str, ...],
    settings: Settings,
    console: Console,
    progress_console: Console,
) -> int:
    """`--replay DIR`: the same table, report and chart, over a recording."""
    from director.backtest.recorded import ReplayConfig, run_replay_backtest

    assert options.replay is not None
    config = ReplayConfig(
        recording=options.replay,
        brains=brains,
        approvals=options.approvals,
        db_dir=options.out,
        replay_dir=options.replay_dir,
        allow_api_spend=options.allow_api_spend,
    )
    out = options.out or DEFAULT_OUT
    with ProgressBar(progress_console) as bar:
        result = await run_replay_backtest(config, settings, progress=bar)
    print_report(result, console)
    for note in result.notes:
        console.print(f"Note: {note}")
    report = write_json(result, out / "report.json")
    chart = plot_equity(result, out / "equity.png")
    console.print(f"Replayed {options.replay}; saved {report} and {chart}")
    return 0
