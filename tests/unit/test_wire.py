"""Framing, envelope and codec: what goes on the wire, and the answers a publisher gets for bad input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec, ValidationFailed, to_json
from fengqiao.schemas.envelope import Envelope, EnvelopeError
from fengqiao.schemas.framing import FramingError, frame, unframe
from fengqiao.schemas.samples import sample_event


@pytest.fixture(scope="module")
def codec() -> Codec:
    cat = load()
    return Codec(cat, {e.fullname: 100 + i for i, e in enumerate(cat)})


def test_confluent_framing_is_magic_byte_id_and_body() -> None:
    data = frame(258, b"body")
    assert data[:5] == b"\x00\x00\x00\x01\x02"
    sid, body = unframe(data)
    assert (sid, bytes(body)) == (258, b"body")


@pytest.mark.parametrize(("data", "reason"), [(b"", "at least 5"), (b"\x01\x00\x00\x00\x01x", "magic byte")])
def test_unframe_refuses_what_is_not_framed(data: bytes, reason: str) -> None:
    with pytest.raises(FramingError, match=reason):
        unframe(data)


def test_envelope_round_trips_through_kafka_headers() -> None:
    env = Envelope.new(
        "ReleaseNoticeIssued",
        "XS-1",
        source="zj-prison-2",
        jurisdiction="339901001001",
        policyversion="2026.1",
        dataschema="http://r/schemas/ids/3",
    )
    headers = dict(env.to_headers())
    assert headers["ce_subject"] == b"XS-1" and headers["ce_specversion"] == b"1.0"
    assert headers["content-type"] == b"application/avro"
    assert headers["ce_correlationid"] == b"XS-1"  # the case id is the control number by default
    back = Envelope.from_headers(env.to_headers())
    assert back == env.with_(time=back.time) and abs((back.time - env.time).total_seconds()) < 0.001


def test_caused_envelope_keeps_case_and_correlation() -> None:
    env = Envelope.new("PersonReleased", "XS-1", source="prison")
    child = env.caused("CaseUpdated")
    assert (child.subject, child.correlationid, child.causationid) == ("XS-1", "XS-1", env.id)


def test_envelope_names_missing_headers() -> None:
    with pytest.raises(EnvelopeError, match="ce_id, ce_source"):
        Envelope.from_headers([("ce_type", b"X"), ("ce_subject", b"c"), ("ce_specversion", b"1.0")])


def test_every_event_encodes_and_decodes(codec: Codec) -> None:
    for ev in codec.catalogue:
        record = sample_event(ev, "C-1")
        decoded_ev, decoded = codec.decode(codec.encode(ev.name, record))
        assert decoded_ev.name == ev.name
        assert to_json(decoded) == to_json(record)


def test_validation_names_each_bad_field(codec: Codec) -> None:
    data = to_json(sample_event(codec.catalogue["ReleaseNoticeIssued"], "XS-1"))
    data["key_person"] = "yes"
    data["person"]["id_number"] = "110105194912310021"  # wrong check digit
    data["expected_release_date"] = "next week"
    del data["prison"]
    with pytest.raises(ValidationFailed) as e:
        codec.from_json("ReleaseNoticeIssued", data)
    by_path = {fe.path: fe.reason for fe in e.value.errors}
    assert by_path["key_person"] == 'expected true or false, got "yes"'
    assert "resident identity card" in by_path["person.id_number"]
    assert "date YYYY-MM-DD" in by_path["expected_release_date"]
    assert by_path["prison"] == "required field is missing"


def test_local_time_without_offset_is_beijing_time(codec: Codec) -> None:
    data = to_json(sample_event(codec.catalogue["PersonReleased"], "XS-1"))
    data["released_at"] = "2026-12-01T08:00:00"
    record = codec.from_json("PersonReleased", data)
    assert record["released_at"] == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def test_a_type_defined_in_an_empty_optional_field_is_known_further_on() -> None:
    """Agency input may leave the field that defines a named type null and use the type later."""
    from fengqiao.schemas.codec import from_json, named_types

    ref = {"type": "record", "name": "Ref", "namespace": "x", "fields": [{"name": "id", "type": "string"}]}
    schema = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "a", "type": ["null", ref], "default": None}, {"name": "b", "type": "x.Ref"}],
    }
    errors: list = []
    assert from_json(schema, {"a": None, "b": {"id": "1"}}, "", errors, named_types(schema)) == {
        "a": None,
        "b": {"id": "1"},
    }
    assert errors == []
