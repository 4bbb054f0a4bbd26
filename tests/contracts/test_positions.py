"""The contract of `PositionStore`, run against every implementation: `runtime.Positions` (SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from threading import Thread

import pytest

from fengqiao.connectors.runtime import Positions
from fengqiao.connectors.stores import PositionStore

Reopen = Callable[[PositionStore], PositionStore]  # closes a store and opens its data again (a restart)


class PositionStoreContract:
    """What `runtime.Outbox` and `runtime.SinkRunner` rely on. Subclasses give ``store`` and ``reopen``."""

    def test_a_missing_key_is_none(self, store: PositionStore) -> None:
        assert store.get("offset:fq.release:0") is None

    def test_the_last_put_wins(self, store: PositionStore) -> None:
        store.put("offset:fq.release:0", "5")
        store.put("offset:fq.release:0", "7")
        store.put("offset:fq.release:0", "7")  # the same again: no error, no change
        assert store.get("offset:fq.release:0") == "7"

    def test_keys_are_independent(self, store: PositionStore) -> None:
        store.put("offset:fq.release:0", "1")
        store.put("offset:fq.release:1", "2")
        assert store.get("offset:fq.release:0") == "1" and store.get("offset:fq.release:1") == "2"

    def test_values_keep_their_text(self, store: PositionStore) -> None:
        value = '{"fp": "ab12", "note": "王建国 ✓"}'
        store.put("event:court-qs:1", value)
        assert store.get("event:court-qs:1") == value

    def test_delete_by_prefix_keeps_the_others(self, store: PositionStore) -> None:
        for key in ("offset:a:0", "offset:b:1", "event:s:1"):
            store.put(key, "x")
        store.delete("offset:")
        assert store.get("offset:a:0") is None and store.get("offset:b:1") is None
        assert store.get("event:s:1") == "x"
        store.delete("offset:")  # nothing left to match: no error
        store.delete()
        assert store.get("event:s:1") is None

    def test_a_prefix_is_matched_exactly(self, store: PositionStore) -> None:
        for key in ("offset_x", "offsetAx", "OFFSET_y", "off%set"):
            store.put(key, "x")
        store.delete("offset_")  # neither a wildcard nor blind to case
        assert store.get("offset_x") is None
        assert store.get("offsetAx") == "x" and store.get("OFFSET_y") == "x"
        store.delete("off%")
        assert store.get("off%set") is None and store.get("offsetAx") == "x"

    def test_positions_outlive_a_restart(self, store: PositionStore, reopen: Reopen) -> None:
        store.put("offset:fq.release:0", "42")
        again = reopen(store)
        assert again.get("offset:fq.release:0") == "42"

    def test_threads_may_write_at_once(self, store: PositionStore) -> None:
        def write(n: int) -> None:
            for i in range(50):
                store.put(f"offset:t{n}:{i}", str(i))

        threads = [Thread(target=write, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(store.get(f"offset:t{n}:49") == "49" for n in range(4))


class TestPositionsSQLite(PositionStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[PositionStore]:
        made: PositionStore = Positions(tmp_path / "state")  # the static check: Positions is a PositionStore
        assert isinstance(made, PositionStore)
        yield made
        made.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Iterator[Reopen]:
        opened: list[PositionStore] = []

        def again(store: PositionStore) -> PositionStore:
            store.close()
            opened.append(Positions(tmp_path / "state"))
            return opened[-1]

        yield again
        for s in opened:
            s.close()
