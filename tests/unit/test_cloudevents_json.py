"""CloudEvents structured JSON, as `fengqiao publish` and agency systems send it."""

from __future__ import annotations

import json

import pytest

from fengqiao.connectors.cloudevents_json import Refused, parse
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec


@pytest.fixture(scope="module")
def codec() -> Codec:
    cat = load()
    return Codec(cat, {e.fullname: 1 + i for i, e in enumerate(cat)})


@pytest.fixture
def event() -> dict:
    return demo_events(1)[0]


def test_the_demo_scenario_is_valid(codec: Codec) -> None:
    for e in demo_events(2):
        acc = parse(codec, json.dumps(e))
        assert acc.envelope.subject == acc.record["case_id"] == e["subject"]


def test_refuses_wrong_type_naming_the_field(codec: Codec, event: dict) -> None:
    event["data"]["key_person"] = "yes"
    with pytest.raises(Refused) as r:
        parse(codec, json.dumps(event))
    assert [(e.path, e.reason) for e in r.value.errors] == [
        ("data.key_person", 'expected true or false, got "yes"')
    ]


@pytest.mark.parametrize("attr", ["id", "source", "type", "specversion"])
def test_refuses_missing_required_attribute(codec: Codec, event: dict, attr: str) -> None:
    # The SDK would invent an id; the hub must not, or a retried publish would be applied twice.
    del event[attr]
    with pytest.raises(Refused, match=f"{attr}: required CloudEvents attribute is missing"):
        parse(codec, json.dumps(event))


def test_refuses_unknown_type_and_mismatched_subject(codec: Codec, event: dict) -> None:
    with pytest.raises(Refused, match="unknown event type 'NoSuchEvent'"):
        parse(codec, json.dumps({**event, "type": "NoSuchEvent"}))
    with pytest.raises(Refused, match=r"subject 'other' differs from data\.case_id"):
        parse(codec, json.dumps({**event, "subject": "other"}))


def test_refuses_non_json(codec: Codec) -> None:
    with pytest.raises(Refused, match="not JSON"):
        parse(codec, "{nope")
