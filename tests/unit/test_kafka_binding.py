"""Our records are CloudEvents in Kafka's binary mode as the `cloudevents` SDK's own Kafka binding reads
and writes them (cloudevents>=2: `cloudevents.core.bindings.kafka`).

The hub builds the ``ce_*`` headers itself (`Envelope.to_headers`) because it does so for every record on
the hot path; these tests hold it to the SDK, both ways, so a third-party client using the SDK reads
every record the hub writes, and the hub reads what the SDK writes."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from fengqiao.schemas.envelope import Envelope

ENV = Envelope(
    id="evt-0001",
    source="zj-prison-2",
    type="ReleaseNoticeIssued",
    subject="REL-2026-0001",
    time=datetime(2026, 10, 1, 2, 30, 15, 250000, tzinfo=UTC),
    dataschema="urn:fengqiao:schema:fengqiao.release.ReleaseNoticeIssued:7",
    correlationid="corr-1",
    jurisdiction="339901001001",
)
# A framed Avro body (magic byte, schema id 7, then zig-zag varints: bytes >= 0x80 are common). The SDK's
# JSON format gives a body that happens to be UTF-8 back as text, so a reader should take the record's
# value as its bytes (`message.value`) rather than `get_data()`; here it is not UTF-8, as is usual.
AVRO = b"\x00\x00\x00\x00\x07\x82\x01\xff\x10REL"


def test_the_sdk_reads_the_hubs_headers_as_the_same_cloudevent() -> None:
    msg = KafkaMessage(headers=dict(ENV.to_headers()), key=ENV.subject.encode(), value=AVRO)
    event = from_binary(msg, JSONFormat(), CloudEvent)
    attrs = event.get_attributes()
    assert attrs["specversion"] == "1.0"
    assert (attrs["id"], attrs["source"], attrs["type"], attrs["subject"]) == (
        ENV.id,
        ENV.source,
        ENV.type,
        ENV.subject,
    )
    assert attrs["time"] == ENV.time
    assert attrs["dataschema"] == ENV.dataschema
    assert attrs["datacontenttype"] == ENV.datacontenttype
    assert attrs["correlationid"] == "corr-1" and attrs["jurisdiction"] == "339901001001"
    assert event.get_data() == AVRO  # the Avro body untouched: the registry's frame and all


def test_the_hub_reads_what_the_sdk_writes() -> None:
    event = CloudEvent(
        attributes={
            "id": ENV.id,
            "source": ENV.source,
            "type": ENV.type,
            "subject": ENV.subject,
            "time": ENV.time,
            "specversion": "1.0",
            "datacontenttype": ENV.datacontenttype,
            "dataschema": ENV.dataschema,
            "correlationid": "corr-1",
            "jurisdiction": "339901001001",
        },
        data=AVRO,
    )
    msg = to_binary(event, JSONFormat())
    back = Envelope.from_headers(msg.headers)
    assert back == ENV
    assert msg.value == AVRO
