"""A review suggestion comes with its evidence: the suggested rules replayed beside the active."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from director.backtest.acceptance import paired
from director.review import Reviewer, format_review
from director.review_evidence import RecordedEvidence, ReviewEvidence, SimulatedEvidence
from director.rulebook import DEFAULT_RULESET, RuleSet, Thresholds
from director.settings import Settings
from director.store import Store
from tests.builders import NOW, D
from tests.clocks import SteppingClock
from tests.recording_helpers import START, paper_settings, record_paper
from tests.test_review import seed_history

# Hourly cycles: a simulated day is 24 cycles, the same code path in a fraction of the time.
SETTINGS = Settings(_env_file=None, cycle_seconds=3600)


async def test_the_suggested_rules_are_replayed_beside_the_active_ones() -> None:
    evidence = SimulatedEvidence(SETTINGS, seeds=3, max_days=1)
    looser = DEFAULT_RULESET.thresholds.model_copy(
        update={"min_edge": D("0.05"), "min_confidence": D("0.5")}
    )
    found = await evidence(DEFAULT_RULESET, DEFAULT_RULESET.rules, looser, timedelta(days=5))
    assert (found.source, found.days, found.seeds, found.difference.n) == ("simulator", 1, 3, 3)
    # Looser thresholds trade more: the two arms differ on at least one path.
    assert found.active_pnl != found.suggested_pnl
    assert found.verdict in ("helps", "hurts", "no evidence it helps")
    card = found.as_dict()
    assert card["verdict"] == found.verdict and card["difference"]["n"] == 3
    assert "95% CI" in card["summary"] and found.verdict in card["summary"]
    again = await evidence(DEFAULT_RULESET, DEFAULT_RULESET.rules, looser, timedelta(days=5))
    assert again == found  # seeded: the same evidence every time


async def test_a_change_that_changes_nothing_has_no_evidence_it_helps() -> None:
    evidence = SimulatedEvidence(SETTINGS, seeds=2, max_days=1)
    same = DEFAULT_RULESET.thresholds
    found = await evidence(DEFAULT_RULESET, DEFAULT_RULESET.rules, same, timedelta(hours=3))
    assert found.difference.mean == 0 and found.difference.p_value is None
    assert found.verdict == "no evidence it helps"


def test_the_verdict_needs_the_whole_interval_on_one_side() -> None:
    def made(diffs: list[float]) -> ReviewEvidence:
        return ReviewEvidence("simulator", 1, len(diffs), 0.0, 0.0, paired(diffs))

    assert made([5.0, 6.0, 7.0, 5.5]).verdict == "helps"
    assert made([-5.0, -6.0, -7.0, -5.5]).verdict == "hurts"
    assert made([5.0, -6.0, 7.0, -5.5]).verdict == "no evidence it helps"


class Recorded:
    """An evidence source that records what it was asked, and answers or fails."""

    def __init__(self, fail: bool = False) -> None:
        self.asked: list[tuple[RuleSet, Sequence[str], Thresholds, timedelta]] = []
        self.fail = fail

    async def __call__(
        self, active: RuleSet, texts: Sequence[str], thresholds: Thresholds, window: timedelta
    ) -> ReviewEvidence:
        self.asked.append((active, texts, thresholds, window))
        if self.fail:
            raise RuntimeError("simulator unavailable")
        return ReviewEvidence("simulator", 1, 3, 10.0, 12.0, paired([1.0, 2.0, 3.0]))


async def test_the_review_carries_its_evidence_before_apply_is_offered(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    exchange = await seed_history(store, band_wins=0.8, above_wins=0.5, seed=3)
    reviewer = Reviewer(store, exchange, sample=200, clock=lambda: NOW + timedelta(days=3))
    source = Recorded()
    reviewer.evidence = source
    report = await reviewer.run("manual")
    assert report.status == "pending" and report.evidence is not None
    [(active, _, thresholds, window)] = source.asked
    assert active.version == 1 and thresholds.min_edge == D("0.05")  # the suggested change
    assert timedelta(days=2) < window <= timedelta(days=3)  # oldest decision to now
    record = await store.review(report.review_id)
    assert record is not None and record.report["evidence"]["verdict"] == "no evidence it helps"
    assert "no evidence it helps" in format_review(report)
    await store.close()


async def test_failed_evidence_is_said_and_the_review_still_stands(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    exchange = await seed_history(store, band_wins=0.8, above_wins=0.5, seed=3)
    reviewer = Reviewer(store, exchange, sample=200, clock=lambda: NOW + timedelta(days=3))
    reviewer.evidence = Recorded(fail=True)
    report = await reviewer.run("manual")
    assert report.status == "pending" and report.evidence is None
    assert report.evidence_error and "simulator unavailable" in report.evidence_error
    assert "No evidence: evidence could not be computed" in format_review(report)
    await store.close()


async def test_a_recording_is_replayed_day_by_day_when_there_is_one(tmp_path: Path) -> None:
    settings = paper_settings(tmp_path, cycle_seconds=3600)
    clock = SteppingClock(START)
    await record_paper(tmp_path / "rec", settings, clock, polls=3 * 24, every=3600)
    fallback = Recorded()
    evidence = RecordedEvidence(settings, tmp_path / "rec", fallback, lambda: clock.now)
    looser = DEFAULT_RULESET.thresholds.model_copy(
        update={"min_edge": D("0.05"), "min_confidence": D("0.5")}
    )
    found = await evidence(DEFAULT_RULESET, DEFAULT_RULESET.rules, looser, timedelta(days=3))
    assert found.source == "recording rec" and found.difference.n >= 2
    assert not fallback.asked
    # No recording there: the simulator's evidence instead.
    missing = RecordedEvidence(settings, tmp_path / "nothing", fallback, lambda: clock.now)
    instead = await missing(DEFAULT_RULESET, DEFAULT_RULESET.rules, looser, timedelta(days=3))
    assert instead.source == "simulator" and len(fallback.asked) == 1
