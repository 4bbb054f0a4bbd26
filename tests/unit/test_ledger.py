"""The ledger: append (chained, idempotent), queries, signed checkpoints, and verification naming each tamper.

Every tamper is done the way an intruder would: with SQL straight on the tables. The same tests run
on PostgreSQL from `tests/integration/test_ledger_postgres.py`, which swaps the `make_ledger` fixture.
Every test that makes a ledger runs under both suites, ``sha256-ed25519`` and the 国密 ``sm3-sm2``
(the `suite_cls` fixture); the auditor's own hash (`auditor_hash`) takes SHA-256 or SM3 from
Python's `hashlib`, not from the hub's code.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from fengqiao.schemas.envelope import Envelope
from fengqiao.streams.crypto import Sha256Ed25519, Sm3Sm2, export_public_key, load_or_create_key
from fengqiao.streams.ledger import (
    Kind,
    Ledger,
    LedgerConflict,
    LedgerOrderError,
    LedgerRecord,
    Problem,
    VerifyReport,
    decode_headers,
    encode_headers,
)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
RELEASE, UPDATES = "fq.release", "fq.updates"
MakeLedger = Callable[..., Ledger]
SuiteClass = type[Sha256Ed25519] | type[Sm3Sm2]
HASHLIB_NAME = {Sha256Ed25519.name: "sha256", Sm3Sm2.name: "sm3"}  # the auditor's own digests


@pytest.fixture(params=[Sha256Ed25519, Sm3Sm2], ids=lambda c: c.name)
def suite_cls(request: pytest.FixtureRequest) -> SuiteClass:
    """The suite the ledgers of a test use: each test runs under both."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def make_ledger(tmp_path: Path, suite_cls: SuiteClass) -> Iterator[MakeLedger]:
    """``make_ledger(suite=...)``: a ledger on one SQLite file (the same file each call); by default
    with a fresh key of the test's suite."""
    made: list[Ledger] = []

    def make(suite: Any = "default") -> Ledger:
        s = suite_cls.generate() if suite == "default" else suite
        led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", s)
        made.append(led)
        return led

    yield make
    for led in made:
        led.close()


def rec(
    topic: str,
    partition: int,
    offset: int,
    case: str = "XS-1",
    etype: str = "ReleaseNoticeIssued",
    value: bytes | None = None,
    recorded_at: datetime | None = None,
    **env: Any,
) -> LedgerRecord:
    e = Envelope.new(etype, case, source="court-qs", time=T0 + timedelta(minutes=offset), **env)
    return LedgerRecord.from_kafka(
        topic,
        partition,
        offset,
        case.encode(),
        value if value is not None else f"v{offset}".encode(),
        e.to_headers(),
        int((T0 + timedelta(minutes=offset)).timestamp() * 1000),
        recorded_at,
    )


def chain(topic: str, partition: int, offsets: Any, case: str = "XS-1") -> list[LedgerRecord]:
    return [rec(topic, partition, o, case) for o in offsets]


@pytest.fixture
def led(make_ledger: MakeLedger) -> Ledger:
    """Three chains: fq.release/0 offsets 0..9, fq.release/1 offsets 0..4, fq.updates/0 offsets 0..2."""
    led = make_ledger()
    led.append(
        chain(RELEASE, 0, range(10)) + chain(RELEASE, 1, range(5), "XS-2") + chain(UPDATES, 0, range(3))
    )
    return led


def sql(led: Ledger, statement: str, **params: Any) -> Any:
    """Run SQL straight on the ledger's database, the way an intruder would."""
    with led._engine.begin() as conn:
        return conn.execute(text(statement), params)


def row(led: Ledger, topic: str, partition: int, offset: int) -> Any:
    with led._engine.connect() as conn:
        return conn.execute(
            text('SELECT * FROM ledger_records WHERE topic = :t AND "partition" = :p AND "offset" = :o'),
            {"t": topic, "p": partition, "o": offset},
        ).one()


