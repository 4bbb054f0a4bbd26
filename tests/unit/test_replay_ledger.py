"""Replay's hot path (`replay_ledger`: raw rows, its own decoder, folding in place, shards over processes)
gives exactly the cases — and their order — of the plain fold of the ledger's records, on the bench's
log of the demo mix and on records the workers refuse or a repartitioned topic."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fengqiao.scenario.simulate import bench_codec, build_ledger
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope
from fengqiao.streams import engine, topics
from fengqiao.streams.acceptance import refusal
from fengqiao.streams.crypto import Sha256Ed25519
from fengqiao.streams.ledger import Ledger, LedgerRecord
from fengqiao.streams.replay import ledger_records, replay, replay_ledger
from fengqiao.streams.replay_parallel import replay_sharded
from fengqiao.streams.workflows import all_workflows

CODEC = bench_codec()


def plain_fold(records: list[LedgerRecord], codec: Codec) -> dict[str, engine.Case]:
    """The replay loop as first written: one record at a time, the codec's decode, a copying fold."""
    all_workflows(codec.catalogue)
    by_topic = {topics.workflow_topic(w): w for w in codec.catalogue.workflows()}
    cases: dict[str, engine.Case] = {}
    for rec in records:
        workflow = by_topic.get(rec.topic)
        if workflow is None or rec.value is None:
            continue
        try:
            env = Envelope.from_headers(rec.headers)
            ev, record = codec.decode(rec.value)
        except Exception:
            continue
        if refusal(rec.topic, (rec.key or b"").decode("utf-8", "replace"), env, ev, record):
            continue
        cases[env.subject], _ = engine.fold(cases.get(env.subject), env, record, workflow)
    return cases


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path: Path = tmp_path_factory.mktemp("replay") / "ledger.db"
    with Ledger(f"sqlite:///{path}", Sha256Ed25519.generate()) as led:
        build_ledger(led, CODEC, 600)  # two copies of the demo mix
        led.append(_odd_records(led))
        yield led


def _odd_records(led: Ledger) -> list[LedgerRecord]:
    """What the workers refuse or read in a way of their own, and a case that spans two partitions."""
    topic = topics.workflow_topic("release")
    sample = next(r for r in led.read(topics=[topic]) if r.event_type == "ReleaseNoticeIssued")
    case_id = sample.case_id or ""
    record = CODEC.decode(sample.value or b"")[1]
    env = Envelope.from_headers(sample.headers)
    nexts = {p: o + 1 for (t, p), o in led.positions().items() if t == topic}

    def at(
        partition: int, headers: list[tuple[str, bytes | None]], value: bytes, key: str = case_id
    ) -> LedgerRecord:
        offset = nexts.get(partition, 0)
        nexts[partition] = offset + 1
        return LedgerRecord.from_kafka(topic, partition, offset, key.encode(), value, headers, 0)

    def fresh(n: int, **kw: Any) -> list[tuple[str, bytes | None]]:
        return env.with_(id=f"odd-{n}", **kw).to_headers()

    value = CODEC.encode("ReleaseNoticeIssued", record)
    p = sample.partition
    other = (p + 1) % 4  # another parity: the shards must notice the case spans them
    return [
        at(p, [h for h in fresh(1) if h[0] != "ce_id"], value),  # no ce_id
        at(p, [*fresh(2), ("traceparent", b"\xff\xfe")], value),  # a header that is not UTF-8
        at(p, fresh(3), b"\x00\x00\x00\x7f\x7f" + value[5:]),  # a schema id nobody gave out
        at(p, fresh(4), b"not avro"),
        at(p, fresh(5, type="HandoffAssigned"), CODEC.encode("ReleaseNoticeIssued", record)),  # type mismatch
        at(p, [*fresh(6), ("ce_causationid", None)], value),  # a null header: "None", as the workers read it
        at(p, fresh(7, subject="someone-else"), value),  # the case ids disagree
        at(other, fresh(8, time=env.time.replace(year=2027)), value),  # the same case on another partition
    ]


def test_the_hot_path_gives_the_plain_folds_cases_in_its_order(ledger: Ledger) -> None:
    expected = plain_fold(list(ledger_records(ledger, CODEC.catalogue)), CODEC)
    assert len(expected) > 40
    assert any(e["id"] == "odd-6" for c in expected.values() for e in c["events"])
    for got in (
        replay(ledger_records(ledger, CODEC.catalogue), CODEC),
        replay_ledger(ledger, CODEC),
        replay_ledger(ledger, CODEC, workers=2),  # the spanning case: back to one process
    ):
        assert json.dumps(got) == json.dumps(expected)
    assert replay_sharded(ledger, CODEC, 2) is None  # it did fall back


