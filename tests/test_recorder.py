"""The recorder on paper: what a poll writes, restarts, locks, and a reader that refuses bad
files."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from director.models import Market, MarketStatus, Opportunity, Side
from director.recorder.command import RecordError, RecordOptions, record
from director.recorder.format import (
    DAY_SUFFIX,
    LINE_ADAPTER,
    MANIFEST,
    SCHEMA_VERSION,
    InfoLine,
    Manifest,
    MarketLine,
    encode,
)
from director.recorder.poller import Recorder, RecorderConfig, Universe, next_slot
from director.recorder.reader import Recording, RecordingError, read_manifest
from director.recorder.writer import RecorderBusy, RecordingWriter
from director.ticks import CENT_GRID, PriceRange
from tests.clocks import SteppingClock
from tests.fakes import ListSource
from tests.recording_helpers import START, paper_settings, record_paper


def quarter_hour_manifest(exchange: str, environment: str) -> Manifest:
    """A recording's manifest: every 15 minutes from START, the whole universe, 10 levels."""
    return Manifest(
        schema_version=SCHEMA_VERSION,
        exchange=exchange,
        environment=environment,
        interval_seconds=900,
        created_at=START,
        universe="all",
        depth_levels=10,
    )


def _day(out: Path) -> Path:
    return out / ("2026-03-02" + DAY_SUFFIX)


async def test_a_paper_recording_has_a_manifest_and_numbered_polls_on_the_grid(
    tmp_path: Path,
) -> None:
    clock = SteppingClock(START + timedelta(seconds=7))
    out = tmp_path / "rec"
    assert await record_paper(out, paper_settings(tmp_path), clock, polls=4) == 4
    manifest = read_manifest(out)
    assert (manifest.exchange, manifest.environment, manifest.interval_seconds) == (
        "paper",
        "paper",
        900,
    )
    polls = list(Recording.open(out).polls())
    assert [p.seq for p in polls] == [1, 2, 3, 4]
    # The first poll at once, then on 15-minute grid lines.
    assert [p.at - START for p in polls] == [timedelta(seconds=s) for s in (7, 900, 1800, 2700)]
    assert polls[0].full and not any(p.full for p in polls[1:])
    first = {m.ticker: m for m in polls[0].markets}
    assert len(first) == 30  # universe "all"
    quoted = [m for m in first.values() if m.ask is not None]
    assert quoted and all(m.ask_size > 0 for m in quoted)
    assert all(p.opportunities for p in polls)
    assert all(o.source == "paper-scanner" for p in polls for o in p.opportunities)


async def test_unchanged_markets_are_left_out_of_later_polls(tmp_path: Path) -> None:
    clock = SteppingClock(START)
    out = tmp_path / "rec"
    # One-minute polls: the paper venue's 5-minute grid leaves most of them unchanged.
    await record_paper(out, paper_settings(tmp_path), clock, polls=3, every=60)
    polls = list(Recording.open(out).polls())
    assert len(polls[0].markets) == 30
    assert len(polls[1].markets) == 0 and len(polls[2].markets) == 0