def only(report: VerifyReport) -> Problem:
    assert not report.ok
    assert len(report.problems) == 1, str(report)
    return report.problems[0]


def assert_problem(
    report: VerifyReport, kind: str, topic: str | None, partition: int | None, offset: int | None
) -> Problem:
    p = only(report)
    assert (p.kind, p.topic, p.partition, p.offset) == (kind, topic, partition, offset), str(report)
    return p


# -- an auditor's own implementation of the canonical encoding, from the module docstring alone ------------


def auditor_hash(prev_hash: bytes, r: Any, suite: str = Sha256Ed25519.name) -> bytes:
    def b(x: bytes) -> bytes:
        return struct.pack(">I", len(x)) + x

    def opt(x: bytes | None) -> bytes:
        return b"\x00" if x is None else b"\x01" + b(bytes(x))

    rec_at = r.recorded_at
    if isinstance(rec_at, str):  # SQLite keeps instants as text, in UTC
        rec_at = datetime.fromisoformat(rec_at)
    rec_at = rec_at.replace(tzinfo=UTC) if rec_at.tzinfo is None else rec_at
    us = (rec_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    data = (
        b"FQL1"
        + b(r.topic.encode())
        + struct.pack(">Iqq", r.partition, r.offset, r.prev_offset)
        + opt(r.key)
        + opt(r.value)
        + bytes(r.headers)
        + struct.pack(">qq", r.timestamp_ms, us)
    )
    return hashlib.new(HASHLIB_NAME[suite], prev_hash + data).digest()


# -- append -------------------------------------------------------------------------------------------------


def test_append_chains_each_partition_and_reports_positions(led: Ledger) -> None:
    assert led.positions() == {(RELEASE, 0): 9, (RELEASE, 1): 4, (UPDATES, 0): 2}
    assert led.count() == 18
    assert led.has(RELEASE, 1, 4) and not led.has(RELEASE, 1, 5)
    prev = bytes(32)
    for o in range(10):
        r = row(led, RELEASE, 0, o)
        assert bytes(r.prev_hash) == prev and r.prev_offset == o - 1
        assert auditor_hash(prev, r, led.suite.name) == bytes(r.hash), "the docstring's encoding is hashed"
        prev = bytes(r.hash)


def test_append_is_idempotent(led: Ledger) -> None:
    redelivered = [  # the same Kafka records again (recorded_at is not part of identity)
        LedgerRecord.from_kafka(r.topic, r.partition, r.offset, r.key, r.value, r.headers, r.timestamp_ms)
        for r in led.read(topics=[RELEASE])
        if r.partition == 0
    ]
    assert len(redelivered) == 10
    assert led.append(redelivered) == 0
    assert led.append([*redelivered[7:], *chain(RELEASE, 0, range(10, 13))]) == 3
    assert led.positions()[(RELEASE, 0)] == 12
    assert led.verify().ok


def test_a_different_record_at_a_stored_position_is_a_conflict_and_nothing_is_stored(led: Ledger) -> None:
    with pytest.raises(LedgerConflict) as e:
        led.append([*chain(RELEASE, 1, [5, 6]), rec(RELEASE, 0, 3, value=b"changed")])
    assert (e.value.topic, e.value.partition, e.value.offset) == (RELEASE, 0, 3)
    assert "value" in e.value.fields
    assert led.positions()[(RELEASE, 1)] == 4  # the batch was refused whole


def test_offsets_must_increase_and_holes_below_the_head_are_refused(led: Ledger) -> None:
    with pytest.raises(LedgerOrderError):
        led.append(chain(RELEASE, 1, [7, 6]))
    led.append(chain(RELEASE, 1, [8]))  # Kafka offsets may have gaps (compaction, transaction markers)
    with pytest.raises(LedgerOrderError):
        led.append(chain(RELEASE, 1, [6]))
    assert led.verify().ok


def test_indexed_columns_come_from_the_cloudevents_headers(make_ledger: MakeLedger) -> None:
    led = make_ledger()
    cause = rec(RELEASE, 0, 0, case="XS-9")
    effect = rec(RELEASE, 0, 1, case="XS-9", etype="HandoffAssigned", causationid=cause.event_id)
    bare = LedgerRecord.from_kafka(RELEASE, 0, 2, b"XS-7", b"raw", (), 0)  # no envelope: case from the key
    assert led.append([cause, effect, bare]) == 3
    got = led.find_event(effect.event_id or "")
    assert got is not None and got.offset == 1
    assert (got.event_type, got.case_id, got.source, got.causation_id) == (
        "HandoffAssigned",
        "XS-9",
        "court-qs",
        cause.event_id,
    )
    assert got.event_time == T0 + timedelta(minutes=1)
    assert got.headers == effect.headers and got.hash is not None and got.id is not None
    assert [r.offset for r in led.read(case_id="XS-7")] == [2]
    assert led.find_event("nope") is None


# -- read ---------------------------------------------------------------------------------------------------


def test_read_streams_in_append_order_with_filters(make_ledger: MakeLedger) -> None:
    led = make_ledger()
    led.append([rec(RELEASE, 0, o, recorded_at=T0 + timedelta(seconds=o)) for o in range(4)])
    led.append([rec(UPDATES, 0, 0, "XS-2", recorded_at=T0 + timedelta(seconds=10))])
    led.append([rec(RELEASE, 0, o, "XS-2", recorded_at=T0 + timedelta(seconds=o * 10)) for o in range(4, 8)])
    everything = list(led.read(batch=3))  # several batches
    assert [(r.topic, r.offset) for r in everything] == [
        (RELEASE, 0),
        (RELEASE, 1),
        (RELEASE, 2),
        (RELEASE, 3),
        (UPDATES, 0),
        (RELEASE, 4),
        (RELEASE, 5),
        (RELEASE, 6),
        (RELEASE, 7),
    ]
    assert [r.id for r in everything] == sorted(r.id for r in everything if r.id is not None)
    assert [r.offset for r in led.read(topics=[RELEASE], case_id="XS-2", batch=2)] == [4, 5, 6, 7]
    until = T0 + timedelta(seconds=50)
    assert [(r.topic, r.offset) for r in led.read(until=until)] == [
        (RELEASE, 0),
        (RELEASE, 1),
        (RELEASE, 2),
        (RELEASE, 3),
        (UPDATES, 0),
        (RELEASE, 4),
        (RELEASE, 5),
    ]
    assert led.count(until=until) == 7 and led.count(topics=[UPDATES]) == 1 and led.count(case_id="XS-2") == 5
    assert led.count(until=until.astimezone(ZoneInfo("Asia/Shanghai"))) == 7  # the same instant
    after = everything[4].id or 0
    assert [r.offset for r in led.read(after_id=after)] == [4, 5, 6, 7]
    assert led.count(after_id=after) == 4
    assert everything[0].recorded_at == T0


def test_scan_gives_the_rows_read_gives_as_plain_tuples(make_ledger: MakeLedger) -> None:
    led = make_ledger()
    led.append(
        [
            rec(RELEASE, p, o, f"XS-{p}", recorded_at=T0 + timedelta(seconds=o))
            for o in range(4)
            for p in (0, 1)
        ]
    )
    led.append([rec(UPDATES, 0, 0, "XS-2", recorded_at=T0 + timedelta(seconds=10))])
    cols = ("topic", "partition", "key", "value", "headers")

    def scanned(**kw: Any) -> list[tuple[Any, ...]]:
        return [row for batch in led.scan(cols, batch=3, **kw) for row in batch]

    def read(**kw: Any) -> list[tuple[Any, ...]]:
        return [
            (r.topic, r.partition, r.key, r.value, encode_headers(r.headers), r.id) for r in led.read(**kw)
        ]

    assert scanned() == read() and len(read()) == 9
    assert all(type(v) is bytes for row in scanned() for v in row[2:5])
    assert scanned(topics=[RELEASE]) == read(topics=[RELEASE])
    assert scanned(case_id="XS-1") == read(case_id="XS-1") != []
    until = T0 + timedelta(seconds=2)
    assert scanned(until=until) == read(until=until) and len(read(until=until)) == 6
    halves = [scanned(shard=(i, 2)) for i in (0, 1)]
    assert {row[1] % 2 for row in halves[0]} == {0} and {row[1] % 2 for row in halves[1]} == {1}
    assert sorted(halves[0] + halves[1], key=lambda row: row[-1]) == scanned()
    with pytest.raises(ValueError, match="instants"):
        next(led.scan(("recorded_at",)))


def test_decode_headers_refuses_what_is_not_one_headers_block() -> None:
    block = encode_headers([("a", b"1"), ("b", None), ("c", b"")])
    assert decode_headers(block) == (("a", b"1"), ("b", None), ("c", b""))
    for bad, why in (
        (block[:-1], "truncated"),
        (block + b"x", "trailing"),
        (block[:6], "truncated"),
        (block[:9] + b"\x07" + block[10:], "presence byte"),
    ):
        with pytest.raises(ValueError, match=why):
            decode_headers(bad)


def test_recorded_at_is_stamped_when_not_given(make_ledger: MakeLedger) -> None:
    led = make_ledger()
    before = datetime.now(UTC)
    led.append(chain(RELEASE, 0, range(2)))
    (first, _) = led.read()
    assert first.recorded_at is not None and before <= first.recorded_at <= datetime.now(UTC)


# -- keys and checkpoints -----------------------------------------------------------------------------------


def test_key_is_created_once_with_mode_0600_and_exported_for_auditors(
    tmp_path: Path, suite_cls: SuiteClass
) -> None:
    path = tmp_path / "keys" / "ledger.pem"
    suite = load_or_create_key(path, suite_cls.name)
    assert path.stat().st_mode & 0o777 == 0o600 and isinstance(suite, suite_cls)
    assert load_or_create_key(path, suite_cls.name).public_key() == suite.public_key()
    pem = export_public_key(suite, tmp_path / "ledger.pub.pem")
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----") and (tmp_path / "ledger.pub.pem").read_bytes() == pem
    sig = suite.sign(b"m")
    assert suite.verify(pem, b"m", sig) and not suite.verify(pem, b"n", sig)
    assert not suite.verify(b"garbage", b"m", sig)


def test_checkpoint_then_verify_passes_also_for_an_auditor_with_the_public_key(
    make_ledger: MakeLedger,
) -> None:
    led = make_ledger()
    led.append(chain(RELEASE, 0, range(5)))
    cp1 = led.checkpoint()
    assert cp1.heads == {(RELEASE, 0): (4, row(led, RELEASE, 0, 4).hash)} and cp1.previous == ""
    led.append(chain(RELEASE, 0, range(5, 8)) + chain(UPDATES, 0, range(2)))
    cp2 = led.checkpoint()
    assert cp2.previous == hashlib.new(HASHLIB_NAME[led.suite.name], cp1.message()).hexdigest()
    report = led.verify()
    assert report.ok, str(report)
    assert (report.records, report.chains, report.checkpoints) == (10, 2, 2)
    assert str(report).startswith("PASS")
    suite_cls = type(led.suite)
    auditor = make_ledger(suite_cls.from_public_key(export_public_key(led.suite)))
    assert auditor.verify().ok
    with pytest.raises(ValueError, match="public key"):
        make_ledger(None).verify()
    assert make_ledger(None).verify(export_public_key(led.suite)).ok  # the suite from the ledger's record
    p = make_ledger(None).verify(suite_cls.generate().public_key()).problems
    assert {(x.kind, x.checkpoint_id) for x in p} == {
        (Kind.CHECKPOINT_FORGED, cp1.id),
        (Kind.CHECKPOINT_FORGED, cp2.id),
    }


def test_maybe_checkpoint_by_count_or_age(make_ledger: MakeLedger) -> None:
    led = make_ledger()
    assert led.maybe_checkpoint(3, 3600) is None  # nothing to sign
    led.append(chain(RELEASE, 0, range(1)))
    assert led.maybe_checkpoint(3, 3600) is not None  # the first records are signed at once
    led.append(chain(RELEASE, 0, range(1, 3)))
    assert led.maybe_checkpoint(3, 3600) is None
    led.append(chain(RELEASE, 0, range(3, 4)))
    cp = led.maybe_checkpoint(3, 3600)
    assert cp is not None and cp.heads[(RELEASE, 0)].offset == 3
    led.append(chain(RELEASE, 0, range(4, 5)))
    assert led.maybe_checkpoint(100, 0) is not None  # old enough
    assert led.maybe_checkpoint(100, 0) is None  # nothing new
    assert led.verify().ok


# -- tampering: each named with kind, topic, partition and offset --------------------------------------------


def test_altered_payload_byte(led: Ledger) -> None:
    v = bytearray(row(led, RELEASE, 0, 4).value)
    v[0] ^= 0x01
    sql(
        led,
        'UPDATE ledger_records SET value = :v WHERE topic = :t AND "partition" = 0 AND "offset" = 4',
        v=bytes(v),
        t=RELEASE,
    )
    p = assert_problem(led.verify(), Kind.ALTERED, RELEASE, 0, 4)
    assert "content" in p.detail


def test_altered_header_or_timestamp(led: Ledger) -> None:
    sql(
        led,
        'UPDATE ledger_records SET timestamp_ms = timestamp_ms + 1 WHERE "partition" = 1 AND "offset" = 2',
    )
    assert_problem(led.verify(), Kind.ALTERED, RELEASE, 1, 2)


def test_altered_recorded_at(led: Ledger) -> None:
    sql(
        led,
        'UPDATE ledger_records SET recorded_at = :t WHERE topic = :top AND "offset" = 1',
        t=instant(led, datetime.now(UTC) - timedelta(days=1)),
        top=UPDATES,
    )
    assert_problem(led.verify(), Kind.ALTERED, UPDATES, 0, 1)


def test_altered_index_column(led: Ledger) -> None:
    sql(
        led,
        'UPDATE ledger_records SET case_id = :c WHERE topic = :t AND "partition" = 0 AND "offset" = 6',
        c="XS-OTHER",
        t=RELEASE,
    )
    p = assert_problem(led.verify(), Kind.ALTERED, RELEASE, 0, 6)
    assert "case_id" in p.detail


def test_removed_record(led: Ledger) -> None:
    sql(led, 'DELETE FROM ledger_records WHERE topic = :t AND "partition" = 0 AND "offset" = 4', t=RELEASE)
    p = assert_problem(led.verify(), Kind.REMOVED, RELEASE, 0, 4)
    assert "offset 4 was removed" in p.detail


def test_removed_first_record(led: Ledger) -> None:
    sql(led, 'DELETE FROM ledger_records WHERE topic = :t AND "partition" = 1 AND "offset" = 0', t=RELEASE)
    assert_problem(led.verify(), Kind.REMOVED, RELEASE, 1, 0)


def test_removed_last_records_are_caught_by_the_checkpoint(led: Ledger) -> None:
    cp = led.checkpoint()
    sql(led, 'DELETE FROM ledger_records WHERE topic = :t AND "partition" = 0 AND "offset" >= 8', t=RELEASE)
    sql(
        led,
        'UPDATE ledger_heads SET "offset" = 7, hash = :h WHERE topic = :t AND "partition" = 0',
        h=bytes(row(led, RELEASE, 0, 7).hash),
        t=RELEASE,
    )  # a careful intruder fixes the head cache too
    p = assert_problem(led.verify(), Kind.REMOVED, RELEASE, 0, 9)
    assert p.checkpoint_id == cp.id


def test_removed_last_record_is_caught_by_the_head(led: Ledger) -> None:
    sql(led, 'DELETE FROM ledger_records WHERE topic = :t AND "partition" = 1 AND "offset" = 4', t=RELEASE)
    p = assert_problem(led.verify(), Kind.REMOVED, RELEASE, 1, 4)
    assert "end were removed" in p.detail


def test_inserted_record_with_renumbering(led: Ledger) -> None:
    """An intruder moves offsets 5.. up by one and puts a forged record, chained right, at offset 5."""
    sql(
        led,
        'UPDATE ledger_records SET "offset" = -"offset" - 1 WHERE topic = :t AND "partition" = 0 '
        'AND "offset" >= 5',
        t=RELEASE,
    )
    sql(
        led,
        'UPDATE ledger_records SET "offset" = -"offset" WHERE topic = :t AND "partition" = 0 '
        'AND "offset" < 0',
        t=RELEASE,
    )
    forge(led, rec(RELEASE, 0, 5, value=b"forged"), prev=row(led, RELEASE, 0, 4))
    p = assert_problem(led.verify(), Kind.INSERTED, RELEASE, 0, 5)
    assert "not in the chain" in p.detail


def test_inserted_record_in_a_gap(make_ledger: MakeLedger) -> None:
    led = make_ledger()
    led.append(chain(RELEASE, 0, [0, 1, 2, 5, 6]))
    forge(led, rec(RELEASE, 0, 3, value=b"forged"), prev=row(led, RELEASE, 0, 2))
    assert_problem(led.verify(), Kind.INSERTED, RELEASE, 0, 3)


def test_inserted_record_at_the_end(led: Ledger) -> None:
    forge(led, rec(UPDATES, 0, 3, value=b"forged"), prev=row(led, UPDATES, 0, 2))
    assert_problem(led.verify(), Kind.INSERTED, UPDATES, 0, 3)


def test_swapped_payloads(led: Ledger) -> None:
    a, b = row(led, RELEASE, 0, 3), row(led, RELEASE, 0, 6)
    cols = (
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
    )
    sets = ", ".join(f"{c} = :{c}" for c in cols)
    for dst, src in ((3, b), (6, a)):
        sql(
            led,
            f'UPDATE ledger_records SET {sets} WHERE topic = :t AND "partition" = 0 AND "offset" = :o',
            t=RELEASE,
            o=dst,
            **{c: getattr(src, c) for c in cols},
        )
    p = assert_problem(led.verify(), Kind.REORDERED, RELEASE, 0, 3)
    assert "3 and 6 were swapped" in p.detail


def test_swapped_values(led: Ledger) -> None:
    a, b = row(led, RELEASE, 1, 1), row(led, RELEASE, 1, 2)
    for dst, src in ((1, b), (2, a)):
        sql(
            led,
            'UPDATE ledger_records SET value = :v WHERE topic = :t AND "partition" = 1 AND "offset" = :o',
            v=src.value,
            t=RELEASE,
            o=dst,
        )
    assert_problem(led.verify(), Kind.REORDERED, RELEASE, 1, 1)


def test_swapped_positions(led: Ledger) -> None:
    """Whole rows exchange their offsets: the records are in each other's place."""
    for old, new in ((3, -1), (6, 3), (-1, 6)):
        sql(
            led,
            'UPDATE ledger_records SET "offset" = :n WHERE topic = :t AND "partition" = 0 AND "offset" = :o',
            n=new,
            t=RELEASE,
            o=old,
        )
    assert_problem(led.verify(), Kind.REORDERED, RELEASE, 0, 3)


def test_first_problem_per_chain_only(led: Ledger) -> None:
    for t, p, o in ((RELEASE, 0, 2), (RELEASE, 0, 7), (UPDATES, 0, 1)):
        sql(
            led,
            'UPDATE ledger_records SET value = :v WHERE topic = :t AND "partition" = :p AND "offset" = :o',
            v=b"x",
            t=t,
            p=p,
            o=o,
        )
    report = led.verify()
    assert [(x.kind, x.topic, x.partition, x.offset) for x in report.problems] == [
        (Kind.ALTERED, RELEASE, 0, 2),
        (Kind.ALTERED, UPDATES, 0, 1),
    ]
    assert str(report).startswith("FAIL") and f"{RELEASE}/0 offset 2" in str(report)


def test_forged_checkpoint_signature(led: Ledger) -> None:
    led.checkpoint()
    cp = led.checkpoint()
    sig = bytearray(cp.signature)
    sig[10] ^= 0xFF
    sql(led, "UPDATE ledger_checkpoints SET signature = :s WHERE id = :i", s=bytes(sig), i=cp.id)
    p = assert_problem(led.verify(), Kind.CHECKPOINT_FORGED, None, None, None)
    assert p.checkpoint_id == cp.id


def test_altered_checkpoint_heads(led: Ledger) -> None:
    cp = led.checkpoint()
    heads = row_checkpoint(led, cp.id).heads.replace('"offset":9', '"offset":8')
    sql(led, "UPDATE ledger_checkpoints SET heads = :h WHERE id = :i", h=heads, i=cp.id)
    p = assert_problem(led.verify(), Kind.CHECKPOINT_FORGED, None, None, None)
    assert p.checkpoint_id == cp.id


def test_checkpoint_signed_by_an_intruders_key(led: Ledger) -> None:
    led.checkpoint()
    intruder = make_intruder_checkpoint(led)
    p = assert_problem(led.verify(), Kind.CHECKPOINT_FORGED, None, None, None)
    assert p.checkpoint_id == intruder and "names key" in p.detail


def make_intruder_checkpoint(led: Ledger) -> int:
    """An intruder signs the current heads with their own key, as the ledger would, and stores it."""
    theirs = Ledger(led.url, type(led.suite).generate(), schema=led._checkpoints.schema)
    try:
        return theirs.checkpoint().id
    finally:
        theirs.close()


def test_removed_checkpoint(led: Ledger) -> None:
    led.checkpoint()
    gone = led.checkpoint()
    led.append(chain(RELEASE, 0, [10]))
    last = led.checkpoint()
    sql(led, "DELETE FROM ledger_checkpoints WHERE id = :i", i=gone.id)
    p = assert_problem(led.verify(), Kind.CHECKPOINT_REMOVED, None, None, None)
    assert p.checkpoint_id == last.id


def test_chain_rewritten_after_a_checkpoint(led: Ledger) -> None:
    """An intruder changes offset 6 and recomputes every later hash: the chain is consistent again,
    but no longer what the checkpoint signed at offset 9."""
    cp = led.checkpoint()
    rewrite(led, RELEASE, 0, 6, b"rewritten")
    p = assert_problem(led.verify(), Kind.REWRITTEN, RELEASE, 0, 9)
    assert p.checkpoint_id == cp.id and "from the chain's start" in p.detail


def test_chain_rewritten_between_two_checkpoints(make_ledger: MakeLedger) -> None:
    led = make_ledger()
    led.append(chain(RELEASE, 0, range(5)))
    led.checkpoint()
    led.append(chain(RELEASE, 0, range(5, 10)))
    cp2 = led.checkpoint()
    rewrite(led, RELEASE, 0, 6, b"rewritten")
    p = assert_problem(led.verify(), Kind.REWRITTEN, RELEASE, 0, 9)
    assert p.checkpoint_id == cp2.id and "after offset 4" in p.detail


# -- tamper helpers -----------------------------------------------------------------------------------------


def row_checkpoint(led: Ledger, cid: int) -> Any:
    with led._engine.connect() as conn:
        return conn.execute(text("SELECT * FROM ledger_checkpoints WHERE id = :i"), {"i": cid}).one()


def forge(led: Ledger, r: LedgerRecord, prev: Any) -> None:
    """Insert ``r`` chained after row ``prev`` with a correct hash, as a knowledgeable intruder would."""
    from fengqiao.streams.ledger import _derive, encode_headers

    now = datetime.now(UTC)
    fake = SimpleNamespace(
        topic=r.topic,
        partition=r.partition,
        offset=r.offset,
        prev_offset=prev.offset,
        key=r.key,
        value=r.value,
        headers=encode_headers(r.headers),
        timestamp_ms=r.timestamp_ms,
        recorded_at=now,
    )
    d = _derive(r.headers, r.key)
    d["event_time"] = instant(led, d["event_time"])
    sql(
        led,
        'INSERT INTO ledger_records (topic, "partition", "offset", key, value, headers, timestamp_ms, '
        "recorded_at, event_id, event_type, case_id, source, event_time, causation_id, prev_offset, "
        "prev_hash, hash) VALUES (:topic, :partition, :offset, :key, :value, :headers, :timestamp_ms, :rec, "
        ":event_id, :event_type, :case_id, :source, :event_time, :causation_id, :prev_offset, :prev_hash, "
        ":hash)",
        **vars(fake)
        | d
        | {
            "rec": instant(led, now),
            "prev_hash": bytes(prev.hash),
            "hash": auditor_hash(bytes(prev.hash), fake, led.suite.name),
        },
    )


def is_sqlite(led: Ledger) -> bool:
    return led._engine.dialect.name == "sqlite"


def instant(led: Ledger, t: datetime | None) -> Any:
    """An instant as the database stores it (SQLite: UTC text in SQLAlchemy's format)."""
    if t is None or not is_sqlite(led):
        return t
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def rewrite(led: Ledger, topic: str, partition: int, offset: int, value: bytes) -> None:
    """Change the value at ``offset`` and recompute every later hash and link, head cache included."""
    sql(
        led,
        'UPDATE ledger_records SET value = :v WHERE topic = :t AND "partition" = :p AND "offset" = :o',
        v=value,
        t=topic,
        p=partition,
        o=offset,
    )
    with led._engine.connect() as conn:
        rows = conn.execute(
            text('SELECT * FROM ledger_records WHERE topic = :t AND "partition" = :p ORDER BY "offset"'),
            {"t": topic, "p": partition},
        ).all()
    prev = bytes(32)
    for r in rows:
        h = auditor_hash(prev, r, led.suite.name)
        sql(led, "UPDATE ledger_records SET prev_hash = :ph, hash = :h WHERE id = :i", ph=prev, h=h, i=r.id)
        prev = h
    sql(
        led,
        'UPDATE ledger_heads SET hash = :h WHERE topic = :t AND "partition" = :p',
        h=prev,
        t=topic,
        p=partition,
    )


# -- concurrency --------------------------------------------------------------------------------------------


def test_concurrent_appenders_and_a_verifier(make_ledger: MakeLedger) -> None:
    """Two archivers racing on the same records store each once; a verify running meanwhile stays clean."""
    import threading

    writers = [make_ledger(), make_ledger()]
    records = [chain(RELEASE, p, range(200)) for p in range(2)]
    batches = [records[p][i : i + 20] for i in range(0, 200, 20) for p in range(2)]
    added: list[int] = []
    errors: list[BaseException] = []

    def run(led: Ledger) -> None:
        try:
            added.extend(led.append(b) for b in batches)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    reports = []
    while any(t.is_alive() for t in threads):
        reports.append(writers[0].verify())
    for t in threads:
        t.join()
    assert not errors
    assert sum(added) == 400 and writers[0].count() == 400
    assert all(r.ok for r in reports), [str(r) for r in reports if not r.ok]
    assert writers[1].verify().ok
