"""Who may publish what: each rule of connectors/authz.py refuses by name, and a party is let in."""

from __future__ import annotations

from typing import Any

import pytest

from fengqiao.connectors.authz import Authorizer, Forbidden
from fengqiao.connectors.cloudevents_json import parse
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.streams.directory import load_demo
from fengqiao.streams.workflows import load_context

CATALOGUE = load()
CODEC = Codec(CATALOGUE, {})


def notice(**changes: Any) -> dict[str, Any]:
    e = next(e for e in demo_events(1) if e["type"] == "ReleaseNoticeIssued")
    return {**e, **changes}


def acknowledgement(source: str) -> dict[str, Any]:
    e = next(e for e in demo_events(1) if e["type"] == "ReleaseNoticeAcknowledged")
    return {**e, "source": source}


def authorizer(cases: dict[str, dict[str, Any]] | None = None) -> Authorizer:
    async def lookup(case_id: str) -> dict[str, Any] | None:
        return (cases or {}).get(case_id)

    opening = frozenset(e for wf in load_context().workflows.values() for e in wf.opened_by)
    return Authorizer(load_demo(), CATALOGUE, lookup, opening)


def open_case(case_id: str, code: str = "339901001001", **parts: Any) -> dict[str, Any]:
    """A release case the prison opened for a residence at ``code`` (what a worker's /cases/ shows)."""
    notice = {"prison": {"agency_id": "zj-prison-2"}, "residence": {"code": code}}
    return {
        "case_id": case_id,
        "opened_at": "2026-10-04T00:00:00.000Z",
        "events": [{"id": "n", "type": "ReleaseNoticeIssued", "source": "zj-prison-2"}],
        "facts": {"ReleaseNoticeIssued": notice},
        "handoffs": {},
        **parts,
    }


async def refused(auth: Authorizer, agency: str, event: dict[str, Any]) -> Forbidden:
    with pytest.raises(Forbidden) as e:
        await auth.check(agency, parse(CODEC, event))
    return e.value


async def test_the_prison_opens_a_case_in_another_county_it_names_itself_in() -> None:
    await authorizer().check("zj-prison-2", parse(CODEC, notice()))


async def test_an_unknown_agency_is_refused() -> None:
    assert (await refused(authorizer(), "nobody", notice())).rule == "agency-known"


async def test_no_one_speaks_for_another_agency() -> None:
    f = await refused(authorizer(), "qs-jo-1", notice())
    assert f.rule == "source-is-agency" and "zj-prison-2" in f.reason


async def test_an_agency_type_publishes_only_its_event_types() -> None:
    f = await refused(authorizer(), "qs-jo-1", notice(source="qs-jo-1"))
    assert f.rule == "event-type-allowed" and "prison" in f.reason


async def test_an_office_of_another_county_is_refused_for_the_case() -> None:
    ack = acknowledgement("by-jo-1")  # 白云镇司法所, county 339902; the case lies in 339901
    f = await refused(authorizer({ack["subject"]: open_case(ack["subject"])}), "by-jo-1", ack)
    assert f.rule == "own-jurisdiction" and "339901001001" in f.reason and "339902001" in f.reason


async def test_an_office_in_whose_area_the_case_lies_may_act() -> None:
    await authorizer().check("qs-jo-1", parse(CODEC, acknowledgement("qs-jo-1")))


async def test_a_party_of_an_open_case_may_act_outside_its_area() -> None:
    ack = acknowledgement("by-jo-1")
    case = open_case(ack["subject"], handoffs={"h": {"obliged": {"agency_id": "by-jo-1"}}})
    await authorizer({ack["subject"]: case}).check("by-jo-1", parse(CODEC, ack))


async def test_naming_oneself_in_an_event_does_not_enter_an_open_case() -> None:
    ack = acknowledgement("by-jo-1")
    ack["data"] = {**ack["data"], "office": {"agency_id": "by-jo-1", "agency_type": "judicial_office"}}
    case = open_case(ack["subject"])
    f = await refused(authorizer({ack["subject"]: case}), "by-jo-1", ack)
    assert f.rule == "own-jurisdiction"


async def test_an_event_for_a_case_not_yet_open_does_not_make_its_sender_a_party() -> None:
    """Else an office could guess a case id, be held on it, and read the case once it opens."""
    ack = acknowledgement("by-jo-1")
    ack["data"] = {**ack["data"], "office": {"agency_id": "by-jo-1", "agency_type": "judicial_office"}}
    ack["jurisdiction"] = "339901001001"
    f = await refused(authorizer(), "by-jo-1", ack)
    assert f.rule == "every-place" and "jurisdiction names division 339901001001" in f.reason
