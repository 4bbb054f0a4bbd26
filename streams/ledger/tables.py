"""The ledger's tables and its engine: SQLAlchemy Core on SQLite (WAL, ``synchronous=FULL``) or
PostgreSQL, and `_Parts`, what every part of `Ledger` (store, queries, checkpoints, verification)
works on, with the record of the ledger's suite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Connection, make_url

from ..crypto import Suite
from .errors import LedgerSuiteError

_INSERT_COLS = (
    "topic",
    "partition",
    "offset",
    "key",
    "value",
    "headers",
    "timestamp_ms",
    "recorded_at",
    "event_id",
    "event_type",
    "case_id",
    "source",
    "event_time",
    "causation_id",
    "prev_offset",
    "prev_hash",
    "hash",
)


def _tables(schema: str | None) -> tuple[MetaData, Table, Table, Table, Table]:
    md = MetaData(schema=schema)
    pk = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only an INTEGER PRIMARY KEY
    instant = DateTime(timezone=True)
    records = Table(
        "ledger_records",
        md,
        Column("id", pk, primary_key=True, autoincrement=True),
        Column("topic", Text, nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("key", LargeBinary),
        Column("value", LargeBinary),
        Column("headers", LargeBinary, nullable=False),
        Column("timestamp_ms", BigInteger, nullable=False),
        Column("recorded_at", instant, nullable=False),
        Column("event_id", Text),
        Column("event_type", Text),
        Column("case_id", Text),
        Column("source", Text),
        Column("event_time", instant),
        Column("causation_id", Text),
        Column("prev_offset", BigInteger, nullable=False),
        Column("prev_hash", LargeBinary, nullable=False),
        Column("hash", LargeBinary, nullable=False),
        UniqueConstraint("topic", "partition", "offset", name="uq_ledger_records_position"),
        Index("ix_ledger_records_event_id", "event_id"),
        Index("ix_ledger_records_case_id", "case_id"),
        Index("ix_ledger_records_event_time", "event_time"),
    )
    checkpoints = Table(
        "ledger_checkpoints",
        md,
        Column("id", pk, primary_key=True, autoincrement=True),
        Column("created_at", instant, nullable=False),
        Column("suite", Text, nullable=False),
        Column("heads", Text, nullable=False),
        Column("previous", Text, nullable=False),
        Column("signature", LargeBinary, nullable=False),
        Column("key_fingerprint", Text, nullable=False),
        Column("last_record_id", BigInteger, nullable=False),
    )
    heads = Table(
        "ledger_heads",
        md,
        Column("topic", Text, nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("hash", LargeBinary, nullable=False),
        PrimaryKeyConstraint("topic", "partition", name="pk_ledger_heads"),
    )
    meta = Table(  # facts about the whole ledger; today one: "suite", the suite its chains use
        "ledger_meta",
        md,
        Column("name", Text, primary_key=True),
        Column("value", Text, nullable=False),
    )
    return md, records, checkpoints, heads, meta


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by `_sqlite_begin`, not by the driver
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front: a deferred transaction that reads the chain head and then
    # writes could otherwise fail to upgrade its lock under a concurrent writer.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("ledger_write") else "BEGIN")


def _engine(url: str) -> Engine:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            from pathlib import Path

            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(u, pool_pre_ping=True)


class _Parts:
    """The state `Ledger.__init__` sets up, shared by the mixins that make up `Ledger` (each in its own
    module: `queries`, `checkpoints`, `verify`, `diagnose`), and the write transaction they share."""

    url: str
    suite: Suite
    _engine: Engine
    _md: MetaData
    _records: Table
    _checkpoints: Table
    _heads: Table
    _meta: Table
    _zero: bytes  # a chain's first prev_hash: the digest's size in zero bytes
    _meta_written: bool  # whether ledger_meta is known to hold this ledger's suite

    def _record_suite(self, conn: Connection) -> None:
        """In a write transaction: record this ledger's suite unless one is; refuse when another one is."""
        if self._meta_written:
            return
        M = self._meta
        recorded = conn.execute(select(M.c.value).where(M.c.name == "suite")).scalar()
        if recorded is None:  # cached only once read back: this transaction may yet roll back
            conn.execute(insert(M), {"name": "suite", "value": self.suite.name})
            return
        if recorded != self.suite.name:
            raise LedgerSuiteError(recorded, self.suite.name)
        self._meta_written = True

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn
