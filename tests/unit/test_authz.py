"""Who may publish what: each rule of connectors/authz.py refuses by name, and a party is let in."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from fengqiao.connectors.authz import Authorizer, Forbidden
from fengqiao.connectors.cloudevents_json import parse
from fengqiao.scenario import VILLAGE, demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec, to_json
from fengqiao.schemas.samples import sample_event
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


def opening(event_type: str, agency: str, atype: str, code: str, **data: Any) -> dict[str, Any]:
    """An event of ``agency`` that opens case W-1, every place in it at ``code``, naming itself."""
    me = {"agency_id": agency, "agency_type": atype, "name": "本机构"}
    hints = {
        "fengqiao.common.Division": lambda f: {"code": code, "name": None},
        "fengqiao.common.AgencyRef": lambda f: me,
    }
    record = {**sample_event(CATALOGUE[event_type], "W-1", hints=hints), **data}
    return {
        "specversion": "1.0",
        "id": "w-1",
        "source": agency,
        "type": event_type,
        "subject": "W-1",
        "time": "2026-11-20T10:00:00+08:00",
        "datacontenttype": "application/json",
        "data": to_json(record),
    }


async def test_naming_oneself_in_the_opening_event_does_not_open_a_case_in_another_county() -> None:
    """The walk-around of issue 15: 青山镇派出所 refers a dispute in 白云县, naming itself the referrer."""
    referral = opening("DisputeReferred", "qs-ps-1", "police_station", "339902001001")
    assert "qs-ps-1" in json.dumps(referral["data"])  # it is named: the old rule let it in as a party
    f = await refused(authorizer(), "qs-ps-1", referral)
    assert f.rule == "every-place" and "dispute_place names division 339902001001" in f.reason


async def test_the_same_referral_in_its_own_area_opens_the_case() -> None:
    await authorizer().check(
        "qs-ps-1", parse(CODEC, opening("DisputeReferred", "qs-ps-1", "police_station", VILLAGE))
    )


async def test_a_record_naming_its_own_village_and_another_countys_place_is_refused() -> None:
    """The other walk-around: the old rule judged by the longest code only (the own village)."""
    event = opening(
        "DisputeRegistered",
        "qs-jo-1",
        "judicial_office",
        VILLAGE,
        dispute_place={"code": "339902", "name": None},
    )
    f = await refused(authorizer(), "qs-jo-1", event)
    assert f.rule == "every-place" and "dispute_place names division 339902," in f.reason


async def test_an_envelope_jurisdiction_in_another_county_is_refused_too() -> None:
    event = {
        **opening("DisputeRegistered", "qs-jo-1", "judicial_office", VILLAGE),
        "jurisdiction": "339902001",
    }
    f = await refused(authorizer(), "qs-jo-1", event)
    assert f.rule == "every-place" and "jurisdiction names division 339902001" in f.reason


async def test_a_granted_field_does_not_carry_the_other_fields() -> None:
    """The prison's grant covers residences; it does not let the prison name places elsewhere."""
    applied = opening("LegalAidAppliedInCustody", "zj-prison-2", "prison", "339901001001")
    f = await refused(authorizer(), "zj-prison-2", applied)
    assert f.rule == "every-place" and "place names division 339901001001" in f.reason


async def test_a_case_named_in_the_opening_event_makes_its_agencies_parties() -> None:
    """Who the opener names (a prison naming itself in its notice) is a party; the opener too."""
    ack = acknowledgement("by-jo-1")
    case = open_case(ack["subject"])
    case["facts"]["ReleaseNoticeIssued"]["escort"] = {"agency_id": "by-jo-1"}
    await authorizer({ack["subject"]: case}).check("by-jo-1", parse(CODEC, ack))


async def test_naming_oneself_in_a_later_event_or_a_held_one_does_not_make_a_party() -> None:
    """Facts of later agency events, and the sources of events held before the case opened, do not count."""
    ack = acknowledgement("by-jo-1")
    case = open_case(ack["subject"])
    case["events"].insert(0, {"id": "early", "type": "PersonReported", "source": "by-jo-1"})  # held
    case["facts"]["PersonReported"] = {"office": {"agency_id": "by-jo-1"}}
    f = await refused(authorizer({ack["subject"]: case}), "by-jo-1", ack)
    assert f.rule == "own-jurisdiction" and "not a party" in f.reason


async def test_the_hubs_decisions_make_parties() -> None:
    ack = acknowledgement("by-jo-1")
    case = open_case(ack["subject"])
    case["events"].append({"id": "r", "type": "ReleaseHandoffReassigned", "source": "fengqiao-hub"})
    case["facts"]["ReleaseHandoffReassigned"] = {"obliged": {"agency_id": "by-jo-1"}}
    await authorizer({ack["subject"]: case}).check("by-jo-1", parse(CODEC, ack))


async def test_an_opening_event_for_a_case_with_only_held_events_is_judged_on_its_own_places() -> None:
    """Events held before the opening (their places, their senders) give the opener nothing."""
    referral = opening("DisputeReferred", "qs-ps-1", "police_station", "339902001001")
    held = {
        "case_id": "W-1",
        "opened_at": None,
        "events": [{"id": "h", "type": "MediationSessionHeld", "source": "qs-ps-1"}],
        "facts": {"MediationSessionHeld": {"place": {"code": "339902001001"}}},
        "handoffs": {},
    }
    f = await refused(authorizer({"W-1": held}), "qs-ps-1", referral)
    assert f.rule == "every-place"


@pytest.mark.parametrize("code", ["33990100１001", "339901001001\n", "3399010010", "", 339901001001])
async def test_a_place_that_is_not_a_division_code_is_refused(code: Any) -> None:
    """Behind the validation layer: a code it let through is refused, never matched loosely."""
    good = parse(CODEC, opening("DisputeReferred", "qs-ps-1", "police_station", VILLAGE))
    record = {**good.record, "dispute_place": {"code": code, "name": None}}
    f = await refused_raw(authorizer(), "qs-ps-1", SimpleNamespace(envelope=good.envelope, record=record))
    assert f.rule == "every-place" and "is not a division code" in f.reason


async def refused_raw(auth: Authorizer, agency: str, accepted: Any) -> Forbidden:
    with pytest.raises(Forbidden) as e:
        await auth.check(agency, accepted)
    return e.value
