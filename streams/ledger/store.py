"""`Ledger`: the store, and its append. Reads, checkpoints and verification are mixins of their own
modules (`queries`, `checkpoints`, `verify`); they share the tables and engine of `tables`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from ..crypto import Sha256Ed25519, Suite, suite_for
from .checkpoints import _Checkpoints
from .errors import LedgerConflict, LedgerOrderError, LedgerSuiteError
from .format import LedgerRecord, _derive, _utc, canonical, encode_headers
from .queries import _Queries
from .tables import _INSERT_COLS, _engine, _tables
from .verify import _Verification


class Ledger(_Queries, _Checkpoints, _Verification):
    """An append-only, hash-chained store of Kafka records with signed checkpoints.

    ``suite`` signs checkpoints and gives the digest; without one the ledger is verify-only (an
    auditor's copy): pass the exported public key to `verify`. ``schema`` (PostgreSQL) puts the
    tables in that schema, which must exist.

    The suite of the chains is recorded in ``ledger_meta`` (row ``suite``) by the first opener that
    names one, or by the first append or checkpoint; a ledger of records older than that record is
    taken to be ``sha256-ed25519``, the only suite there was. Opened with another suite, the ledger
    refuses with `LedgerSuiteError`; opened without one, it takes the recorded suite (verify-only).
    """

    def __init__(self, url: str, suite: Suite | None = None, *, schema: str | None = None) -> None:
        self.url = url
        self._engine = _engine(url)
        self._md, self._records, self._checkpoints, self._heads, self._meta = _tables(schema)
        for attempt in range(3):  # processes starting together race to create the tables
            try:
                self._md.create_all(self._engine)
                break
            except DBAPIError:
                if attempt == 2:
                    raise
        recorded, self._meta_written = self._recorded_suite()
        given = suite is not None
        if suite is None:
            suite = suite_for(recorded) if recorded is not None else Sha256Ed25519()
        self.suite: Suite = suite
        self._zero = bytes(self.suite.digest_size)
        if recorded is not None and recorded != self.suite.name:
            self._engine.dispose()
            raise LedgerSuiteError(recorded, self.suite.name)
        if given and not self._meta_written:
            try:
                with self._write() as conn:
                    self._record_suite(conn)
            except IntegrityError:  # another process recorded it first: one more look
                with self._write() as conn:
                    self._record_suite(conn)

    def _recorded_suite(self) -> tuple[str | None, bool]:
        """The suite recorded in ``ledger_meta`` (and True), else the one inferred for a ledger that
        predates the record (and False): its first checkpoint's, or SHA-256 when it has records."""
        M, C, R = self._meta, self._checkpoints, self._records
        with self._engine.connect() as conn:
            name = conn.execute(select(M.c.value).where(M.c.name == "suite")).scalar()
            if name is not None:
                return name, True
            name = conn.execute(select(C.c.suite).order_by(C.c.id).limit(1)).scalar()
            if name is None and conn.execute(select(R.c.id).limit(1)).first() is not None:
                name = Sha256Ed25519.name
        return name, False

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- append -------------------------------------------------------------------------------------------

    def append(self, records: Sequence[LedgerRecord]) -> int:
        """Store ``records`` in one transaction and return how many were new.

        Records must come in increasing offset order per (topic, partition). A record whose position
        is already stored is skipped when identical (key, value, headers, timestamp) and refused with
        `LedgerConflict` when not; a position below a chain's head that the chain does not hold is
        refused with `LedgerOrderError`. On refusal nothing of the batch is stored.
        """
        by_chain: dict[tuple[str, int], list[LedgerRecord]] = {}
        for r in records:
            chain = by_chain.setdefault((r.topic, r.partition), [])
            if chain and r.offset <= chain[-1].offset:
                raise LedgerOrderError(
                    f"{r.topic}/{r.partition}: offset {r.offset} comes after offset {chain[-1].offset} "
                    "in the batch; records must be in increasing offset order per partition"
                )
            chain.append(r)
        if not by_chain:
            return 0
        now = datetime.now(UTC)
        for attempt in range(5):
            try:
                with self._write() as conn:
                    return self._append(conn, by_chain, now)
            except IntegrityError:  # a concurrent appender took the same position first: look again
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _append(
        self, conn: Connection, by_chain: dict[tuple[str, int], list[LedgerRecord]], now: datetime
    ) -> int:
        self._record_suite(conn)
        R, H = self._records, self._heads
        digest = self.suite.digest
        rows: list[tuple[Any, ...]] = []
        bind = R.c.recorded_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        dt: Any = bind or (lambda t: t)  # SQLite stores instants as text in SQLAlchemy's format
        stamp: tuple[Any, Any] = (None, None)  # (instant, stored form): a batch mostly shares one instant
        for (topic, partition), rs in by_chain.items():
            head = conn.execute(
                select(H.c.offset, H.c.hash)
                .where(H.c.topic == topic, H.c.partition == partition)
                .with_for_update()
            ).first()
            prev_offset, prev_hash = (head.offset, bytes(head.hash)) if head else (-1, self._zero)
            existing: dict[int, Any] = {}
            if head is not None and rs[0].offset <= head.offset:
                existing = {
                    row.offset: row
                    for row in conn.execute(
                        select(R.c.offset, R.c.key, R.c.value, R.c.headers, R.c.timestamp_ms).where(
                            R.c.topic == topic,
                            R.c.partition == partition,
                            R.c.offset >= rs[0].offset,
                            R.c.offset <= min(rs[-1].offset, head.offset),
                        )
                    )
                }
            added = 0
            for r in rs:
                hblock = encode_headers(r.headers)
                if head is not None and r.offset <= head.offset:
                    old = existing.get(r.offset)
                    if old is None:
                        raise LedgerOrderError(
                            f"{topic}/{partition} offset {r.offset} is below the chain head (offset "
                            f"{head.offset}) and not in the ledger: the chain cannot take it any more"
                        )
                    diff = [
                        name
                        for name, a, b in (
                            ("key", old.key, r.key),
                            ("value", old.value, r.value),
                            ("headers", old.headers, hblock),
                            ("timestamp", old.timestamp_ms, r.timestamp_ms),
                        )
                        if (bytes(a) if isinstance(a, memoryview) else a) != b
                    ]
                    if diff:
                        raise LedgerConflict(topic, partition, r.offset, diff)
                    continue
                recorded_at = _utc(r.recorded_at) if r.recorded_at is not None else now
                if recorded_at != stamp[0]:
                    stamp = (recorded_at, dt(recorded_at))
                h = digest(
                    prev_hash
                    + canonical(
                        topic,
                        partition,
                        r.offset,
                        prev_offset,
                        r.key,
                        r.value,
                        hblock,
                        r.timestamp_ms,
                        recorded_at,
                    )
                )
                d = _derive(r.headers, r.key)
                rows.append(
                    (
                        topic,
                        partition,
                        r.offset,
                        r.key,
                        r.value,
                        hblock,
                        r.timestamp_ms,
                        stamp[1],
                        d["event_id"],
                        d["event_type"],
                        d["case_id"],
                        d["source"],
                        None if d["event_time"] is None else dt(d["event_time"]),
                        d["causation_id"],
                        prev_offset,
                        prev_hash,
                        h,
                    )
                )
                prev_offset, prev_hash = r.offset, h
                added += 1
            if added and head is None:
                conn.execute(
                    insert(H),
                    {"topic": topic, "partition": partition, "offset": prev_offset, "hash": prev_hash},
                )
            elif added:
                conn.execute(
                    update(H)
                    .where(H.c.topic == topic, H.c.partition == partition)
                    .values(offset=prev_offset, hash=prev_hash)
                )
        if rows:
            self._insert(conn, rows)
        return len(rows)

    def _insert(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Straight to the driver (SQLAlchemy's per-row parameter processing would double the cost);
        COPY on PostgreSQL with psycopg 3, several times faster than a pipelined executemany."""
        prep = conn.dialect.identifier_preparer
        table = prep.format_table(self._records)
        columns = ", ".join(prep.quote(c) for c in _INSERT_COLS)
        if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
            with (
                conn.connection.driver_connection.cursor() as cur,  # type: ignore[union-attr]
                cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            return
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[conn.dialect.paramstyle]
        marks = ", ".join([mark] * len(_INSERT_COLS))
        conn.exec_driver_sql(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
