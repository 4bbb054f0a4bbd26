"""The ledger (账本): every record of every hub topic, in log order, hash-chained and signed.

Why (DESIGN principles 1, 7, 9; Runtime "Ledger"; issue 4 items 1 and 4): the embedded broker keeps
its log only in memory, and auditors must be able to prove that nothing in the log was altered,
removed, inserted or reordered. The ledger is the record that lasts. This module stores and
verifies it; the archiver that feeds it from Kafka and the CLI live elsewhere.

Storage
    SQLAlchemy Core on SQLite (``sqlite:///path``; WAL and ``synchronous=FULL``, so a returned
    `Ledger.append` survives a power cut) or PostgreSQL (``postgresql+psycopg://...``; a bare
    ``postgresql://`` URL is taken to mean psycopg 3). Tables, created on first use:
    ``ledger_records`` (one row per Kafka record), ``ledger_checkpoints`` (signed chain heads) and
    ``ledger_heads`` (the last record of each chain: a cache that makes appends, positions and
    checkpoints cost O(partitions); verification never trusts it, only cross-checks it).

Hash chain, one per (topic, partition)
    ``hash = D(prev_hash || canonical(record))`` where D is the suite's digest (SHA-256). A chain's
    first record has ``prev_offset = -1`` and ``prev_hash`` = D's size in zero bytes (32). Kafka
    offsets may have gaps (compaction, transaction markers), so each record also names the offset
    of its predecessor in the chain, ``prev_offset``; it is hashed, so a removed record is named
    exactly.

    canonical(record) is the concatenation of (integers big-endian)::

        b"FQL1"                          format tag, 4 ASCII bytes
        str(topic)
        u32(partition) i64(offset) i64(prev_offset)
        opt(key) opt(value)
        u32(number of headers), then per header, in record order: str(name) opt(value)
        i64(timestamp_ms)                the Kafka record timestamp
        i64(recorded_at_us)              microseconds since 1970-01-01T00:00:00Z when the ledger stored it

    with ``bytes(b) = u32(len(b)) || b``, ``str(s) = bytes(UTF-8 of s)``, ``opt(None) = 0x00`` and
    ``opt(b) = 0x01 || bytes(b)``. The headers part (from its count on) is stored as is in the
    ``headers`` column, so a row can be re-hashed straight from SQL.

    ``recorded_at`` is hashed: "when did the hub have this" is what auditors ask, so it must not
    move afterwards. It is not part of idempotence: a redelivered record at the same position with
    the same key, value, headers and timestamp is the same record and is skipped.

    The indexed columns (event_id = ce_id, event_type = ce_type, case_id = ce_subject or else the
    key, source = ce_source, event_time = ce_time as UTC or NULL if not RFC 3339, causation_id =
    ce_causationid; the first header of a name counts, read as UTF-8 with replacement) are not
    hashed: they are a function of the hashed headers and key, and verification recomputes and
    compares them.

Checkpoints
    The suite signs the UTF-8 bytes of this JSON (keys sorted, separators ``,`` and ``:``, ASCII)::

        {"created_at": "2024-05-01T08:00:00.000000Z",
         "heads": {"<topic>/<partition>": {"hash": "<hex>", "offset": <n>}, ...},
         "previous": "<hex D(previous checkpoint's message)>" or "" for the first,
         "suite": "sha256-ed25519"}

    ``previous`` chains the checkpoints, so removing one from the middle is detected.

Verification
    `Ledger.verify` walks each chain in offset order, recomputing every hash and link, compares the
    indexed columns with the headers, checks each checkpoint's signature and link to the one before,
    and that the chain's hash at each signed offset is the signed one. It names the first problem of
    each chain (`Kind`: altered, removed, inserted, reordered, rewritten) with topic, partition and
    offset, and every bad checkpoint (checkpoint_forged, checkpoint_removed) with its id.

What verification cannot see (inherent to hash chains): records appended after the last
checkpoint can be removed or rewritten at the tail, and the last checkpoint itself can be removed,
without a trace in the database alone. Auditors close that gap by keeping the latest checkpoint
they were shown (or the hub checkpointing often). A checkpoint signed by another key (rotation)
is reported as not signed by the given key.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

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
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from fengqiao.schemas.envelope import parse_time

from ..crypto import Sha256Ed25519, Suite, SuiteKeyError

__all__ = [
    "ChainHead",
    "Checkpoint",
    "Kind",
    "Ledger",
    "LedgerConflict",
    "LedgerError",
    "LedgerOrderError",
    "LedgerRecord",
    "Problem",
    "VerifyReport",
    "canonical",
    "decode_headers",
    "encode_headers",
]

Header = tuple[str, bytes | None]
MAGIC = b"FQL1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_U32 = struct.Struct(">I")
_POS = struct.Struct(">Iqq")
_TIMES = struct.Struct(">qq")
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
_SWAP_WINDOW = 100_000  # how far after a bad record verification looks for the record it was swapped with


class LedgerError(Exception):
    """A batch the ledger refuses; nothing of the batch was stored."""


class LedgerConflict(LedgerError):
    """A record at a position the ledger already holds, with different content."""

    def __init__(self, topic: str, partition: int, offset: int, fields: Sequence[str]) -> None:
        self.topic, self.partition, self.offset, self.fields = topic, partition, offset, tuple(fields)
        super().__init__(
            f"{topic}/{partition} offset {offset} is already in the ledger with a different "
            f"{', '.join(fields)}: a Kafka position holds one record, so this one was refused"
        )


class LedgerOrderError(LedgerError):
    """Records out of offset order, or a position below a chain's head that the chain does not hold."""


