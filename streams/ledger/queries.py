"""The ledger's reads: positions and heads, one partition's rows, records by event, case, topic and
instant, and the raw scans replay runs on. Each batch is its own short query, so a slow reader holds
no transaction open."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select

from .format import _RECORD_COLS, _RECORD_SET, LedgerRecord, _b, _utc, decode_headers
from .tables import _Parts


def _record_maker(table: Table, dialect: Any) -> Callable[[tuple[Any, ...]], LedgerRecord]:
    """Driver rows of `_RECORD_COLS` then id into records, as `Ledger._record` makes them of SQLAlchemy's
    rows; each field set through its slot (the frozen dataclass's own __init__ costs a third of a read)."""
    instant = table.c.recorded_at.type.dialect_impl(dialect).result_processor(dialect, None) or (lambda t: t)
    new, setters = object.__new__, _RECORD_SET
    at = {f: i for i, f in enumerate(LedgerRecord.__slots__)}
    key, value, headers, recorded, event_time = (
        at[f] for f in ("key", "value", "headers", "recorded_at", "event_time")
    )
    prev_hash, hash_ = at["prev_hash"], at["hash"]

    def make(row: tuple[Any, ...]) -> LedgerRecord:
        v = list(row)
        v[key], v[value], v[headers] = _b(v[key]), _b(v[value]), decode_headers(bytes(v[headers]))
        v[recorded] = _utc(instant(v[recorded]))
        if v[event_time] is not None:
            v[event_time] = _utc(instant(v[event_time]))
        v[prev_hash], v[hash_] = bytes(v[prev_hash]), bytes(v[hash_])
        rec = new(LedgerRecord)
        for setter, x in zip(setters, v, strict=True):
            setter(rec, x)
        return rec

    return make


class _Queries(_Parts):
    """`Ledger`'s read methods."""

    def positions(self) -> dict[tuple[str, int], int]:
        """The last offset stored per (topic, partition): where an archiver resumes (+1)."""
        H = self._heads
        with self._engine.connect() as conn:
            return {
                (r.topic, r.partition): r.offset
                for r in conn.execute(select(H.c.topic, H.c.partition, H.c.offset))
            }

    def has(self, topic: str, partition: int, offset: int) -> bool:
        R = self._records
        with self._engine.connect() as conn:
            return (
                conn.execute(
                    select(R.c.id).where(R.c.topic == topic, R.c.partition == partition, R.c.offset == offset)
                ).first()
                is not None
            )

    def hash_at(self, topic: str, partition: int, offset: int) -> bytes | None:
        """The chain hash of the record at a position; None where the ledger holds no such record. What a
        worker's snapshot names as the last record it includes, so a snapshot of another log is refused."""
        R = self._records
        with self._engine.connect() as conn:
            h = conn.execute(
                select(R.c.hash).where(R.c.topic == topic, R.c.partition == partition, R.c.offset == offset)
            ).scalar()
        return None if h is None else bytes(h)

    def partition_rows(
        self, topic: str, partition: int, start: int, end: int, batch: int = 5000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """One partition's records from offset ``start`` to ``end`` (inclusive), in offset order, as
        batches of driver tuples (offset, key, value, headers block, timestamp_ms): how a worker rebuilds
        a partition's cases from the ledger when the topic no longer holds them (retention)."""
        R = self._records
        cols = (R.c.offset, R.c.key, R.c.value, R.c.headers, R.c.timestamp_ms)
        nxt = start
        while nxt <= end:
            with self._engine.connect() as conn:
                result = conn.execute(
                    select(*cols)
                    .where(
                        R.c.topic == topic, R.c.partition == partition, R.c.offset >= nxt, R.c.offset <= end
                    )
                    .order_by(R.c.offset)
                    .limit(batch)
                )
                rows = result.cursor.fetchall()
                result.close()
            if not rows:
                return
            yield rows
            nxt = rows[-1][0] + 1

    def find_event(self, event_id: str) -> LedgerRecord | None:
        """The first record (in append order) carrying CloudEvents id ``event_id``."""
        R = self._records
        with self._engine.connect() as conn:
            row = conn.execute(select(R).where(R.c.event_id == event_id).order_by(R.c.id).limit(1)).first()
        return None if row is None else self._record(row)

    def _filters(
        self,
        topics: Sequence[str] | None,
        case_id: str | None,
        until: datetime | None,
        after_id: int,
        by_id: bool = True,
    ) -> list[Any]:
        R = self._records
        where: list[Any] = []
        if after_id:
            where.append(R.c.id > after_id)
        if topics is not None:
            # In id order, `topic || ''`, not `topic`: given the position index SQLite reads every record of
            # the topics and sorts them by id for each batch; walking the ids and filtering is linear.
            where.append((R.c.topic.concat("") if by_id else R.c.topic).in_(list(topics)))
        if case_id is not None:
            where.append(R.c.case_id == case_id)
        if until is not None:
            where.append(R.c.recorded_at <= _utc(until))
        return where

    def read(
        self,
        *,
        topics: Sequence[str] | None = None,
        case_id: str | None = None,
        until: datetime | None = None,
        after_id: int = 0,
        batch: int = 5000,
    ) -> Iterator[LedgerRecord]:
        """Records in global append order (id), ``until`` by recorded_at (inclusive), ``batch`` at a time.

        Each batch is its own short query, so a slow consumer holds no transaction open.
        """
        R = self._records
        make = _record_maker(R, self._engine.dialect)
        for rows in self._batches(
            [R.c[c] for c in _RECORD_COLS], topics, case_id, until, after_id, None, batch
        ):
            for row in rows:
                yield make(row)

    def scan(
        self,
        columns: Sequence[str],
        *,
        topics: Sequence[str] | None = None,
        case_id: str | None = None,
        until: datetime | None = None,
        shard: tuple[int, int] | None = None,
        batch: int = 20_000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows `read` gives, in the same order, as batches of the driver's own tuples: each row is
        ``columns`` then ``id``. The hot read (replay, benchmarks): no per-row objects, blobs are bytes.

        Only columns the drivers return alike (not the instants, which SQLite keeps as text).
        ``shard=(i, n)`` keeps the partitions ``p % n == i``: a case's records share one partition
        number (Kafka partitions by key), so shards split the cases — see `replay.replay_ledger`.
        """
        R = self._records
        if {"recorded_at", "event_time"} & set(columns):
            raise ValueError("scan returns no instants: SQLite and PostgreSQL drivers give them differently")
        yield from self._batches([R.c[c] for c in columns], topics, case_id, until, 0, shard, batch)

    def _batches(
        self,
        selected: list[Any],
        topics: Sequence[str] | None,
        case_id: str | None,
        until: datetime | None,
        after_id: int,
        shard: tuple[int, int] | None,
        batch: int,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The driver's rows of ``selected`` then ``id``, by id, in short queries of ``batch`` rows."""
        R = self._records
        last = after_id
        while True:
            where = self._filters(topics, case_id, until, last)
            if shard is not None:
                where.append(R.c.partition % shard[1] == shard[0])
            with self._engine.connect() as conn:
                result = conn.execute(select(*selected, R.c.id).where(*where).order_by(R.c.id).limit(batch))
                rows = result.cursor.fetchall()  # the DBAPI's tuples: SQLAlchemy's Row objects cost more
                result.close()
            if rows:
                yield rows
            if len(rows) < batch:
                return
            last = rows[-1][-1]

    def after_fork(self) -> None:
        """In a child process: leave the parent's pooled connections to the parent (SQLAlchemy's rule)."""
        self._engine.dispose(close=False)

    def count(
        self,
        *,
        topics: Sequence[str] | None = None,
        case_id: str | None = None,
        until: datetime | None = None,
        after_id: int = 0,
    ) -> int:
        R = self._records
        with self._engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(R)
                .where(*self._filters(topics, case_id, until, after_id, by_id=False))
            ).scalar_one()

    @staticmethod
    def _record(row: Any) -> LedgerRecord:
        m = row._mapping
        return LedgerRecord(
            topic=m["topic"],
            partition=m["partition"],
            offset=m["offset"],
            key=_b(m["key"]),
            value=_b(m["value"]),
            headers=decode_headers(bytes(m["headers"])),
            timestamp_ms=m["timestamp_ms"],
            recorded_at=_utc(m["recorded_at"]),
            event_id=m["event_id"],
            event_type=m["event_type"],
            case_id=m["case_id"],
            source=m["source"],
            event_time=None if m["event_time"] is None else _utc(m["event_time"]),
            causation_id=m["causation_id"],
            prev_offset=m["prev_offset"],
            prev_hash=bytes(m["prev_hash"]),
            hash=bytes(m["hash"]),
            id=m["id"],
        )
