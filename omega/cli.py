"""`omega-director`: the command line (DESIGN.md, "Interfaces").

This package is the composition root: the only code that knows both the engine (director/)
and the Telegram face (bot/), so neither has to know the other.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from director.api.client_cli import add_script_parsers, run_script_command
from director.app import build_director
from director.console import ConsoleReporter, format_state
from director.console_input import ConsoleCommands
from director.director import Director
from director.logging_setup import configure_logging
from director.review import format_review
from director.runner import run_loop
from director.settings import Settings, SettingsError, load_settings
from director.store import StoreError

log = logging.getLogger("omega")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omega-director",
        description="Sense → think → act for a trader's automation, behind hard risk limits.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="the main job: the Telegram bot with TELEGRAM_BOT_TOKEN, else the console loop"
    )
    run.add_argument("--cycles", type=int, default=None, help="stop after N cycles (console only)")
    run.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds between cycles, overriding OMEGA_CYCLE_SECONDS (console only; for tests)",
    )
    sub.add_parser("cycle", help="run one cycle now and print it")
    sub.add_parser("state", help="print the State of the Union")
    sub.add_parser("review", help="run one review now and print it")
    _add_backtest_parser(sub)
    add_script_parsers(sub)
    _add_record_parser(sub)
    return parser


def _add_backtest_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from director.backtest import BRAINS
    from director.exchanges.paper_scenarios import SCENARIOS

    backtest = sub.add_parser(
        "backtest",
        help="run the director on the paper simulator over simulated days, against baselines",
    )
    backtest.add_argument("--days", type=int, default=30, help="simulated days (default 30)")
    backtest.add_argument("--seed", type=int, default=7, help="market path seed (default 7)")
    backtest.add_argument(
        "--brain", choices=BRAINS, default=None, help="the brain to measure (default rules)"
    )
    backtest.add_argument(
        "--compare",
        default=None,
        metavar="BRAINS",
        help="comma-separated brains to run on the same market path, e.g. rules,naive,none",
    )
    backtest.add_argument(
        "--approvals",
        choices=("approve", "reject"),
        default="approve",
        help="how approval requests are decided (default approve)",
    )
    backtest.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the databases and write report.json and equity.png here "
        "(default: temporary databases, reports in ./backtest-report)",
    )
    backtest.add_argument(
        "--allow-api-spend",
        action="store_true",
        help="let the claude brain call the API for answers not in the replay cache",
    )
    backtest.add_argument(
        "--replay-cache",
        type=Path,
        default=Path("omega-replay"),
        metavar="DIR",
        help="where the claude brain's answers are recorded and replayed (default ./omega-replay)",
    )
    backtest.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="DIR",
        help="replay a recording (omega-director record) instead of the simulator",
    )
    backtest.add_argument(
        "--scenario",
        choices=tuple(SCENARIOS),
        default="base",
        help="the simulator's regime: base, or a stress scenario (default base)",
    )


def _add_record_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    record = sub.add_parser("record", help="record the exchange's markets for backtest --replay")
    record.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="the recording's directory"
    )
    record.add_argument(
        "--every",
        type=int,
        default=None,
        metavar="SECONDS",
        help="seconds between polls (default OMEGA_CYCLE_SECONDS)",
    )
    record.add_argument(
        "--polls", type=int, default=None, metavar="N", help="stop after N polls (default never)"
    )


async def _record(settings: Settings, args: argparse.Namespace) -> int:
    from director.exchanges.base import ExchangeError
    from director.recorder.command import RecordError, RecordOptions, record
    from director.recorder.reader import RecordingError

    try:
        await record(RecordOptions(out=args.out, every=args.every, polls=args.polls), settings)
    except (RecordError, RecordingError, ExchangeError) as exc:
        print(f"omega-director: record: {exc}", file=sys.stderr)
        return 2
    return 0


async def _backtest(settings: Settings, args: argparse.Namespace) -> int:
    from director.backtest.command import BacktestOptions, run_command
    from director.backtest.runner import BacktestError

    options = BacktestOptions(
        days=args.days,
        seed=args.seed,
        brain=args.brain,
        compare=args.compare,
        approvals=args.approvals,
        out=args.out,
        allow_api_spend=args.allow_api_spend,
        replay_dir=args.replay_cache,
        replay=args.replay,
        scenario=args.scenario,
    )
    try:
        return await run_command(options, settings)
    except BacktestError as exc:
        print(f"omega-director: backtest: {exc}", file=sys.stderr)
        return 2


async def _with_director(settings: Settings, work: str) -> int:
    director = await build_director(settings, ConsoleReporter())
    try:
        if work == "cycle":
            from director.oneshot import run_one_cycle  # SIGTERM records what it stops

            return await run_one_cycle(director)
        if work == "state":
            print(format_state(await director.sense()))
            return 0
        if work == "review":
            return await _review(director)
        raise AssertionError(work)
    finally:
        await director.close()


async def _review(director: Director) -> int:
    report = await director.reviewer.run("manual")
    print(format_review(report))
    return 1 if report.status == "failed" else 0


async def _console(settings: Settings, cycles: int | None, interval: float | None) -> int:
    reporter = ConsoleReporter()
    director = await build_director(settings, reporter, local_api=True)
    commands = ConsoleCommands(director)
    try:
        describe = getattr(director.exchange, "describe", None)
        if describe is not None:
            print(await describe(), flush=True)
        print(
            f"Omega Director on {settings.exchange} · brain {settings.brain_kind} · autonomy "
            f"{(await director.autonomy()).value} · a cycle every "
            f"{interval or settings.cycle_seconds:g}s · Ctrl-C stops between cycles",
            flush=True,
        )
        reporter.interactive = commands.attach()
        await run_loop(director, interval_s=interval or settings.cycle_seconds, max_cycles=cycles)
    finally:
        await commands.close()
        await director.close()
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.telegram_bot_token is not None:
        from bot.app import run_bot

        # With the scripts' local API, when OMEGA_API_TOKEN is set.
        run_bot(settings, lambda reporter: build_director(settings, reporter, local_api=True))
        return 0
    return asyncio.run(_console(settings, args.cycles, args.interval))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"omega-director: bad setting {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "run":
            return _run(settings, args)
        if args.command in ("beat", "intent"):
            return run_script_command(settings, args)
        if args.command == "backtest":
            return asyncio.run(_backtest(settings, args))
        if args.command == "record":
            return asyncio.run(_record(settings, args))
        return asyncio.run(_with_director(settings, args.command))
    except (SettingsError, StoreError) as exc:
        print(f"omega-director: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
