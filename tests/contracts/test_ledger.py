"""The contract of `LedgerStore`, run against every implementation: `ledger.Ledger` on SQLite and on
PostgreSQL (skipped with the reason when no server answers).

The tamper-evidence cases (SQL straight on the tables) stay in `tests/unit/test_ledger.py`: they test
this implementation's tables, not the interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from fengqiao.schemas.envelope import Envelope
from fengqiao.streams.crypto import Sha256Ed25519
from fengqiao.streams.ledger import Ledger, LedgerConflict, LedgerOrderError, LedgerRecord
from fengqiao.streams.stores import LedgerStore

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
RELEASE, UPDATES = "fq.release", "fq.updates"


def rec(
    topic: str, partition: int, offset: int, case: str = "XS-1", value: bytes | None = None
) -> LedgerRecord:
    """The record at a position, the same each call (a resend from Kafka)."""
    e = Envelope(
        id=f"{topic}-{partition}-{offset}",
        source="court-qs",
        type="ReleaseNoticeIssued",
        subject=case,
        time=T0 + timedelta(minutes=offset),
        correlationid=case,
    )
    return LedgerRecord.from_kafka(
        topic,
        partition,
        offset,
        case.encode(),
        value if value is not None else f"v{offset}".encode(),
        e.to_headers(),
        int((T0 + timedelta(minutes=offset)).timestamp() * 1000),
    )


def chain(topic: str, partition: int, offsets: range, case: str = "XS-1") -> list[LedgerRecord]:
    return [rec(topic, partition, o, case) for o in offsets]


class LedgerContract:
    """What the archiver, workers, replay, audit and the connector runtime rely on.
    Subclasses give ``store``: an empty ledger with a signing suite."""

    @pytest.fixture
    def three(self, store: LedgerStore) -> LedgerStore:
        """Three chains: fq.release/0 offsets 0..9 (XS-1), fq.release/1 0..4 (XS-2), fq.updates/0 0..2."""
        store.append(
            chain(RELEASE, 0, range(10)) + chain(RELEASE, 1, range(5), "XS-2") + chain(UPDATES, 0, range(3))
        )
        return store

    def test_an_empty_ledger(self, store: LedgerStore) -> None:
        assert store.positions() == {} and store.count() == 0 and list(store.read()) == []
        assert store.append([]) == 0
        assert not store.has(RELEASE, 0, 0) and store.hash_at(RELEASE, 0, 0) is None
        assert store.last_checkpoint() is None and store.maybe_checkpoint(1, 0) is None
        assert store.verify().ok

    def test_append_counts_what_is_new_and_positions_follow(self, three: LedgerStore) -> None:
        assert three.positions() == {(RELEASE, 0): 9, (RELEASE, 1): 4, (UPDATES, 0): 2}
        assert three.count() == 18
        assert three.has(RELEASE, 1, 4) and not three.has(RELEASE, 1, 5)
        assert three.append(chain(RELEASE, 0, range(8, 12))) == 2  # 8, 9 stored already

    def test_appending_the_same_records_again_stores_nothing(self, three: LedgerStore) -> None:
        assert three.append(chain(RELEASE, 0, range(10))) == 0
        assert three.count() == 18

    def test_other_content_at_a_stored_position_is_a_conflict(self, three: LedgerStore) -> None:
        with pytest.raises(LedgerConflict):
            three.append([rec(UPDATES, 0, 3), rec(RELEASE, 0, 4, value=b"forged")])
        assert three.positions()[(UPDATES, 0)] == 2  # nothing of the batch was stored

    def test_offsets_must_increase_within_a_batch(self, store: LedgerStore) -> None:
        with pytest.raises(LedgerOrderError):
            store.append([rec(RELEASE, 0, 1), rec(RELEASE, 0, 0)])
        assert store.count() == 0

    def test_gaps_are_allowed_but_never_filled_later(self, store: LedgerStore) -> None:
        assert store.append([rec(RELEASE, 0, 0), rec(RELEASE, 0, 1), rec(RELEASE, 0, 5)]) == 3  # compaction
        with pytest.raises(LedgerOrderError):
            store.append([rec(RELEASE, 0, 3)])
        assert store.positions() == {(RELEASE, 0): 5} and not store.has(RELEASE, 0, 3)

    def test_records_chain_by_hash(self, three: LedgerStore) -> None:
        got = [r for r in three.read(topics=[RELEASE]) if r.partition == 0]
        assert [r.offset for r in got] == list(range(10))
        assert got[0].prev_offset == -1
        for before, after in pairwise(got):
            assert after.prev_hash == before.hash and after.prev_offset == before.offset
        assert three.hash_at(RELEASE, 0, 9) == got[-1].hash

    def test_read_is_in_append_order_and_filters(self, three: LedgerStore) -> None:
        three.append([rec(RELEASE, 0, 10)])
        everything = list(three.read(batch=4))
        assert len(everything) == 19 and everything[-1].offset == 10
        ids = [r.id for r in everything]
        assert ids == sorted(ids) and len(set(ids)) == 19
        assert {(r.topic, r.partition) for r in three.read(topics=[UPDATES])} == {(UPDATES, 0)}
        assert {r.case_id for r in three.read(case_id="XS-2")} == {"XS-2"}
        assert three.count(case_id="XS-2") == 5 and three.count(topics=[UPDATES]) == 3
        after = everything[15].id
        assert after is not None
        assert [r.id for r in three.read(after_id=after)] == ids[16:]
        assert three.count(after_id=after) == 3
        assert list(three.read(until=T0 - timedelta(days=1))) == []  # recorded_at is the append's instant

    def test_records_come_back_as_they_went_in(self, store: LedgerStore) -> None:
        sent = rec(RELEASE, 0, 0)
        store.append([sent])
        (got,) = store.read()
        assert (got.key, got.value, got.headers, got.timestamp_ms) == (
            sent.key,
            sent.value,
            sent.headers,
            sent.timestamp_ms,
        )
        assert got.event_id == sent.event_id and got.case_id == "XS-1" and got.recorded_at is not None

    def test_scan_gives_the_columns_then_the_id(self, three: LedgerStore) -> None:
        rows = [r for batch in three.scan(["topic", "partition", "offset"], batch=7) for r in batch]
        assert [r[:3] for r in rows] == [(r.topic, r.partition, r.offset) for r in three.read()]
        assert [r[3] for r in rows] == [r.id for r in three.read()]
        odd = [r for batch in three.scan(["partition"], shard=(1, 2)) for r in batch]
        assert {r[0] for r in odd} == {1} and len(odd) == 5
        with pytest.raises(ValueError):
            next(three.scan(["recorded_at"]))

    def test_partition_rows_is_one_range_in_offset_order(self, three: LedgerStore) -> None:
        batches = list(three.partition_rows(RELEASE, 0, 2, 7, batch=4))
        assert [len(b) for b in batches] == [4, 2]
        assert [r[0] for b in batches for r in b] == list(range(2, 8))
        assert batches[0][0][1:3] == (b"XS-1", b"v2")
        assert list(three.partition_rows(RELEASE, 0, 20, 30)) == []

    def test_find_event_gives_the_first_and_none_when_unknown(self, three: LedgerStore) -> None:
        first = next(iter(three.read(topics=[RELEASE])))
        found = three.find_event(first.event_id or "")
        assert found is not None and (found.topic, found.partition, found.offset) == (RELEASE, 0, 0)
        assert three.find_event("nope") is None

    def test_checkpoints_sign_the_heads_and_verify(self, three: LedgerStore) -> None:
        cp = three.checkpoint()
        assert {k: h.offset for k, h in cp.heads.items()} == three.positions()
        assert three.last_checkpoint() == cp
        assert three.maybe_checkpoint(1, 0) is None  # nothing new: never re-signed
        three.append([rec(RELEASE, 0, 10)])
        assert three.maybe_checkpoint(100, 3600) is None  # too few, too soon
        nxt = three.maybe_checkpoint(1, 3600)
        assert nxt is not None and nxt.previous and nxt.id != cp.id
        report = three.verify()
        assert report.ok, str(report)
        assert (report.records, report.chains, report.checkpoints) == (19, 3, 2)


def _make(url: str, schema: str | None = None) -> Ledger:
    return Ledger(url, Sha256Ed25519.generate(), schema=schema)


class TestLedgerSQLite(LedgerContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[LedgerStore]:
        made: LedgerStore = _make(f"sqlite:///{tmp_path / 'ledger.db'}")  # the static check
        assert isinstance(made, LedgerStore)
        yield made
        made.close()


class TestLedgerPostgres(LedgerContract):
    @pytest.fixture
    def store(self, pg_schema: tuple[str, str]) -> Iterator[LedgerStore]:
        made: LedgerStore = _make(*pg_schema)
        assert isinstance(made, LedgerStore)
        yield made
        made.close()
