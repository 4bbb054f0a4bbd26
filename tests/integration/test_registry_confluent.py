"""confluent-kafka's own Schema Registry client and Avro serdes against OUR registry, over TCP.

No broker is needed: the serializer only talks to the registry. What confluent-kafka needs for this
(checked with confluent-kafka 2.16.0): ``pip install "confluent-kafka[avro,schemaregistry]"``. The
``schemaregistry`` extra brings attrs, cachetools, certifi, authlib and, on Python >= 3.10,
``httpx2`` (not httpx: the client imports ``httpx2`` and falls back to ``httpx``); ``avro`` adds
fastavro, avro and requests on top of the same set. So the dev dependency to list is
``confluent-kafka[avro,schemaregistry]>=2.4``.
"""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest

from fengqiao.schemas.catalogue import load
from fengqiao.schemas.registry import RegistryClient, RegistryStore, serve, stop

pytest.importorskip(
    "confluent_kafka.schema_registry.avro", reason="needs confluent-kafka[avro,schemaregistry]"
)

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

EVENT = "fengqiao.release.ReleaseNoticeIssued"

RECORD = {
    "case_id": "case-0001",
    "notice_number": "青监释字〔2024〕第17号",
    "prison": {"agency_id": "P-3701", "agency_type": "prison", "name": "青山监狱"},
    "person": {"person_id": "p-1", "name": "张三", "id_number": None, "phone": None},
    "residence": {"code": "370102", "name": None},
    "expected_release_date": datetime.date(2024, 10, 4),
    "offence_category": "property",
    "key_person": False,
    "key_person_reasons": [],
}


def _with_confluent(url: str) -> dict[str, object]:
    """Blocking confluent-kafka calls; run in a thread so the server's event loop keeps serving."""
    ev = load()[EVENT]
    sr = SchemaRegistryClient({"url": url})
    out: dict[str, object] = {}

    out["id"] = sr.register_schema(EVENT, Schema(ev.schema_str(), "AVRO"))
    out["fetched"] = sr.get_schema(out["id"]).schema_str
    latest = sr.get_latest_version(EVENT)
    out["latest"] = (latest.version, latest.schema_id)
    out["lookup"] = sr.lookup_schema(EVENT, Schema(ev.schema_str(), "AVRO")).version
    out["compatible"] = sr.test_compatibility(EVENT, Schema(ev.schema_str(), "AVRO"))
    bad = dict(ev.expanded, fields=[*ev.expanded["fields"], {"name": "x", "type": "int"}])
    try:
        sr.register_schema(EVENT, Schema(json.dumps(bad), "AVRO"))
    except SchemaRegistryError as e:
        out["refused"] = (e.http_status_code, e.error_code, e.error_message)

    # round trip: the serializer registers (auto.register.schemas) under topic-value by default;
    # the hub uses RecordNameStrategy, i.e. the event's full name, so configure that
    from confluent_kafka.schema_registry import record_subject_name_strategy

    ser = AvroSerializer(sr, ev.schema_str(), conf={"subject.name.strategy": record_subject_name_strategy})
    ctx = SerializationContext("release", MessageField.VALUE)
    framed = ser(RECORD, ctx)
    out["framed"] = framed
    # a fresh client, so the deserializer really fetches the writer schema by id from our registry
    de = AvroDeserializer(SchemaRegistryClient({"url": url}))
    out["decoded"] = de(framed, ctx)
    return out


def test_confluent_client_and_serdes_against_our_registry() -> None:
    async def main() -> None:
        server, url = await serve(RegistryStore(), port=0)
        try:
            assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
            out = await asyncio.to_thread(_with_confluent, url)

            ev = load()[EVENT]
            assert isinstance(out["id"], int)
            assert json.loads(str(out["fetched"])) == json.loads(ev.schema_str())
            assert out["latest"] == (1, out["id"]) and out["lookup"] == 1 and out["compatible"] is True
            status, code, message = out["refused"]  # type: ignore[misc]
            assert (status, code) == (409, 409) and "'x'" in message
            framed = out["framed"]
            assert isinstance(framed, bytes) and framed[0] == 0
            assert int.from_bytes(framed[1:5], "big") == out["id"]  # Confluent wire format, our id
            assert out["decoded"] == RECORD

            # our own async client sees the same registry, and caches what it learnt
            async with RegistryClient(url) as client:
                assert await client.schema_for_id(int(out["id"])) == out["fetched"]
                ids = await client.register_catalogue(load())
                assert ids[EVENT] == out["id"]
                assert client.cached_schema(ids[EVENT]) is not None
        finally:
            await stop(server)
        assert server.task is not None and server.task.done()

    asyncio.run(main())


def test_serve_on_a_taken_port_fails_clearly() -> None:
    async def main() -> None:
        server, url = await serve(RegistryStore())
        try:
            port = int(url.rsplit(":", 1)[1])
            with pytest.raises(OSError):
                await serve(RegistryStore(), port=port)
        finally:
            await stop(server)

    asyncio.run(main())
