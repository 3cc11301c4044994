from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from director.models import Market, MarketStatus, PlaceOrder, PlaceOrderDetails, Side
from director.review import Reviewer
from director.review_suggestion import (
    RuleTextChange,
    Suggestion,
    ThresholdChange,
    apply_suggestion,
    rules_diff,
)
from director.rulebook import DEFAULT_RULESET
from director.store import ActionStatus, Store
from tests.builders import NOW, D, finished_cycle, market, opportunity, state
from tests.fakes import FakeExchange


async def seed_history(
    store: Store, *, band_wins: float, above_wins: float, seed: int, top_wins: float | None = None
) -> FakeExchange:
    """40 cycles, each seeing one opportunity with edge in (0.05, 0.10] (filtered out by the
    default rules) and one with edge in (0.10, 0.20) (taken). Markets then settle: the first
    kind wins with probability `band_wins`, the second with `above_wins` (or, for edges above
    0.15, `top_wins` when given)."""
    rng = random.Random(seed)
    settled: list[Market] = []
    for i in range(40):
        when = NOW + timedelta(minutes=15 * i)
        low, high = f"KXLOW-{i}", f"KXHIGH-{i}"
        opps = [
            opportunity(low, edge=f"0.0{rng.randint(6, 9)}", confidence="0.8"),
            opportunity(high, edge=f"0.1{rng.randint(1, 9)}", confidence="0.8"),
        ]
        s = state(opportunities=opps).model_copy(update={"timestamp": when})
        cycle = await store.start_cycle(when, "schedule")
        await store.finish_cycle(cycle, finished_cycle(cycle, when, trigger="schedule"), s)
        action = PlaceOrder(
            details=PlaceOrderDetails(market=high, side=Side.YES, price=D("0.42"), quantity=10)
        )
        action_id = await store.add_action(
            cycle_id=cycle,
            idx=0,
            kind="place_order",
            market=high,
            action_json=action.model_dump_json(),
            verdict="allowed",
            reason="ok",
            status=ActionStatus.EXECUTED,
            client_order_id=f"c{i}",
            now=when,
        )
        await store.update_action(
            action_id,
            status=ActionStatus.EXECUTED,
            now=when,
            outcome={"order_id": f"o{i}", "filled": 10, "price": "0.42"},
        )
        high_wins = above_wins
        if top_wins is not None and opps[1].edge > D("0.15"):
            high_wins = top_wins
        for ticker, p in ((low, band_wins), (high, high_wins)):
            result = Side.YES if rng.random() < p else Side.NO
            settled.append(
                market(ticker).model_copy(update={"status": MarketStatus.SETTLED, "result": result})
            )
    return FakeExchange(markets=settled)


