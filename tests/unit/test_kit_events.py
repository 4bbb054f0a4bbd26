"""The conformance kit's events (connectors/kit_events.py): for any agency of the demo directory and
any event type it may publish, the generated event is valid and authorised for that agency on a new
case — its places in the agency's own area — and the broken one is refused naming the broken field."""

from __future__ import annotations

import pytest

from fengqiao.connectors.authz import Authorizer
from fengqiao.connectors.cloudevents_json import Refused, parse
from fengqiao.connectors.kit_events import NotPublishable, break_one, check_declaration, generate
from fengqiao.schemas.codec import plain_codec
from fengqiao.streams.workflows import load_context

CODEC, CTX = plain_codec(), load_context()
PAIRS = [
    (a.id, ev.name)
    for a in CTX.directory
    for ev in CODEC.catalogue
    if ev.direction == "in" and a.type in ev.publishers
]


async def none(case_id: str) -> None:
    return None


@pytest.mark.parametrize(("agency", "etype"), PAIRS)
async def test_a_generated_event_is_valid_and_authorised_for_its_agency(agency: str, etype: str) -> None:
    event = generate(CODEC.catalogue, CTX.directory, agency, etype, "KIT-t-001")
    assert event["source"] == agency and event["type"] == etype
    await Authorizer(CTX.directory, CODEC.catalogue, none).check(agency, parse(CODEC, event))


@pytest.mark.parametrize(
    ("agency", "etype"), [("qs-ca", "AssistanceGranted"), ("zj-prison-2", "ReleaseNoticeIssued")]
)
def test_the_broken_event_is_refused_naming_the_field(agency: str, etype: str) -> None:
    event = generate(CODEC.catalogue, CTX.directory, agency, etype, "KIT-t-002")
    field = break_one(CODEC.catalogue, event)
    with pytest.raises(Refused, match=field):
        parse(CODEC, event)


def test_a_declaration_the_agency_cannot_publish_is_named() -> None:
    with pytest.raises(NotPublishable, match="qs-ca is a civil_affairs and ReleaseNoticeIssued"):
        check_declaration(CODEC.catalogue, CTX.directory, "qs-ca", ["ReleaseNoticeIssued"])
    with pytest.raises(NotPublishable, match="not in the hub's agency directory"):
        check_declaration(CODEC.catalogue, CTX.directory, "nobody", ["AssistanceGranted"])
