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

from director.app import build_director
from director.console import ConsoleReporter, format_state
from director.director import Director
from director.logging_setup import configure_logging
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
    return parser


async def _with_director(settings: Settings, work: str) -> int:
    director = await build_director(settings, ConsoleReporter())
    try:
        if work == "cycle":
            report = await director.run_cycle("manual")
            return 1 if report.error else 0
        if work == "state":
            print(format_state(await director.sense()))
            return 0
        if work == "review":
            return await _review(director)
        raise AssertionError(work)
    finally:
        await director.close()


async def _review(director: Director) -> int:
    try:
        from director.review import run_review_text
    except ImportError:
        print("The review is not built yet: it arrives with the review feature.")
        return 0
    print(await run_review_text(director))
    return 0


async def _console(settings: Settings, cycles: int | None, interval: float | None) -> int:
    director = await build_director(settings, ConsoleReporter())
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
        await run_loop(director, interval_s=interval or settings.cycle_seconds, max_cycles=cycles)
    finally:
        await director.close()
    return 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.telegram_bot_token is not None:
        from bot.app import run_bot

        run_bot(settings)
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
        return asyncio.run(_with_director(settings, args.command))
    except (SettingsError, StoreError) as exc:
        print(f"omega-director: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
