from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from director.models import Side
from director.scanners.feed import JsonlFeed
from tests.builders import NOW


def line(**fields: object) -> str:
    base: dict[str, object] = {
        "market": "KXHEAT",
        "edge": 0.15,
        "confidence": 0.8,
        "expires_in_hours": 2,
    }
    base.update(fields)
    return json.dumps(base) + "\n"


def test_reads_valid_lines_skips_and_counts_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "opps.jsonl"
    path.write_text(
        line()
        + "not json\n"
        + line(market="KXB", confidence=1.5)
        + line(market="KXC", edge="NaN")
        + '["a list"]\n'
        + line(
            market="KXD",
            side="NO",
            source="s2",
            expires_in_hours=None,
            expires_at=(NOW + timedelta(hours=1)).isoformat(),
        )
    )
    feed = JsonlFeed(path)
    found = feed.read(NOW)
    assert [(o.market, o.side) for o in found] == [("KXD", Side.NO), ("KXHEAT", Side.YES)]
    assert found[1].edge == Decimal("0.15") and found[1].source == "opps"
    assert feed.stats.bad_lines == 4 and feed.stats.lines == 6


def test_freshest_line_per_market_wins_and_expired_drop(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(line(edge=0.11) + line(edge=0.22) + line(market="KXOLD", expires_in_hours=0.5))
    feed = JsonlFeed(path)
    assert {o.market: o.edge for o in feed.read(NOW)} == {
        "KXHEAT": Decimal("0.22"),
        "KXOLD": Decimal("0.5") * 0 + Decimal("0.15"),
    }
    with path.open("a") as handle:
        handle.write(line(edge=0.33))
    later = feed.read(NOW + timedelta(hours=1))
    assert [(o.market, o.edge) for o in later] == [("KXHEAT", Decimal("0.33"))]


def test_partial_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    text = line()
    path.write_text(text[:10])
    feed = JsonlFeed(path)
    assert feed.read(NOW) == [] and feed.stats.bad_lines == 0
    with path.open("a") as handle:
        handle.write(text[10:])
    assert len(feed.read(NOW)) == 1 and feed.stats.bad_lines == 0


def test_folder_of_files_and_rotation(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(line(market="KXA"))
    (tmp_path / "b.jsonl").write_text(line(market="KXB"))
    (tmp_path / "ignored.txt").write_text(line(market="KXZ"))
    feed = JsonlFeed(tmp_path)
    assert [o.market for o in feed.read(NOW)] == ["KXA", "KXB"]
    # A log rotator writes a new file and renames it over the old one (a new inode).
    (tmp_path / "a.new").write_text(line(market="KXA2"))
    (tmp_path / "a.new").replace(tmp_path / "a.jsonl")
    assert "KXA2" in [o.market for o in feed.read(NOW)]
    # A truncated file is read again from its start.
    (tmp_path / "b.jsonl").write_text(line(market="K3"))
    assert "K3" in [o.market for o in feed.read(NOW)]


def test_missing_feed_raises_so_health_shows_it(tmp_path: Path) -> None:
    feed = JsonlFeed(tmp_path / "nope.jsonl")
    try:
        feed.read(NOW)
    except FileNotFoundError as exc:
        assert "does not exist" in str(exc)
    else:
        raise AssertionError("expected FileNotFoundError")