# ---------------------------------------------------------------------------------------------------------
# Records and their canonical encoding


def _bytes(parts: list[bytes], b: bytes) -> None:
    parts.append(_U32.pack(len(b)))
    parts.append(b)


def _opt(parts: list[bytes], b: bytes | None) -> None:
    if b is None:
        parts.append(b"\x00")
    else:
        parts.append(b"\x01")
        _bytes(parts, b)


_NAMES: dict[str, bytes] = {}  # header name -> its encoded prefix; the hub uses a handful of names


def encode_headers(headers: Sequence[Header]) -> bytes:
    """The headers part of the canonical encoding (also what the ``headers`` column holds)."""
    pack, names = _U32.pack, _NAMES
    parts = [pack(len(headers))]
    add = parts.append
    for name, value in headers:
        prefix = names.get(name)
        if prefix is None:
            n = name.encode()
            prefix = pack(len(n)) + n
            if len(names) < 4096:
                names[name] = prefix
        if value is None:
            add(prefix + b"\x00")
        else:
            add(prefix + b"\x01" + pack(len(value)) + value)
    return b"".join(parts)


_NAME_OF: dict[bytes, str] = {}  # encoded header name -> the name: a handful of names recur


def decode_headers(block: bytes) -> tuple[Header, ...]:
    """Inverse of `encode_headers`; ValueError if ``block`` is not exactly one headers block."""
    unpack, names = _U32.unpack_from, _NAME_OF
    out: list[Header] = []
    add = out.append
    i = 4
    try:
        (count,) = unpack(block, 0)
        for _ in range(count):
            (n,) = unpack(block, i)
            j = i + 4 + n
            raw = block[i + 4 : j]
            name = names.get(raw)
            if name is None:
                name = raw.decode()
                if len(names) < 4096:
                    names[raw] = name
            flag = block[j]
            if flag == 1:
                (n,) = unpack(block, j + 1)
                i = j + 5 + n
                add((name, block[j + 5 : i]))
            elif flag == 0:
                add((name, None))
                i = j + 1
            else:
                raise ValueError(f"headers block: bad presence byte {flag}")
    except (struct.error, IndexError) as e:
        raise ValueError("headers block is truncated") from e
    if i != len(block):  # a length running past the end, or bytes after the last header
        raise ValueError(
            "headers block is truncated" if i > len(block) else "headers block has trailing bytes"
        )
    return tuple(out)


def kafka_headers(block: bytes) -> list[tuple[str, bytes]]:
    """A stored headers block as a Kafka record's headers (an absent value as empty bytes): how ledger
    rows go back on a broker, or through a reader's path, as consumer records."""
    return [(n, v or b"") for n, v in decode_headers(bytes(block))]


