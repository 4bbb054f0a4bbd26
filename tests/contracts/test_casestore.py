"""The contract of `PartitionCaseStore`, run against every implementation: `casestore.PartitionStore`
(SQLite, one file per partition)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fengqiao.streams.casestore import TRAIN_ON, PartitionStore, Snapshot
from fengqiao.streams.stores import PartitionCaseStore

T0 = datetime(2026, 12, 1, tzinfo=UTC)
SNAP = Snapshot(10, b"h" * 32, "code-1")

Reopen = Callable[[PartitionCaseStore], PartitionCaseStore]


def case(n: int, **more: Any) -> dict[str, Any]:
    return {"case_id": f"XS-{n:05d}", "workflow": "release", "facts": {"name": "王建国", "n": n}, **more}


def rows(ns: range, due: datetime | None = T0) -> list[tuple[str, dict[str, Any], datetime | None]]:
    return [(f"XS-{n:05d}", case(n), due and due + timedelta(hours=n)) for n in ns]


class PartitionCaseStoreContract:
    """What the worker's `casestore.CaseStore` and `processor` rely on. Subclasses give ``store``
    (an empty partition) and ``reopen``."""

    def test_an_empty_partition(self, store: PartitionCaseStore) -> None:
        assert store.snapshot() is None and store.get("XS-00001") is None and store.meta("tally") is None
        assert store.count() == 0 and list(store.cases()) == [] and store.due(T0) == []

    def test_cases_come_back_equal_with_their_snapshot(self, store: PartitionCaseStore) -> None:
        store.write(rows(range(3)), SNAP)
        assert store.snapshot() == SNAP and store.count() == 3
        assert store.get("XS-00001") == case(1) and store.get("XS-99999") is None

    def test_a_case_written_again_is_replaced_and_others_stay(self, store: PartitionCaseStore) -> None:
        store.write(rows(range(3)), SNAP)
        store.write([("XS-00001", case(1, closed=True), None)], Snapshot(11, None, "code-1"))
        assert store.get("XS-00001") == case(1, closed=True) and store.get("XS-00002") == case(2)
        assert store.count() == 3 and store.snapshot() == Snapshot(11, None, "code-1")
        assert "XS-00001" not in store.due(T0 + timedelta(days=1))  # its due went with it

    def test_due_is_at_or_before_the_instant(self, store: PartitionCaseStore) -> None:
        store.write([*rows(range(4)), ("XS-NONE", case(9), None)], SNAP)
        assert sorted(store.due(T0 + timedelta(hours=2))) == ["XS-00000", "XS-00001", "XS-00002"]
        assert store.due(T0 - timedelta(seconds=1)) == []
        assert "XS-NONE" not in store.due(T0 + timedelta(days=365))

    def test_cases_lists_every_case_by_id(self, store: PartitionCaseStore) -> None:
        n = TRAIN_ON * 2 + 3  # past the point where the SQLite store packs its cases
        store.write(rows(range(n - 1, -1, -1)), SNAP)
        listed = list(store.cases())
        assert [c["case_id"] for c in listed] == [f"XS-{i:05d}" for i in range(n)]
        assert listed[5] == case(5)

    def test_meta_is_kept_until_written_again(self, store: PartitionCaseStore) -> None:
        store.write(rows(range(1)), SNAP, {"tally": b"\x01\x02"})
        store.write([], Snapshot(12, None, "code-1"))
        assert store.meta("tally") == b"\x01\x02" and store.meta("other") is None
        store.write([], Snapshot(13, None, "code-1"), {"tally": b"\x03"})
        assert store.meta("tally") == b"\x03"

    def test_a_failed_write_stores_nothing(self, store: PartitionCaseStore) -> None:
        store.write(rows(range(2)), SNAP)
        with pytest.raises(TypeError):  # the case cannot be encoded
            store.write([("XS-00005", {"bad": object()}, None), *rows(range(2, 3))], Snapshot(20, None, "x"))
        assert store.snapshot() == SNAP and store.count() == 2 and store.get("XS-00002") is None

    def test_clear_forgets_cases_snapshot_and_meta(self, store: PartitionCaseStore) -> None:
        store.write(rows(range(3)), SNAP, {"tally": b"1"})
        store.clear()
        assert store.snapshot() is None and store.count() == 0 and store.meta("tally") is None
        store.write(rows(range(1)), SNAP)
        assert store.get("XS-00000") == case(0)

    def test_everything_outlives_a_restart(self, store: PartitionCaseStore, reopen: Reopen) -> None:
        store.write(rows(range(TRAIN_ON + 5)), SNAP, {"tally": b"7"})
        again = reopen(store)
        assert again.snapshot() == SNAP and again.meta("tally") == b"7" and again.count() == TRAIN_ON + 5
        assert again.get("XS-00003") == case(3) and len(again.due(T0 + timedelta(hours=3))) == 4


class TestPartitionStoreSQLite(PartitionCaseStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[PartitionCaseStore]:
        made: PartitionCaseStore = PartitionStore(tmp_path / "fq.release.0.db")  # the static check
        assert isinstance(made, PartitionCaseStore)
        yield made
        made.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Iterator[Reopen]:
        opened: list[PartitionCaseStore] = []

        def again(store: PartitionCaseStore) -> PartitionCaseStore:
            store.close()
            opened.append(PartitionStore(tmp_path / "fq.release.0.db"))
            return opened[-1]

        yield again
        for s in opened:
            s.close()
