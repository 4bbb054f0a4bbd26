"""The event path against the real embedded broker over TCP: publish → worker → case → output.

One hub (broker, registry, worker process) serves the whole session; each test uses its own case ids.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import collect, header, run_cli

from fengqiao.connectors.cloudevents_json import parse
from fengqiao.hub import Hub
from fengqiao.scenario import demo_events
from fengqiao.schemas.codec import to_json
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.personal.reveal import Reader
from fengqiao.streams.publisher import Publisher

pytestmark = pytest.mark.integration


def _event(case_id: str, step: int = 0) -> dict:
    """The demo's release script, re-keyed to a fresh case id."""
    e = json.loads(json.dumps(demo_events(1)[step]))
    e["subject"] = e["data"]["case_id"] = case_id
    e["id"] = f"{case_id}-{uuid.uuid4().hex[:8]}"
    return e


def _cli(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(settings.data_dir, *args, stdin=stdin)


def _updates_for(hub: Hub, case_id: str, want: int, caused_by: set[str] | None = None) -> list:
    """CaseUpdated records of a case; with ``caused_by``, only those the given events caused
    (the hub's own timer decisions update the case too)."""

    def match(m: Any) -> bool:
        return m.key == case_id.encode() and (caused_by is None or header(m, "ce_causationid") in caused_by)

    return asyncio.run(collect(hub.bootstrap, topics.CASE_UPDATES, match, want))


def test_publish_refuses_a_wrong_type_naming_the_field_and_publishes_the_rest(
    hub: Hub, hub_settings: Settings
) -> None:
    good1, bad, good2 = _event("PUB-1"), _event("PUB-2"), _event("PUB-3")
    bad["data"]["key_person"] = "yes"
    lines = "\n".join(json.dumps(e, ensure_ascii=False) for e in (good1, bad, good2)) + "\n"
    r = _cli(hub_settings, "publish", "-", stdin=lines)
    assert r.returncode == 1, r.stderr
    assert "line 2" in r.stderr and "data.key_person" in r.stderr and "expected true or false" in r.stderr
    assert r.stdout.split() == [good1["id"], good2["id"]]
    for case, good in (("PUB-1", good1), ("PUB-3", good2)):
        [update] = _updates_for(hub, case, 1, {good["id"]})
        assert header(update, "ce_causationid") == good["id"]
    assert "2 accepted" in r.stderr and "1 refused" in r.stderr
    refused = httpx.get(f"{hub.endpoints.workers[0]}/cases/PUB-2/", follow_redirects=True)
    assert refused.status_code == 404


def test_garbage_goes_to_dead_letters_and_the_next_record_is_processed(hub: Hub) -> None:
    assert hub.codec is not None
    good = parse(hub.codec, _event("DLQ-1"))

    async def go() -> tuple[int, list, list]:
        async with Publisher(hub.bootstrap, hub.codec) as pub:
            await pub.send_raw(
                topics.workflow_topic("release"),
                b"\x00\x00\x0f\x42\x3fgarbage",
                b"DLQ-1",
                good.envelope.with_(id="garbage-1").to_headers(),
            )
            published = await pub.publish(good.envelope, good.record)
        dead = await collect(hub.bootstrap, topics.DEAD_LETTERS, lambda m: m.key == b"DLQ-1")
        # The update the agency's record caused: the hub's decisions on the case update it too, and
        # on a loaded machine they may come in the same fetch.
        updates = await collect(
            hub.bootstrap,
            topics.CASE_UPDATES,
            lambda m: m.key == b"DLQ-1" and header(m, "ce_causationid") == good.envelope.id,
        )
        return published.partition, dead, updates

    partition, dead, updates = asyncio.run(go())
    assert len(dead) == 1 and len(updates) == 1, (dead, updates)
    _, letter = hub.codec.decode(dead[0].value)
    assert letter["error_kind"] == "undecodable", letter
    assert "schema id 999999 is not known" in letter["reason"], letter
    assert letter["original_value"] == b"\x00\x00\x0f\x42\x3fgarbage"
    assert letter["source_topic"] == topics.workflow_topic("release") and letter["source_offset"] >= 0
    assert letter["original_headers"]["ce_id"] == b"garbage-1"
    assert header(updates[0], "ce_causationid") == good.envelope.id
    # Same key, same partition: the garbage did not block the record right behind it.
    assert letter["source_partition"] == partition


def test_records_carry_the_cloudevents_envelope_and_confluent_framing(hub: Hub) -> None:
    assert hub.codec is not None
    acc = parse(hub.codec, _event("ENV-1"))

    async def go() -> list:
        async with Publisher(hub.bootstrap, hub.codec) as pub:
            await pub.publish(acc.envelope, acc.record)
        # The agency's record only: the hub's decisions on the case (same key) may come in the same fetch.
        return await collect(
            hub.bootstrap, topics.workflow_topic("release"), lambda m: header(m, "ce_id") == acc.envelope.id
        )

    [msg] = asyncio.run(go())
    for name in (
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_specversion",
        "content-type",
        "ce_dataschema",
        "ce_correlationid",
        "ce_jurisdiction",
    ):
        assert header(msg, name), name
    assert header(msg, "ce_subject") == "ENV-1" == msg.key.decode()
    # A stable URN (subject and schema id), not the embedded registry's random port (issue 15).
    sid = hub.codec.schema_id("ReleaseNoticeIssued")
    expected = f"urn:fengqiao:schema:fengqiao.release.ReleaseNoticeIssued:{sid}"
    assert header(msg, "ce_dataschema") == expected
    assert hub.registry_url not in header(msg, "ce_dataschema")
    assert msg.value[0] == 0  # Confluent magic byte
    schema_id = int.from_bytes(msg.value[1:5], "big")
    assert schema_id == hub.codec.schema_id("ReleaseNoticeIssued")


def test_another_client_reads_the_hubs_records_with_confluents_deserializer(hub: Hub) -> None:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    assert hub.codec is not None
    acc = parse(hub.codec, _event("CFK-1"))

    async def go() -> None:
        async with Publisher(hub.bootstrap, hub.codec) as pub:
            await pub.publish(acc.envelope, acc.record)

    asyncio.run(go())
    deserialize = AvroDeserializer(SchemaRegistryClient({"url": hub.registry_url}))
    consumer = Consumer(
        {
            "bootstrap.servers": hub.bootstrap,
            "group.id": f"cfk-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
        }
    )
    # Assigned, not subscribed: a group join with librdkafka's 45 s session takes ~20 s on Tansu.
    consumer.assign(
        [
            TopicPartition(t, p, OFFSET_BEGINNING)
            for t in (topics.workflow_topic("release"), topics.CASE_UPDATES)
            for p in range(4)
        ]
    )
    found: dict[str, dict] = {}
    try:
        deadline = time.monotonic() + 120  # poll gives one record: the session's log may be long
        while len(found) < 2 and time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is None or msg.error() or msg.key() != b"CFK-1":
                continue
            h = {k: v.decode() for k, v in msg.headers() or []}
            # The agency's event itself, and the update it caused (not the hub's decisions on the case).
            wanted = "ce_causationid" if msg.topic() == topics.CASE_UPDATES else "ce_id"
            if h.get(wanted) == acc.envelope.id:
                found[msg.topic()] = deserialize(
                    msg.value(), SerializationContext(msg.topic(), MessageField.VALUE)
                )
    finally:
        consumer.close()
    theirs = found[topics.workflow_topic("release")]
    # The personal fields travel sealed (docs/personal-data.md): the client reads the sealed form,
    # the hub's key store opens it to exactly what was published.
    assert all(theirs["person"][f].startswith("fq1:") for f in ("name", "id_number", "phone"))
    assert hub.protection is not None
    opened = hub.protection.reveal(theirs, Reader("test", "test"), clear=True)
    ours = hub.codec.decode(hub.codec.encode("ReleaseNoticeIssued", acc.record))[1]
    assert to_json(opened) == to_json(ours)
    assert found[topics.CASE_UPDATES]["event_id"] == acc.envelope.id
    assert found[topics.CASE_UPDATES]["case_id"] == "CFK-1"


def test_the_same_event_twice_has_one_effect(hub: Hub) -> None:
    assert hub.codec is not None
    acc = parse(hub.codec, _event("DUP-1"))
    second = parse(hub.codec, _event("DUP-1", step=1))

    async def go() -> None:
        async with Publisher(hub.bootstrap, hub.codec) as pub:
            for a in (acc, acc, second):  # a redelivery, then the next event as a marker
                await pub.publish(a.envelope, a.record)

    asyncio.run(go())
    ids = {acc.envelope.id, second.envelope.id}
    # Same partition, in order: were the duplicate applied, its update would come before the marker's.
    updates = _updates_for(hub, "DUP-1", 2, ids)
    assert [header(u, "ce_causationid") for u in updates] == [acc.envelope.id, second.envelope.id]
    case = httpx.get(f"{hub.endpoints.workers[0]}/cases/DUP-1/", follow_redirects=True).json()
    agency_events = [e["id"] for e in case["events"] if e["source"] != "fengqiao-hub"]
    assert agency_events == [acc.envelope.id, second.envelope.id]


def test_case_show_and_tail_commands(hub: Hub, hub_settings: Settings) -> None:
    assert hub.codec is not None
    acc = parse(hub.codec, _event("SHOW-1"))

    async def go() -> None:
        async with Publisher(hub.bootstrap, hub.codec) as pub:
            await pub.publish(acc.envelope, acc.record)

    asyncio.run(go())
    _updates_for(hub, "SHOW-1", 1, {acc.envelope.id})
    r = _cli(hub_settings, "case", "show", "SHOW-1", "--json")
    assert r.returncode == 0, r.stderr
    case = json.loads(r.stdout)
    # The hub's decisions may be folded in already; the timeline is in canonical (time, id) order.
    assert case["case_id"] == "SHOW-1" and acc.envelope.id in [e["id"] for e in case["events"]]
    r = _cli(hub_settings, "case", "show", "NO-SUCH-CASE")
    assert r.returncode == 1 and "NO-SUCH-CASE" in r.stderr
    r = _cli(
        hub_settings, "tail", topics.workflow_topic("release"), "--from-beginning", "--limit", "1", "--json"
    )
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout.splitlines()[0])
    assert first["envelope"]["specversion"] == "1.0" and first["topic"] == topics.workflow_topic("release")


def test_commands_without_a_running_hub_say_what_to_do(tmp_path: Path) -> None:
    r = _cli(Settings(data_dir=tmp_path), "publish", "-", stdin="{}\n")
    assert r.returncode == 2 and "fengqiao up" in r.stderr