def _micros(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


def canonical(
    topic: str,
    partition: int,
    offset: int,
    prev_offset: int,
    key: bytes | None,
    value: bytes | None,
    headers_block: bytes,
    timestamp_ms: int,
    recorded_at: datetime,
) -> bytes:
    """The bytes a record's hash covers (module docstring); ``headers_block`` is from `encode_headers`."""
    parts = [MAGIC]
    _bytes(parts, topic.encode())
    parts.append(_POS.pack(partition, offset, prev_offset))
    _opt(parts, key)
    _opt(parts, value)
    parts.append(headers_block)
    parts.append(_TIMES.pack(timestamp_ms, _micros(recorded_at)))
    return b"".join(parts)


def _utc(t: datetime) -> datetime:
    """An aware UTC instant; a naive one (what SQLite gives back) is taken to be UTC already."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


_CE = frozenset({"ce_id", "ce_type", "ce_subject", "ce_source", "ce_time", "ce_causationid"})


def _derive(headers: Sequence[Header], key: bytes | None) -> dict[str, Any]:
    """The indexed columns, from the CloudEvents headers (first occurrence wins) and the key."""
    h: dict[str, str] = {}
    for name, value in headers:
        if name in _CE and value is not None and name not in h:
            h[name] = bytes(value).decode("utf-8", "replace")
    case_id = h.get("ce_subject")
    if case_id is None and key is not None:
        case_id = bytes(key).decode("utf-8", "replace")
    event_time = None
    if h.get("ce_time"):
        try:
            event_time = parse_time(h["ce_time"])
        except ValueError:
            event_time = None
    return {
        "event_id": h.get("ce_id"),
        "event_type": h.get("ce_type"),
        "case_id": case_id,
        "source": h.get("ce_source"),
        "event_time": event_time,
        "causation_id": h.get("ce_causationid"),
    }


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One Kafka record as the ledger holds it.

    Build it with `from_kafka` (which fills the indexed columns from the headers); `Ledger.append`
    stamps ``recorded_at`` (when not given) and the chain fields, and always derives the indexed
    columns itself. Records read back carry everything, ``id`` included (for ``read(after_id=)``).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp_ms: int = 0
    recorded_at: datetime | None = None
    event_id: str | None = None
    event_type: str | None = None
    case_id: str | None = None
    source: str | None = None
    event_time: datetime | None = None
    causation_id: str | None = None
    prev_offset: int | None = None
    prev_hash: bytes | None = None
    hash: bytes | None = None
    id: int | None = field(default=None, compare=False)

    @classmethod
    def from_kafka(
        cls,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[Header] = (),
        timestamp_ms: int = 0,
        recorded_at: datetime | None = None,
    ) -> LedgerRecord:
        hs = tuple((str(k), None if v is None else bytes(v)) for k, v in headers)
        return cls(
            topic,
            partition,
            offset,
            None if key is None else bytes(key),
            None if value is None else bytes(value),
            hs,
            int(timestamp_ms),
            None if recorded_at is None else _utc(recorded_at),
            **_derive(hs, key),
        )

    @classmethod
    def from_message(cls, msg: Any, recorded_at: datetime | None = None) -> LedgerRecord:
        """From an aiokafka ``ConsumerRecord`` or a confluent-kafka ``Message``."""

        def get(name: str) -> Any:
            v = getattr(msg, name)
            return v() if callable(v) else v

        ts = get("timestamp")
        if isinstance(ts, tuple):  # confluent-kafka: (type, ms)
            ts = ts[1]
        return cls.from_kafka(
            get("topic"),
            get("partition"),
            get("offset"),
            get("key"),
            get("value"),
            tuple(get("headers") or ()),
            ts or 0,
            recorded_at,
        )

    def content(self) -> tuple[Any, ...]:
        """What makes two records at one position the same (idempotence): not recorded_at."""
        return (self.key, self.value, self.headers, self.timestamp_ms)


_RECORD_COLS = tuple(f for f in LedgerRecord.__slots__ if f != "id")  # `read` selects these, then id
_RECORD_SET = tuple(getattr(LedgerRecord, f).__set__ for f in LedgerRecord.__slots__)  # id last, as selected


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


# ---------------------------------------------------------------------------------------------------------
# Checkpoints and verification results


class ChainHead(NamedTuple):
    offset: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Signed heads of every chain at one instant (see the module docstring for the signed bytes)."""

    id: int
    created_at: datetime
    suite: str
    heads: dict[tuple[str, int], ChainHead]
    previous: str
    signature: bytes
    key_fingerprint: str
    last_record_id: int

    def message(self) -> bytes:
        return _checkpoint_message(self.created_at, self.heads, self.previous, self.suite)


def _heads_json(heads: Mapping[tuple[str, int], ChainHead]) -> dict[str, dict[str, Any]]:
    return {f"{t}/{p}": {"hash": h.hash.hex(), "offset": h.offset} for (t, p), h in heads.items()}


def _heads_from_json(text: str) -> dict[tuple[str, int], ChainHead]:
    out: dict[tuple[str, int], ChainHead] = {}
    for chain, h in json.loads(text).items():
        topic, _, partition = chain.rpartition("/")
        out[(topic, int(partition))] = ChainHead(int(h["offset"]), bytes.fromhex(h["hash"]))
    return out


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _checkpoint_message(
    created_at: datetime, heads: Mapping[tuple[str, int], ChainHead], previous: str, suite: str
) -> bytes:
    return _canonical_json(
        {
            "created_at": _utc(created_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "heads": _heads_json(heads),
            "previous": previous,
            "suite": suite,
        }
    ).encode()


class Kind:
    """The kinds of problem verification names."""

    ALTERED = "altered"  # a record's content no longer matches its hash (or its indexed columns its headers)
    REMOVED = "removed"  # a record the chain links to, or a checkpoint covers, is not there
    INSERTED = "inserted"  # a record the chain does not link to (extra, or a second one at one offset)
    REORDERED = "reordered"  # records swapped or moved: content or links point elsewhere in the chain
    REWRITTEN = "rewritten"  # the chain is consistent but differs from a signed checkpoint's head
    CHECKPOINT_FORGED = "checkpoint_forged"  # bad signature, other key or suite: altered or forged
    CHECKPOINT_REMOVED = "checkpoint_removed"  # the checkpoint chain skips one


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    topic: str | None
    partition: int | None
    offset: int | None
    detail: str
    checkpoint_id: int | None = None

    def __str__(self) -> str:
        where = f"{self.topic}/{self.partition} offset {self.offset}" if self.topic is not None else ""
        if self.checkpoint_id is not None:
            where = f"checkpoint #{self.checkpoint_id}" + (f", {where}" if where else "")
        return f"{self.kind}: {where}: {self.detail}"


@dataclass(slots=True)
class VerifyReport:
    """What `Ledger.verify` found: ``records`` counts the records checked (a chain's walk stops at its
    first problem), ``problems`` the first problem of each chain plus each bad checkpoint."""

    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    chains: int = 0
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = (
            f"{'PASS' if self.ok else 'FAIL'}: {self.records} records in {self.chains} chains, "
            f"{self.checkpoints} checkpoints"
        )
        if self.ok:
            return head + "; every hash, link and signature checks out"
        return "\n".join([head + f"; {len(self.problems)} problem(s):", *(f"  - {p}" for p in self.problems)])


# ---------------------------------------------------------------------------------------------------------
# Tables


def _tables(schema: str | None) -> tuple[MetaData, Table, Table, Table]:
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
    return md, records, checkpoints, heads


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


# ---------------------------------------------------------------------------------------------------------
# The ledger


class Ledger:
    """An append-only, hash-chained store of Kafka records with signed checkpoints.

    ``suite`` signs checkpoints and gives the digest; without one the ledger is verify-only (an
    auditor's copy): pass the exported public key to `verify`. ``schema`` (PostgreSQL) puts the
    tables in that schema, which must exist.
    """

    def __init__(self, url: str, suite: Suite | None = None, *, schema: str | None = None) -> None:
        self.url = url
        self.suite: Suite = suite if suite is not None else Sha256Ed25519()
        self._engine = _engine(url)
        self._md, self._records, self._checkpoints, self._heads = _tables(schema)
        self._zero = bytes(self.suite.digest_size)
        for attempt in range(3):  # processes starting together race to create the tables
            try:
                self._md.create_all(self._engine)
                break
            except DBAPIError:
                if attempt == 2:
                    raise

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(ledger_write=True)
            with conn.begin():
                yield conn

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

    # -- queries ------------------------------------------------------------------------------------------

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

    # -- checkpoints --------------------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """Sign the current head of every chain, linked to the previous checkpoint."""
        C, H, R = self._checkpoints, self._heads, self._records
        with self._write() as conn:
            if conn.dialect.name == "postgresql":  # one checkpointer at a time keeps `previous` a chain
                table = conn.dialect.identifier_preparer.format_table(C)
                conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            heads = {
                (r.topic, r.partition): ChainHead(r.offset, bytes(r.hash))
                for r in conn.execute(select(H).order_by(H.c.topic, H.c.partition))
            }
            last_id = conn.execute(select(func.max(R.c.id))).scalar() or 0
            prev = conn.execute(select(C).order_by(C.c.id.desc()).limit(1)).first()
            previous = self.suite.digest(self._checkpoint(prev).message()).hex() if prev is not None else ""
            created_at = datetime.now(UTC)
            msg = _checkpoint_message(created_at, heads, previous, self.suite.name)
            signature = self.suite.sign(msg)
            fp = self.suite.fingerprint(self.suite.public_key())
            cid = conn.execute(
                insert(C)
                .values(
                    created_at=created_at,
                    suite=self.suite.name,
                    heads=_canonical_json(_heads_json(heads)),
                    previous=previous,
                    signature=signature,
                    key_fingerprint=fp,
                    last_record_id=last_id,
                )
                .returning(C.c.id)
            ).scalar_one()
        return Checkpoint(cid, created_at, self.suite.name, heads, previous, signature, fp, last_id)

    def last_checkpoint(self) -> Checkpoint | None:
        C = self._checkpoints
        with self._engine.connect() as conn:
            row = conn.execute(select(C).order_by(C.c.id.desc()).limit(1)).first()
        return None if row is None else self._checkpoint(row)

    def maybe_checkpoint(self, every_records: int, every_seconds: float) -> Checkpoint | None:
        """Checkpoint when about ``every_records`` were appended since the last one, or ``every_seconds``
        have passed and something was; None otherwise (nothing new is never re-signed)."""
        last = self.last_checkpoint()
        with self._engine.connect() as conn:
            max_id = conn.execute(select(func.max(self._records.c.id))).scalar() or 0
        new = max_id - (last.last_record_id if last else 0)
        if new <= 0:
            return None
        if last is None or new >= every_records:
            return self.checkpoint()
        if (datetime.now(UTC) - last.created_at).total_seconds() >= every_seconds:
            return self.checkpoint()
        return None

    @staticmethod
    def _checkpoint(row: Any) -> Checkpoint:
        return Checkpoint(
            id=row.id,
            created_at=_utc(row.created_at),
            suite=row.suite,
            heads=_heads_from_json(row.heads),
            previous=row.previous,
            signature=bytes(row.signature),
            key_fingerprint=row.key_fingerprint,
            last_record_id=row.last_record_id,
        )

    # -- verification -------------------------------------------------------------------------------------

    def verify(self, public_key: bytes | None = None) -> VerifyReport:
        """Check every chain and every checkpoint; name the first problem of each chain.

        ``public_key`` (PEM) is the key checkpoints must be signed with; by default this ledger's
        suite's own. Reads run in short batches, so verifying does not block the archiver.
        """
        report = VerifyReport()
        expected = self._verify_checkpoints(public_key, report)
        R, H = self._records, self._heads
        # Heads are read after the checkpoints and before the walk, and each chain is walked only up to
        # its head then: records an archiver appends meanwhile are neither checked nor mistaken for forgeries.
        with self._engine.connect() as conn:
            cached = {
                (r.topic, r.partition): ChainHead(r.offset, bytes(r.hash)) for r in conn.execute(select(H))
            }
            chains = {
                (r.topic, r.partition) for r in conn.execute(select(R.c.topic, R.c.partition).distinct())
            }
        chains |= set(expected) | set(cached)
        report.chains = len(chains)
        chain_problems: list[Problem] = []
        for topic, partition in sorted(chains):
            p = self._verify_chain(
                topic, partition, expected.get((topic, partition), {}), cached.get((topic, partition)), report
            )
            if p is not None:
                chain_problems.append(p)
        report.problems.extend(chain_problems)
        return report

    def _verify_checkpoints(
        self, public_key: bytes | None, report: VerifyReport
    ) -> dict[tuple[str, int], dict[int, tuple[bytes, int]]]:
        """Check signatures and the checkpoint chain; return the trusted heads per chain:
        {chain: {offset: (hash, first checkpoint id that signed it)}}."""
        C = self._checkpoints
        expected: dict[tuple[str, int], dict[int, tuple[bytes, int]]] = {}
        key: bytes | None = public_key
        prev_digest, prev_ok, after_id = "", True, 0
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(select(C).where(C.c.id > after_id).order_by(C.c.id).limit(1000)).all()
            if not rows:
                return expected
            if key is None:
                try:
                    key = self.suite.public_key()
                except SuiteKeyError as e:
                    raise SuiteKeyError(
                        "the ledger has signed checkpoints: give verify() the hub's public key (PEM)"
                    ) from e
            fp = self.suite.fingerprint(key)
            for row in rows:
                after_id = row.id
                report.checkpoints += 1
                try:
                    cp = self._checkpoint(row)
                    msg = cp.message()
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    report.problems.append(
                        Problem(
                            Kind.CHECKPOINT_FORGED, None, None, None, f"unreadable checkpoint: {e}", row.id
                        )
                    )
                    prev_ok, prev_digest = False, ""
                    continue
                bad = None
                if cp.suite != self.suite.name:
                    bad = f"signed with suite {cp.suite!r}, not {self.suite.name!r}"
                elif not self.suite.verify(key, msg, cp.signature):
                    bad = "signature does not verify with the given public key"
                    if cp.key_fingerprint != fp:
                        bad += f" (it names key {cp.key_fingerprint[:16]}…, the given key is {fp[:16]}…)"
                    else:
                        bad += ": the checkpoint was altered or forged"
                if bad:
                    report.problems.append(Problem(Kind.CHECKPOINT_FORGED, None, None, None, bad, cp.id))
                elif prev_ok and cp.previous != prev_digest:
                    report.problems.append(
                        Problem(
                            Kind.CHECKPOINT_REMOVED,
                            None,
                            None,
                            None,
                            "the checkpoint before it is not the one it follows: a checkpoint was removed"
                            if cp.previous
                            else "it claims to be the first checkpoint but is not",
                            cp.id,
                        )
                    )
                if not bad:
                    for chain, h in cp.heads.items():
                        expected.setdefault(chain, {}).setdefault(h.offset, (h.hash, cp.id))
                prev_ok = not bad
                prev_digest = self.suite.digest(msg).hex()

    def _chain_rows(
        self, topic: str, partition: int, after: tuple[int, int] | None, limit: int, upto: int | None = None
    ) -> list[Any]:
        R = self._records
        q = select(R).where(R.c.topic == topic, R.c.partition == partition)
        if after is not None:
            q = q.where(tuple_(R.c.offset, R.c.id) > tuple_(*after))
        if upto is not None:
            q = q.where(R.c.offset <= upto)
        with self._engine.connect() as conn:
            return conn.execute(q.order_by(R.c.offset, R.c.id).limit(limit)).all()

    def _verify_chain(
        self,
        topic: str,
        partition: int,
        expected: dict[int, tuple[bytes, int]],
        cached: ChainHead | None,
        report: VerifyReport,
    ) -> Problem | None:
        """Walk one chain in offset order; the first problem found, or None."""

        def problem(kind: str, offset: int | None, detail: str, cp: int | None = None) -> Problem:
            return Problem(kind, topic, partition, offset, detail, cp)

        digest = self.suite.digest
        marks = sorted(expected)  # checkpointed offsets, in order
        mi = 0
        last_good: int | None = None  # last checkpointed offset whose hash matched
        prev: Any = None
        after: tuple[int, int] | None = None
        while True:
            rows = self._chain_rows(topic, partition, after, 5000, None if cached is None else cached.offset)
            for row in rows:
                report.records += 1
                off = row.offset
                if mi < len(marks) and marks[mi] < off:
                    return problem(
                        Kind.REMOVED,
                        marks[mi],
                        f"the record at offset {marks[mi]}, signed by checkpoint "
                        f"#{expected[marks[mi]][1]}, is missing",
                        expected[marks[mi]][1],
                    )
                found = self._check_link(topic, partition, prev, row, problem)
                if found is not None:
                    return found
                prev_hash = bytes(row.prev_hash)
                try:
                    hblock = bytes(row.headers)
                    headers = decode_headers(hblock)
                except ValueError as e:
                    return problem(
                        Kind.ALTERED, off, f"its headers column is not a valid headers block ({e})"
                    )
                key, value = _b(row.key), _b(row.value)
                recorded_at = _utc(row.recorded_at)
                h = digest(
                    prev_hash
                    + canonical(
                        topic,
                        partition,
                        off,
                        row.prev_offset,
                        key,
                        value,
                        hblock,
                        row.timestamp_ms,
                        recorded_at,
                    )
                )
                if h != bytes(row.hash):
                    return self._diagnose_content(topic, partition, row, problem)
                derived = _derive(headers, key)
                for col, want in derived.items():
                    got = getattr(row, col)
                    if col == "event_time" and got is not None:
                        got = _utc(got)
                    if got != want:
                        return problem(
                            Kind.ALTERED,
                            off,
                            f"indexed column {col} says {got!r} but the record's headers say {want!r}",
                        )
                while mi < len(marks) and marks[mi] == off:
                    signed, cp_id = expected[off]
                    if signed != h:
                        since = (
                            f"after offset {last_good}" if last_good is not None else "from the chain's start"
                        )
                        return problem(
                            Kind.REWRITTEN,
                            off,
                            f"checkpoint #{cp_id} signed hash {signed.hex()[:16]}… here, the chain now "
                            f"has {h.hex()[:16]}…: records {since} up to offset {off} were rewritten",
                            cp_id,
                        )
                    last_good = off
                    mi += 1
                prev = row
            if len(rows) < 5000:
                break
            after = (rows[-1].offset, rows[-1].id)
        last = prev.offset if prev is not None else None
        if mi < len(marks):
            off = marks[-1]
            cp_id = expected[off][1]
            end = f"the chain ends at offset {last}" if last is not None else "the chain has no records"
            return problem(
                Kind.REMOVED,
                marks[mi],
                f"checkpoint #{cp_id} covers up to offset {off} but {end}: records were removed",
                cp_id,
            )
        return self._check_tail(topic, partition, problem)

    def _check_tail(self, topic: str, partition: int, problem: Any) -> Problem | None:
        """The chain's end against the ledger's head cache, both read in one statement (one snapshot)."""
        R, H = self._records, self._heads
        chain = (R.c.topic == H.c.topic, R.c.partition == H.c.partition)
        last = select(func.max(R.c.offset)).where(*chain).scalar_subquery()
        at_head = select(R.c.hash).where(*chain, R.c.offset == H.c.offset).limit(1).scalar_subquery()
        with self._engine.connect() as conn:
            head = conn.execute(
                select(H.c.offset, H.c.hash, last.label("last"), at_head.label("at_head")).where(
                    H.c.topic == topic, H.c.partition == partition
                )
            ).first()
            if head is None:
                first = conn.execute(
                    select(func.min(R.c.offset)).where(R.c.topic == topic, R.c.partition == partition)
                ).scalar()
                if first is None:
                    return None
                return problem(
                    Kind.INSERTED,
                    first,
                    "the ledger has no head for this chain: its records were put in outside the ledger "
                    "(or its head was deleted)",
                )
            if head.at_head is None:
                end = f"ends at offset {head.last}" if head.last is not None else "has no records"
                return problem(
                    Kind.REMOVED,
                    head.offset,
                    f"the ledger's head is offset {head.offset} but the chain {end}: records at its end were "
                    "removed",
                )
            if head.last > head.offset:
                first = conn.execute(
                    select(func.min(R.c.offset)).where(
                        R.c.topic == topic, R.c.partition == partition, R.c.offset > head.offset
                    )
                ).scalar()
                return problem(
                    Kind.INSERTED,
                    first,
                    f"the ledger's head is offset {head.offset}, yet the chain goes on to "
                    f"offset {head.last}: records from offset {first} were put in outside the ledger",
                )
            if bytes(head.at_head) != bytes(head.hash):
                return problem(
                    Kind.REWRITTEN,
                    head.offset,
                    "the chain's hash at the ledger's head is not the one the head holds",
                )
        return None

    def _check_link(self, topic: str, partition: int, prev: Any, row: Any, problem: Any) -> Problem | None:
        """Whether ``row`` links to ``prev`` (the record before it in offset order); if not, what happened."""
        off, p_off, p_hash = row.offset, row.prev_offset, bytes(row.prev_hash)
        if prev is None:
            if p_off == -1 and p_hash == self._zero:
                return None
            if p_off >= off:
                return problem(
                    Kind.REORDERED,
                    off,
                    f"the chain's first record links to offset {p_off}, "
                    "after itself: records were swapped or moved",
                )
            if p_off >= 0:
                return problem(
                    Kind.REMOVED,
                    p_off,
                    f"the record at offset {p_off} was removed "
                    f"(the chain starts at offset {off}, which links to it)",
                )
            return problem(Kind.ALTERED, off, "the chain's first record has a link that is not the start")
        if prev.offset == off:
            return problem(Kind.INSERTED, off, f"two records at offset {off} (ids {prev.id} and {row.id})")
        if p_off == prev.offset and p_hash == bytes(prev.hash):
            return None
        if p_off >= off:
            return problem(
                Kind.REORDERED,
                off,
                f"the record at offset {off} links to offset {p_off}, after "
                "itself: records were swapped or moved",
            )
        if p_off > prev.offset:
            moved = self._offset_of_hash(topic, partition, p_hash)
            if moved is not None:
                return problem(
                    Kind.REORDERED,
                    off,
                    f"the record at offset {off} links to the record now at "
                    f"offset {moved}: records were swapped or moved",
                )
            return problem(
                Kind.REMOVED,
                p_off,
                f"the record at offset {p_off} was removed (the record at offset {off} links to it)",
            )
        if p_off < prev.offset:
            R = self._records
            with self._engine.connect() as conn:
                first = conn.execute(
                    select(func.min(R.c.offset)).where(
                        R.c.topic == topic, R.c.partition == partition, R.c.offset > p_off, R.c.offset < off
                    )
                ).scalar()
            return problem(
                Kind.INSERTED,
                first,
                f"the record at offset {first} is not in the chain: the "
                f"record at offset {off} links past it to offset {p_off}",
            )
        # right offset, wrong hash: the previous record was replaced by one consistent in itself, or this
        # record's link was changed (then its own hash no longer matches)
        return problem(
            Kind.ALTERED,
            prev.offset,
            f"the record at offset {prev.offset} was replaced: its hash "
            f"is not the one the record at offset {off} links to",
        )

    def _offset_of_hash(self, topic: str, partition: int, h: bytes) -> int | None:
        R = self._records
        with self._engine.connect() as conn:
            return conn.execute(
                select(R.c.offset)
                .where(R.c.topic == topic, R.c.partition == partition, R.c.hash == h)
                .limit(1)
            ).scalar()

    def _diagnose_content(self, topic: str, partition: int, row: Any, problem: Any) -> Problem:
        """A record whose content does not match its hash: altered, or swapped with a later one?

        Looks (up to ``_SWAP_WINDOW`` records on) for a record whose content, or whose value alone,
        hashes right at this position.
        """
        digest, want, prev_hash = self.suite.digest, bytes(row.hash), bytes(row.prev_hash)

        def fits(key: bytes | None, value: bytes | None, hblock: bytes, ts: int, rec: datetime) -> bool:
            c = canonical(topic, partition, row.offset, row.prev_offset, key, value, hblock, ts, rec)
            return digest(prev_hash + c) == want

        after, seen = (row.offset, row.id), 0
        while seen < _SWAP_WINDOW:
            rows = self._chain_rows(topic, partition, after, 5000)
            for other in rows:
                key, value, hblock = _b(other.key), _b(other.value), bytes(other.headers)
                if fits(key, value, hblock, other.timestamp_ms, _utc(other.recorded_at)) or fits(
                    _b(row.key), value, bytes(row.headers), row.timestamp_ms, _utc(row.recorded_at)
                ):
                    return problem(
                        Kind.REORDERED,
                        row.offset,
                        f"records at offsets {row.offset} and {other.offset} were swapped (what is "
                        f"stored at offset {other.offset} belongs at offset {row.offset})",
                    )
            seen += len(rows)
            if len(rows) < 5000:
                break
            after = (rows[-1].offset, rows[-1].id)
        return problem(Kind.ALTERED, row.offset, "its content no longer matches its hash")


def _b(v: Any) -> bytes | None:
    return None if v is None else bytes(v)