async def test_statistical_review_proposes_the_change_history_supports(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    exchange = await seed_history(store, band_wins=0.8, above_wins=0.5, seed=3)
    reviewer = Reviewer(store, exchange, sample=200, clock=lambda: NOW + timedelta(days=3))
    report = await reviewer.run("manual")
    assert report.sample_size == 80 and report.settled == 80 and report.taken == 40
    assert report.suggestion is not None
    change = report.suggestion.threshold_change
    assert change is not None and change.name == "min_edge" and change.new_value == D("0.05")
    assert len(report.suggestion.evidence) == 40
    assert all(key.startswith("c") and "KXLOW" in key for key in report.suggestion.evidence)

    decision = await reviewer.decide(report.review_id, "alice", apply=True)
    assert decision.ok and decision.new_version == 2
    rules = await store.active_rules()
    assert rules.thresholds.min_edge == D("0.05") and "review #1" in rules.note
    assert "edge > 0.05" in rules.rendered()[1]
    again = await reviewer.decide(report.review_id, "bob", apply=False)
    assert not again.ok and "Already applied by alice" in again.message
    await store.close()


async def test_losing_band_above_the_threshold_raises_it(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    exchange = await seed_history(store, band_wins=0.3, above_wins=0.1, top_wins=0.9, seed=5)
    report = await Reviewer(store, exchange, sample=200, clock=lambda: NOW).run("manual")
    assert report.suggestion is not None and report.suggestion.threshold_change is not None
    assert report.suggestion.threshold_change.new_value == D("0.15")
    await store.close()


async def test_no_evidence_no_change_and_dismiss_changes_nothing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    empty = await Reviewer(store, FakeExchange(), sample=50, clock=lambda: NOW).run("manual")
    assert empty.suggestion is None and empty.status == "no_change"
    exchange = await seed_history(store, band_wins=0.8, above_wins=0.5, seed=3)
    reviewer = Reviewer(store, exchange, sample=200, clock=lambda: NOW)
    report = await reviewer.run("schedule")
    decision = await reviewer.decide(report.review_id, "alice", apply=False)
    assert decision.ok and "unchanged" in decision.message
    assert (await store.active_rules()).version == 1
    await store.close()


async def test_rollback_is_a_new_version(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    exchange = FakeExchange()
    reviewer = Reviewer(store, exchange, sample=50, clock=lambda: NOW)
    v1 = await store.active_rules()
    texts, thresholds = apply_suggestion(
        v1,
        Suggestion(
            summary="stricter",
            threshold_change=ThresholdChange(name="min_confidence", new_value=Decimal("0.8")),
            rationale="because",
        ),
    )
    v2 = await store.add_rules_version(texts, thresholds, note="x", source="test")
    assert any("min_confidence" in line for line in rules_diff(v1, v2))
    v3 = await reviewer.rollback(1, "alice")
    assert v3.version == 3 and v3.thresholds == DEFAULT_RULESET.thresholds
    assert "rollback to v1" in v3.note
    await store.close()


def test_a_suggestion_must_change_something_and_stay_in_range() -> None:
    with pytest.raises(ValidationError):
        Suggestion(summary="nothing", rationale="none")
    bad = Suggestion(
        summary="too far",
        threshold_change=ThresholdChange(name="min_confidence", new_value=Decimal("1.5")),
        rationale="because",
    )
    with pytest.raises(ValueError, match="out of range"):
        apply_suggestion(DEFAULT_RULESET, bad)


async def test_a_review_made_under_older_rules_is_superseded_not_applied(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    exchange = await seed_history(store, band_wins=0.8, above_wins=0.5, seed=3)
    reviewer = Reviewer(store, exchange, sample=200, clock=lambda: NOW)
    report = await reviewer.run("manual")
    v1 = await store.active_rules()
    await store.add_rules_version(v1.rules, v1.thresholds, note="operator edit", source="test")

    decision = await reviewer.decide(report.review_id, "alice", apply=True)
    assert not decision.ok and "rules changed since this review (v1 → v2)" in decision.message
    assert (await store.active_rules()).version == 2
    record = await store.review(report.review_id)
    assert record is not None and record.status == "superseded" and record.decided_by == "alice"
    late = await reviewer.decide(report.review_id, "bob", apply=True)
    assert not late.ok and late.message == "Already superseded by alice."
    await store.close()


async def test_a_new_review_supersedes_the_undecided_one(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    exchange = await seed_history(store, band_wins=0.8, above_wins=0.5, seed=3)
    reviewer = Reviewer(store, exchange, sample=200, clock=lambda: NOW)
    first = await reviewer.run("manual")
    second = await reviewer.run("schedule")
    assert first.status == second.status == "pending"
    old = await store.review(first.review_id)
    assert old is not None and old.status == "superseded"
    stale = await reviewer.decide(first.review_id, "alice", apply=True)
    assert not stale.ok and stale.message == "Already superseded."
    assert (await reviewer.decide(second.review_id, "alice", apply=True)).ok
    await store.close()


async def test_an_apply_that_cannot_apply_settles_as_failed(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    reviewer = Reviewer(store, FakeExchange(), sample=50, clock=lambda: NOW)
    impossible = Suggestion(
        summary="Sharpen rule 9",
        rule_change=RuleTextChange(op="replace", rule_number=9, text="There is no rule 9."),
        rationale="test",
    )
    review_id = await store.add_review(
        now=NOW,
        trigger="manual",
        source="test",
        rules_version=1,
        report={},
        suggestion=impossible.model_dump(mode="json"),
        status="pending",
    )
    decision = await reviewer.decide(review_id, "alice", apply=True)
    assert not decision.ok and decision.message.startswith("Could not apply: there is no rule 9")
    record = await store.review(review_id)
    assert record is not None and record.status == "failed" and record.decided_by == "alice"
    assert (await store.active_rules()).version == 1
    await store.close()