async def test_a_restart_neither_loses_nor_repeats_a_poll(tmp_path: Path) -> None:
    settings = paper_settings(tmp_path)
    clock = SteppingClock(START)
    out = tmp_path / "rec"
    await record_paper(out, settings, clock, polls=3)
    committed = _day(out).stat().st_size
    # A crash mid-write: half a gzip member after the last committed poll.
    torn = gzip.compress(b'{"kind":"poll","seq":4,"at":"2026-03-02T00:45:00Z","full":false}\n')
    with _day(out).open("ab") as handle:
        handle.write(torn[: len(torn) // 2])
    # Restarted at once (inside the last poll's slot): it waits for the next slot.
    clock.slept.clear()
    await record_paper(out, settings, clock, polls=2)
    assert clock.slept[0] == 900
    polls = list(Recording.open(out).polls())
    assert [p.seq for p in polls] == [1, 2, 3, 4, 5]
    assert len({p.at for p in polls}) == 5
    assert polls[3].full  # the first poll after a restart carries every market
    with _day(out).open("rb") as handle:
        handle.seek(committed)
        assert handle.read(2) == b"\x1f\x8b"  # the torn bytes were cut, a new member follows


async def test_a_restart_after_a_long_stop_skips_the_missed_slots_without_renumbering(
    tmp_path: Path,
) -> None:
    settings = paper_settings(tmp_path)
    clock = SteppingClock(START)
    out = tmp_path / "rec"
    await record_paper(out, settings, clock, polls=2)
    clock.now += timedelta(hours=3, minutes=5)
    await record_paper(out, settings, clock, polls=1)
    polls = list(Recording.open(out).polls())
    assert [p.seq for p in polls] == [1, 2, 3]
    assert polls[2].at == START + timedelta(hours=3, minutes=20)


async def test_settlements_are_recorded_once_and_the_market_leaves(tmp_path: Path) -> None:
    clock = SteppingClock(START)
    out = tmp_path / "rec"
    await record_paper(out, paper_settings(tmp_path), clock, polls=30, every=3 * 3600)
    seen: dict[str, int] = {}
    settled: list[str] = []
    for poll in Recording.open(out).polls():
        for line in poll.markets:
            assert line.ticker not in settled, "a settled market was recorded again"
            seen[line.ticker] = poll.seq
        for settlement in poll.settlements:
            assert settlement.ticker in seen and settlement.ticker not in settled
            settled.append(settlement.ticker)
    assert settled


async def test_a_second_recorder_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    manifest = quarter_hour_manifest("paper", "paper")
    first = RecordingWriter.open(tmp_path / "rec", manifest)
    try:
        with pytest.raises(RecorderBusy):
            RecordingWriter.open(tmp_path / "rec", manifest)
    finally:
        first.close()
    other = manifest.model_copy(update={"interval_seconds": 60})
    with pytest.raises(RecordingError, match="interval_seconds"):
        RecordingWriter.open(tmp_path / "rec", other)


async def test_a_paper_recorder_takes_the_databases_lock_so_run_cannot_share_its_venue(
    tmp_path: Path,
) -> None:
    from director.store.instance_lock import DatabaseInUse, InstanceLock

    settings = paper_settings(tmp_path)
    held = InstanceLock.acquire(settings.db_path)
    try:
        with pytest.raises(DatabaseInUse):
            await record_paper(tmp_path / "rec", settings, SteppingClock(START), polls=1)
    finally:
        held.release()


async def test_bad_options_are_refused(tmp_path: Path) -> None:
    settings = paper_settings(tmp_path)
    with pytest.raises(RecordError, match="--every"):
        await record(RecordOptions(out=tmp_path / "rec", every=0), settings)
    with pytest.raises(RecordError, match="--polls"):
        await record(RecordOptions(out=tmp_path / "rec", polls=0), settings)


async def test_a_bad_line_fails_naming_its_file_and_line(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    await record_paper(out, paper_settings(tmp_path), SteppingClock(START), polls=1)
    lines = [
        b'{"kind":"poll","seq":2,"at":"2026-03-02T00:15:00Z","full":false}',
        b'{"kind":"market","ticker":"KX-A","ask":"1.5"}',
        b'{"kind":"end","seq":2,"lines":2}',
    ]
    with _day(out).open("ab") as handle:
        handle.write(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(RecordingError, match=r"2026-03-02\.jsonl\.gz: poll 2, line 2: market\.ask"):
        list(Recording.open(out).polls())


async def test_a_torn_poll_is_ignored_at_the_tail_but_not_in_an_older_file(
    tmp_path: Path,
) -> None:
    out = tmp_path / "rec"
    await record_paper(out, paper_settings(tmp_path), SteppingClock(START), polls=2)
    with _day(out).open("ab") as handle:
        handle.write(b"\x1f\x8b\x08\x00garbage")
    assert [p.seq for p in Recording.open(out).polls()] == [1, 2]
    (out / ("2026-03-03" + DAY_SUFFIX)).write_bytes(b"")  # a newer file: the tear is inside
    with pytest.raises(RecordingError, match="damaged or truncated"):
        list(Recording.open(out).polls())


def test_the_universe_filter_and_the_grid() -> None:
    prefixes = Universe.parse("kxhigh, KXFED")
    assert prefixes.includes("KXHIGHNY-26MAR02-T45") and not prefixes.includes("KXBTC-1")
    assert not Universe.parse("none").includes("KXFED-1")
    assert Universe.parse("all").includes("anything")
    assert next_slot(START + timedelta(seconds=1), 900) == START + timedelta(seconds=900)
    assert next_slot(START, 900) == START + timedelta(seconds=900)


def test_prices_and_sizes_are_written_as_plain_decimals_and_the_title_apart() -> None:
    line = MarketLine(ticker="KX-A", title="A?", bid=Decimal("0.4100"), bid_size=Decimal("100.00"))
    info, quote = line.split()
    assert encode(quote) == b'{"kind":"market","ticker":"KX-A","bid":"0.41","bid_size":"100"}\n'
    assert encode(info) == b'{"kind":"info","ticker":"KX-A","title":"A?"}\n'


def test_a_tick_grid_is_written_compactly_in_the_info_line_and_whole_cents_not_at_all() -> None:
    tapered = (
        PriceRange(start=Decimal("0.0000"), end=Decimal("0.1000"), step=Decimal("0.0010")),
        PriceRange(start=Decimal("0.1000"), end=Decimal("0.9000"), step=Decimal("0.0100")),
        PriceRange(start=Decimal("0.9000"), end=Decimal("1.0000"), step=Decimal("0.0010")),
    )
    info, quote = MarketLine(ticker="KX-A", ask=Decimal("0.035"), ticks=tapered).split()
    assert encode(info) == (
        b'{"kind":"info","ticker":"KX-A",'
        b'"ticks":[["0","0.1","0.001"],["0.1","0.9","0.01"],["0.9","1","0.001"]]}\n'
    )
    assert b"ticks" not in encode(quote)
    read = LINE_ADAPTER.validate_json(encode(info))
    assert MarketLine.join(read, quote).to_market().price_ranges == tapered
    # Kalshi states the cent grid explicitly on most markets: recorded, it costs nothing.
    cents, _ = MarketLine(ticker="KX-A", ticks=CENT_GRID).split()
    assert cents.ticks == () and encode(cents) == b'{"kind":"info","ticker":"KX-A"}\n'
    for bad in ('[["0","0.1"]]', '[["0","0.1","0"]]', '[["0.5","0.1","0.01"]]'):
        with pytest.raises(ValueError):
            InfoLine.model_validate_json('{"kind":"info","ticker":"KX-A","ticks":' + bad + "}")


async def test_a_recording_from_before_tick_grids_reads_but_is_not_continued(
    tmp_path: Path,
) -> None:
    out = tmp_path / "rec"
    await record_paper(out, paper_settings(tmp_path), SteppingClock(START), polls=2)
    assert Recording.open(out).has_grids
    manifest = read_manifest(out)
    old = manifest.model_copy(update={"schema_version": 1})
    (out / MANIFEST).write_text(old.model_dump_json())
    recording = Recording.open(out)
    assert not recording.has_grids
    polls = list(recording.polls())
    assert polls[0].markets and all(m.ticks == () for m in polls[0].markets)
    # The recorder writes grids: it does not add polls to a recording that says it has none.
    with pytest.raises(RecordingError, match="schema_version is 1 in the recording, 2 now"):
        RecordingWriter.open(out, manifest)
    (out / MANIFEST).write_text(manifest.model_copy(update={"schema_version": 3}).model_dump_json())
    with pytest.raises(RecordingError, match="schema version 3; this version reads 1, 2"):
        Recording.open(out)


async def test_a_quote_without_its_markets_info_in_the_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    await record_paper(out, paper_settings(tmp_path), SteppingClock(START), polls=1)
    lines = [
        b'{"kind":"poll","seq":2,"at":"2026-03-02T00:15:00Z","full":false}',
        b'{"kind":"market","ticker":"KX-NEW","ask":"0.5","ask_size":"3"}',
        b'{"kind":"end","seq":2,"lines":2}',
    ]
    with _day(out).open("ab") as handle:
        handle.write(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(RecordingError, match="poll 2, line 2: KX-NEW has no info line"):
        list(Recording.open(out).polls())


async def test_a_gap_in_the_poll_numbers_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    await record_paper(out, paper_settings(tmp_path), SteppingClock(START), polls=1)
    lines = [
        b'{"kind":"poll","seq":3,"at":"2026-03-02T00:30:00Z","full":false}',
        b'{"kind":"end","seq":3,"lines":1}',
    ]
    with _day(out).open("ab") as handle:
        handle.write(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(RecordingError, match=r"poll 3 follows poll 1 \(polls missing\)"):
        list(Recording.open(out).polls())


class FakeFeed:
    """A venue the test scripts poll by poll."""

    exchange = "kalshi"
    environment = "TEST"

    def __init__(self) -> None:
        self.open: list[MarketLine] = []
        self.later: dict[str, Market] = {}  # what a lookup says of markets that left

    async def listing(self) -> list[MarketLine]:
        return list(self.open)

    async def depth(self, ticker: str, levels: int) -> None:
        return None

    async def held(self) -> set[str]:
        return set()

    async def lookup(self, tickers: Sequence[str]) -> dict[str, Market]:
        return {t: self.later[t] for t in tickers if t in self.later}


async def test_markets_that_leave_are_closed_gone_or_settled_and_bad_opportunities_skipped(
    tmp_path: Path,
) -> None:
    clock = SteppingClock(START)
    feed = FakeFeed()
    feed.open = [MarketLine(ticker=t, bid=Decimal("0.40"), bid_size=Decimal(5)) for t in "ABC"]
    expires = START + timedelta(days=1)
    source = ListSource(
        [
            Opportunity(market="A", edge=Decimal(2), confidence=Decimal("0.9"), expires_at=expires),
            Opportunity(
                market="A", edge=Decimal("0.2"), confidence=Decimal("0.9"), expires_at=expires
            ),
        ]
    )
    manifest = quarter_hour_manifest("kalshi", "TEST")
    writer = RecordingWriter.open(tmp_path / "rec", manifest)
    config = RecorderConfig(every_seconds=900, universe=Universe.parse("all"), depth_levels=10)
    recorder = Recorder(feed, [source], writer, config, clock=clock, sleep=clock.sleep)
    try:
        await recorder.run(1)
        feed.open = feed.open[:1]
        feed.later = {"B": Market(ticker="B", status=MarketStatus.CLOSED), "C": Market(ticker="C")}
        await recorder.run(1)
        feed.later["B"] = Market(ticker="B", status=MarketStatus.SETTLED, result=Side.NO)
        await recorder.run(1)
    finally:
        writer.close()
    first, second, third = Recording.open(tmp_path / "rec").polls()
    assert [o.edge for o in first.opportunities] == [Decimal("0.2")]  # the edge of 2 is skipped
    assert [(m.ticker, m.status) for m in second.markets] == [("B", MarketStatus.CLOSED)]
    assert second.gone == ["C"] and not second.settlements
    assert [(s.ticker, s.result) for s in third.settlements] == [("B", Side.NO)]
    assert not third.markets and not third.gone


async def test_a_crash_in_the_first_poll_of_a_day_keeps_the_numbering_of_the_day_before(
    tmp_path: Path,
) -> None:
    settings = paper_settings(tmp_path)
    clock = SteppingClock(START + timedelta(hours=23, minutes=30))
    out = tmp_path / "rec"
    await record_paper(out, settings, clock, polls=2)  # 23:30 and 23:45 on March 2
    torn = gzip.compress(b'{"kind":"poll","seq":3,"at":"2026-03-03T00:00:00Z","full":true}\n')
    (out / ("2026-03-03" + DAY_SUFFIX)).write_bytes(torn[:10])
    clock.now = START + timedelta(days=1, minutes=1)
    await record_paper(out, settings, clock, polls=1)
    polls = list(Recording.open(out).polls())
    assert [p.seq for p in polls] == [1, 2, 3]
    assert polls[2].at == START + timedelta(days=1, minutes=1) and polls[2].full
