from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from director.models import Autonomy
from director.rulebook import Thresholds
from director.store import ActionStatus, ApprovalStatus, Store, StoreError
from tests.builders import NOW, D, finished_cycle, market
from tests.builders import state as sotu


async def test_refuses_a_file_that_is_not_sqlite_and_leaves_it_alone(tmp_path: Path) -> None:
    path = tmp_path / "omega.db"
    path.write_text("my precious notes\n")
    with pytest.raises(StoreError, match="not an SQLite database"):
        await Store.open(path)
    assert path.read_text() == "my precious notes\n"


async def test_operator_state_survives_a_restart(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    install = await store.install_id()
    await store.set_safe_mode(True, "alice")
    await store.set_paused(True, "alice")
    await store.set_autonomy(Autonomy.CONFIRM, "alice")
    await store.close()
    store = await Store.open(tmp_path / "o.db")
    assert (await store.safe_mode(), await store.paused(), await store.autonomy()) == (
        True,
        True,
        Autonomy.CONFIRM,
    )
    assert await store.install_id() == install
    await store.close()


async def test_rules_versions(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    first = await store.active_rules()
    assert first.version == 1 and len(first.rules) == 4
    second = await store.add_rules_version(
        first.rules, Thresholds(min_edge=D("0.12")), note="tighter", source="review"
    )
    assert second.version == 2 and second.thresholds.min_edge == D("0.12")
    assert [r.version for r in await store.rules_history()] == [1, 2]
    await store.close()


async def _approval(store: Store) -> int:
    cycle = await store.start_cycle(NOW, "test")
    action = await store.add_action(
        cycle_id=cycle,
        idx=0,
        kind="place_order",
        market="KXA",
        action_json="{}",
        verdict="needs_approval",
        reason="confirm",
        status=ActionStatus.AWAITING_APPROVAL,
        client_order_id="c",
        now=NOW,
    )
    record = await store.create_approval(
        action_id=action, cycle_id=cycle, now=NOW, expires_at=NOW + timedelta(minutes=15)
    )
    return record.id


async def test_an_approval_is_claimed_once(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    approval = await _approval(store)
    first = await store.claim_approval(approval, to=ApprovalStatus.EXECUTING, by="a", now=NOW)
    second = await store.claim_approval(approval, to=ApprovalStatus.REJECTED, by="b", now=NOW)
    assert (first, second) == (True, False)
    record = await store.approval(approval)
    assert record is not None and record.decided_by == "a"
    await store.close()


async def test_expiry(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    approval = await _approval(store)
    late = NOW + timedelta(minutes=16)
    assert not await store.claim_approval(approval, to=ApprovalStatus.EXECUTING, by="a", now=late)
    expired = await store.expire_approvals(late)
    assert [e.id for e in expired] == [approval]
    record = await store.approval(approval)
    assert record is not None and record.status is ApprovalStatus.EXPIRED
    action = await store.action(record.action_id)
    assert action is not None and action.status == "expired"
    await store.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "o.db")
    await store.conn.execute("PRAGMA user_version = 999")
    await store.close()
    with pytest.raises(StoreError, match="newer than this program"):
        await Store.open(tmp_path / "o.db")


async def test_concurrent_transactions_and_writes_never_mix(tmp_path: Path) -> None:
    import asyncio

    store = await Store.open(tmp_path / "o.db")
    rules = await store.active_rules()
    results = await asyncio.gather(
        *[
            store.add_rules_version(rules.rules, Thresholds(), note=f"n{i}", source="t")
            for i in range(5)
        ],
        *[store.set_flag(f"k{i}", "v") for i in range(5)],
    )
    versions = sorted(r.version for r in results if r is not None)
    assert versions == [2, 3, 4, 5, 6]
    assert [v.version for v in await store.rules_history()] == [1, 2, 3, 4, 5, 6]
    assert all([await store.get_flag(f"k{i}") == "v" for i in range(5)])
    await store.close()


async def test_order_intents_keep_the_newest_and_update_in_place(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    store = await Store.open(tmp_path / "o.db")
    start = datetime(2026, 3, 2, tzinfo=UTC)
    for i in range(5):
        for key in (f"c{i}", f"o{i}"):
            await store.save_order_intent(key, "yes", "sell", start + timedelta(i))
    await store.save_order_intent("c0", "no", "sell", start + timedelta(9))
    assert await store.recent_order_intents(3) == [
        ("c4", "yes", "sell"),
        ("o4", "yes", "sell"),
        ("c0", "no", "sell"),
    ]
    await store.close()


async def test_cycle_states_are_stored_compressed_and_old_text_ones_still_read(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    store = await Store.open(tmp_path / "o.db")
    now = datetime(2026, 3, 2, tzinfo=UTC)
    state = sotu(markets=[market(f"KX{i}", bid="0.41", ask="0.43") for i in range(500)])
    text = state.model_dump_json()
    packed = await store.start_cycle(now, "manual")
    await store.finish_cycle(packed, finished_cycle(packed, now), state)
    legacy = await store.start_cycle(now, "manual")
    await store.finish_cycle(legacy, finished_cycle(legacy, now), None)
    await store.conn.execute("UPDATE cycles SET state_json = ? WHERE id = ?", (text, legacy))

    [(raw,)] = await store.fetch("SELECT state_json FROM cycles WHERE id = ?", (packed,))
    assert isinstance(raw, bytes) and len(raw) * 5 < len(text)
    for cycle_id in (packed, legacy):
        record = await store.cycle(cycle_id)
        assert record is not None and record.state == state
    await store.close()


async def test_pending_approvals_come_with_their_actions_in_one_read(tmp_path: Path) -> None:
    from director.models import DoNothing

    store = await Store.open(tmp_path / "o.db")
    first, second = await _approval(store), await _approval(store)
    await store.claim_approval(first, to=ApprovalStatus.REJECTED, by="a", now=NOW)
    [(approval, action)] = await store.pending_approvals_with_actions()
    assert approval == await store.approval(second)
    assert action == await store.action(approval.action_id)
    # The stored "{}" is no action: it reads as None, its text kept for showing.
    assert action.action is None and action.action_json == "{}"
    await store.execute(
        "UPDATE actions SET action_json = ? WHERE id = ?",
        (DoNothing().model_dump_json(), action.id),
    )
    [(_, readable)] = await store.pending_approvals_with_actions()
    assert readable.action == DoNothing()
    await store.close()