def test_until_and_one_case_and_shards(ledger: Ledger) -> None:
    records = list(ledger_records(ledger, CODEC.catalogue))
    middle = records[len(records) // 2].recorded_at
    case_id = records[-1].case_id
    assert json.dumps(replay_ledger(ledger, CODEC, until=middle, workers=2)) == json.dumps(
        plain_fold(list(ledger_records(ledger, CODEC.catalogue, until=middle)), CODEC)
    )
    assert json.dumps(replay_ledger(ledger, CODEC, case_id=case_id)) == json.dumps(
        plain_fold(list(ledger_records(ledger, CODEC.catalogue, case_id=case_id)), CODEC)
    )


def test_shards_split_the_cases_when_each_lies_in_one_partition(tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", Sha256Ed25519.generate()) as led:
        build_ledger(led, CODEC, 300)
        seen: list[int] = []
        sharded = replay_sharded(led, CODEC, 2, progress=seen.append)
        assert sharded is not None  # no fallback: the split held
        assert json.dumps(sharded) == json.dumps(replay_ledger(led, CODEC))
        assert seen[-1] == len(list(ledger_records(led, CODEC.catalogue)))  # progress ends at every row


HUB = Envelope.new("HandoffAssigned", "XS-1", causationid="e-1", policyversion="2026.1")


@pytest.mark.parametrize(
    "headers",
    [
        Envelope.new("PersonReleased", "XS-1", source="zj-prison-2").to_headers(),  # the hub's layout
        HUB.with_(dataschema="http://r/schemas/ids/7", jurisdiction="339901001001").to_headers(),
        HUB.with_(correlationid=None, policyversion="").to_headers(),  # an empty optional value
        HUB.with_(id="x" * 300).to_headers(),  # a long value: the ASCII pass
        HUB.with_(source="a\x00b").to_headers(),  # a NUL in a value
        HUB.with_(id="").to_headers(),  # missing, as from_headers says
        HUB.with_(specversion="0.3").to_headers(),
        [*HUB.to_headers()[:5], ("ce_time", b"yesterday"), *HUB.to_headers()[6:]],
        [*HUB.to_headers()[:5], *HUB.to_headers()[6:]],  # no ce_time: now (compared apart)
        list(reversed(HUB.to_headers())),  # another order: the ASCII pass
        Envelope.new("PersonReleased", "XS-1", source="青山监狱").to_headers(),  # not ASCII: the long way
        [*HUB.to_headers(), ("ce_subject", b"XS-2")],  # the last one wins
        [*HUB.to_headers(), ("ce_causationid", None)],  # read as "None"
        [*HUB.to_headers(), ("x", b"\xff")],  # not UTF-8
        [("ce_id", b"1"), ("ce_type", b"X")],  # not an envelope
    ],
)
def test_a_rows_headers_block_reads_as_the_workers_read_its_headers(headers: list[Any]) -> None:
    from fengqiao.schemas.envelope import EnvelopeError
    from fengqiao.streams.ledger import encode_headers
    from fengqiao.streams.replay_headers import BlockError, envelope_of_block

    def outcome(make: Any) -> Any:
        try:
            env = make()
        except EnvelopeError as e:
            return str(e)
        return env if any(n == "ce_time" for n, _ in headers) else env.with_(time=None)

    block = encode_headers(headers)
    assert outcome(lambda: envelope_of_block(block)) == outcome(lambda: Envelope.from_headers(headers))
    for bad in (block[:-1], block + b"\x00", block[:3]):
        with pytest.raises(BlockError):
            envelope_of_block(bad)


@pytest.mark.parametrize("parity", [0, 1])
def test_a_tampered_headers_column_stops_replay_in_every_process(tmp_path: Path, parity: int) -> None:
    import multiprocessing

    from sqlalchemy import text

    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", Sha256Ed25519.generate()) as led:
        build_ledger(led, CODEC, 300)
        with led._engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE ledger_records SET headers = CAST(headers || X'00' AS BLOB) WHERE id = "
                    "(SELECT min(id) FROM ledger_records WHERE partition % 2 = :p)"
                ),
                {"p": parity},
            )
        for workers in (1, 2):
            with pytest.raises(ValueError, match="trailing"):
                replay_ledger(led, CODEC, workers=workers)
        assert multiprocessing.active_children() == []


def test_an_in_memory_ledger_which_a_child_cannot_open_replays_in_one_process() -> None:
    with Ledger("sqlite:///:memory:", Sha256Ed25519.generate()) as led:
        build_ledger(led, CODEC, 300)
        assert replay_sharded(led, CODEC, 2) is None
        assert json.dumps(replay_ledger(led, CODEC, workers=2)) == json.dumps(replay_ledger(led, CODEC))
