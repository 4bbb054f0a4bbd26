"""The worker's case store: every case of a partition on disk with the snapshot offset it includes, a
bounded number in memory; what goes in comes out equal, a seal is written whole or not at all, and the
timer asks the due index rather than every case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fengqiao.streams import casestore
from fengqiao.streams.casestore import CaseCodec, CaseStore, PartitionStore, Snapshot

P = ("fengqiao.release", 0)
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _case(n: int) -> dict:
    return {
        "case_id": f"XS-2026-{n:05d}",
        "workflow": "release",
        "version": n % 7,
        "events": [
            {"id": f"e-{n}-{i}", "type": "ReleaseNoticeIssued", "source": "zj-prison-2"} for i in range(5)
        ],
        "facts": {"ReleaseNoticeIssued": {"person": {"name": "张三", "id_number": None}, "n": n}},
        "handoffs": {f"h-{n}": {"state": "assigned", "deadline": {"due": "2026-12-05T00:00:00Z"}}},
        "closed_at": None,
    }


def _fill(store: CaseStore, n: int, offset: int = 0) -> None:
    for i in range(n):
        store.put(f"XS-2026-{i:05d}", P, _case(i), T0 + timedelta(days=i), fresh=True)
    seal = store.seal({P: offset + n}, {})
    store.write(seal, {P: b"h"}, "code")
    store.written(seal)


def test_cases_come_back_equal_from_memory_and_disk(tmp_path: Path) -> None:
    store = CaseStore(tmp_path, hot_limit=10)
    store.open(P)
    _fill(store, 300)
    assert len(store) == 300 and len(store.hot) == 10 and not store.pinned, "bounded in memory"
    for i in range(300):
        assert store.get(f"XS-2026-{i:05d}", P) == _case(i)
    store.close()
    again = CaseStore(tmp_path, hot_limit=10)
    again.open(P)
    assert len(again) == 300 and again.stores[P].snapshot() == Snapshot(300, b"h", "code")
    assert again.get("XS-2026-00123") == _case(123), "found without naming the partition"
    assert sorted(c["case_id"] for c in again.values()) == [f"XS-2026-{i:05d}" for i in range(300)]


def test_stored_cases_are_packed_against_the_partition_dictionary(tmp_path: Path) -> None:
    store = CaseStore(tmp_path)
    store.open(P)
    _fill(store, casestore.TRAIN_ON * 3)
    ps = store.stores[P]
    bodies = [b for (b,) in ps.db.execute("SELECT body FROM cases")]
    assert all(b[:1] == casestore.PACKED for b in bodies), "plain cases packed once the dictionary is made"
    plain = len(CaseCodec().plain(_case(1)))
    assert sum(map(len, bodies)) / len(bodies) < plain / 3


def test_changed_cases_stay_in_memory_until_their_seal_is_written(tmp_path: Path) -> None:
    store = CaseStore(tmp_path, hot_limit=0)
    store.open(P)
    _fill(store, 5)
    changed = {**_case(1), "version": 99}
    store.put("XS-2026-00001", P, changed, None, fresh=False)
    seal = store.seal({P: 6}, {P: 5})
    assert store.get("XS-2026-00001") == changed, "sealed, not written: still the changed case"
    assert store.stores[P].get("XS-2026-00001") == _case(1), "disk holds the snapshot's state"
    newer = {**changed, "version": 100}
    store.put("XS-2026-00001", P, newer, None, fresh=False)  # changed again before the write
    store.write(seal, {P: b"h6"}, "code")
    store.written(seal)
    assert store.get("XS-2026-00001") == newer and store.dirty() == 1, "the newer change waits for its seal"
    assert store.stores[P].snapshot() == Snapshot(6, b"h6", "code")


def test_a_failed_write_leaves_the_previous_snapshot_whole(tmp_path: Path, monkeypatch) -> None:
    ps = PartitionStore(tmp_path / "p.db")
    ps.write([("a", _case(1), None)], Snapshot(10, b"h10", "code"))

    class Boom(Exception):
        pass

    def broken(case: dict) -> bytes:
        raise Boom

    monkeypatch.setattr(ps.codec, "encode", broken)
    with pytest.raises(Boom):
        ps.write([("a", _case(2), None), ("b", _case(3), None)], Snapshot(20, b"h20", "code"))
    monkeypatch.undo()
    assert ps.snapshot() == Snapshot(10, b"h10", "code") and ps.get("a") == _case(1) and ps.get("b") is None


def test_the_timer_asks_the_due_index_and_changed_cases_override_it(tmp_path: Path) -> None:
    store = CaseStore(tmp_path)
    store.open(P)
    _fill(store, 50)  # case i is due at T0 + i days
    due = {cid for cid, _ in store.due(T0 + timedelta(days=2, hours=1))}
    assert due == {"XS-2026-00000", "XS-2026-00001", "XS-2026-00002"}
    store.put("XS-2026-00001", P, _case(1), None, fresh=False)  # nothing due any more
    store.put("XS-2026-00040", P, _case(40), T0, fresh=False)  # due at once
    due = {cid for cid, _ in store.due(T0 + timedelta(days=2, hours=1))}
    assert due == {"XS-2026-00000", "XS-2026-00002", "XS-2026-00040"}
    plan = " ".join(
        str(r)
        for r in store.stores[P].db.execute("EXPLAIN QUERY PLAN SELECT case_id FROM cases WHERE due <= 1")
    )
    assert "cases_due" in plan, "a pass reads the index, not every case"


def test_a_dropped_partition_leaves_memory_and_clear_forgets_it(tmp_path: Path) -> None:
    store = CaseStore(tmp_path)
    store.open(P)
    _fill(store, 20)
    store.put("XS-2026-99999", P, _case(99999), None, fresh=True)
    store.drop(P)
    assert not store.hot and not store.pinned and store.get("XS-2026-00001") is None
    store.open(P)
    assert len(store) == 20, "the file stays for the partition's next holder; the unsealed case is gone"
    store.clear(P)
    assert len(store) == 0 and store.stores[P].snapshot() is None
