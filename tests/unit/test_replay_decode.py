"""Replay's decoder gives what fold keeps of the codec's decoding (`to_json`), for every event of the
catalogue, through a registry's schemas too, and refuses what the codec refuses."""

from __future__ import annotations

import json

import fastavro
import pytest

from fengqiao.schemas.codec import Codec, UnknownSchema, to_json
from fengqiao.schemas.framing import FramingError
from fengqiao.schemas.samples import sample_event
from fengqiao.streams.replay import codec_from_schemas
from fengqiao.streams.replay_decode import decoder
from fengqiao.streams.workflows import load_context

CATALOGUE = load_context().catalogue
CODEC = Codec(CATALOGUE, {ev.fullname: i + 1 for i, ev in enumerate(CATALOGUE)})


@pytest.mark.parametrize("seed", range(4))
def test_every_event_decodes_to_what_fold_keeps(seed: int) -> None:
    decode = decoder(CODEC)
    for ev in CATALOGUE:
        value = CODEC.encode(ev.name, sample_event(ev, "C-1", seed=seed))
        got_ev, got, as_json = decode(value)
        assert got_ev is ev and as_json and got == to_json(CODEC.decode(value)[1]), ev.name


def test_through_a_registrys_schemas_old_versions_included() -> None:
    ev = CATALOGUE["ReleaseNoticeIssued"]
    old = json.loads(ev.schema_str())
    old["fields"] = [
        f for f in old["fields"] if "default" not in f or f["name"] == "case_id"
    ]  # an older version
    schemas = [(CODEC.schema_id(e.name), e.schema_str()) for e in CATALOGUE] + [(999, json.dumps(old))]
    codec = codec_from_schemas(schemas, CATALOGUE)
    decode = decoder(codec)
    record = sample_event(ev, "C-1", seed=1)
    current = CODEC.encode(ev.name, record)
    assert decode(current)[1:] == (to_json(codec.decode(current)[1]), True)  # the current version
    older = b"\x00\x00\x00\x03\xe7" + fastavro_body(old, record)
    _, got, as_json = decode(older)  # resolved, as the codec does, and not in fold's form
    assert not as_json and got == codec.decode(older)[1]


def fastavro_body(schema: dict, record: dict) -> bytes:
    from io import BytesIO

    buf = BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


def test_what_the_codec_refuses_is_refused() -> None:
    decode = decoder(CODEC)
    with pytest.raises(FramingError):
        decode(b"\x01\x00\x00\x00\x01")
    with pytest.raises(FramingError):
        decode(b"\x00\x00")
    with pytest.raises(KeyError):  # the codec: UnknownSchema, a LookupError too
        decode(b"\x00\x00\x00\x7f\x7f\x02")
    with pytest.raises(UnknownSchema):
        CODEC.decode(b"\x00\x00\x00\x7f\x7f\x02")
    value = CODEC.encode("ReleaseNoticeIssued", sample_event(CATALOGUE["ReleaseNoticeIssued"], "C-1"))
    with pytest.raises(Exception):  # noqa: B017 - a truncated body: fastavro raises one of several kinds
        decode(value[:20])
