"""The ledger's record format: `LedgerRecord`, the canonical bytes a record's hash covers, and the
headers block the ``headers`` column holds. Pure: no storage here, so the format can be read (and
re-implemented by an auditor) on its own.

Hash chain, one per (topic, partition)
    ``hash = D(prev_hash || canonical(record))`` where D is the suite's digest (SHA-256, or SM3
    with the 国密 suite). A chain's first record has ``prev_offset = -1`` and ``prev_hash`` = D's
    size in zero bytes (32). Kafka
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
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fengqiao.schemas.envelope import parse_time

Header = tuple[str, bytes | None]
MAGIC = b"FQL1"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_U32 = struct.Struct(">I")
_POS = struct.Struct(">Iqq")
_TIMES = struct.Struct(">qq")


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


def _b(v: Any) -> bytes | None:
    return None if v is None else bytes(v)
