"""The jurisdiction rule over its whole matrix (docs/gateway.md, "Who may publish where"): every agency
type of the demo directory × every event type that type may publish (the catalogue's publishers) ×
own township / another township of the same county / another county.

Each event names the place in every ``Division`` it holds and in its envelope's ``jurisdiction``, and
names its publisher in every ``AgencyRef`` (naming oneself must never help). An event that opens a
case opens a new one; any other event goes to an open case that lies at the place and that another
agency opened, its publisher not a party. Expected: allowed in the agency's own area; a township
agency refused in another township (``own-jurisdiction`` on an open case, ``every-place`` for a new
one); everyone refused in another county, except the openings the demo directory grants (each
granted to the whole province, 33, for the fields where these events name places).
"""

from __future__ import annotations

from typing import Any

import pytest

from fengqiao.connectors.authz import Authorizer, Forbidden
from fengqiao.connectors.cloudevents_json import parse
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec, to_json
from fengqiao.schemas.samples import sample_event
from fengqiao.streams.directory import load_demo
from fengqiao.streams.workflows import load_context

CATALOGUE = load()
CODEC = Codec(CATALOGUE, {})
DIRECTORY = load_demo()
OPENED_BY = {wf: tuple(w.opened_by) for wf, w in load_context().workflows.items()}
OPENING = frozenset(e for events in OPENED_BY.values() for e in events)

# One agency of each type, and its places: (own township, other township same county, other county).
QS = ("339901001001", "339901004001", "339902001001")  # 青山镇东溪村, 溪口镇溪口村, 白云县白云村
AGENCY = {
    "court": ("qs-court", QS),
    "tribunal": ("qs-tribunal-1", QS),
    "police": ("qs-psb", QS),
    "police_station": ("qs-ps-1", QS),
    "procuratorate": ("qs-proc", QS),
    "prison": ("zj-prison-2", ("330100001001", "330100002001", "339901001001")),
    "civil_affairs": ("qs-ca", QS),
    "petition_office": ("qs-xf", QS),
    "judicial_bureau": ("qs-jb", QS),
    "judicial_office": ("qs-jo-1", QS),
    "service_body": ("qs-notary", QS),
}
TOWNSHIP_LEVEL = {"tribunal", "police_station", "judicial_office"}  # their area is a few townships
# Openings outside its area that the demo directory grants, to the province (33): demo agencies.yaml.
GRANTED = {
    ("prison", "ReleaseNoticeIssued"),
    ("prison", "CommunityCorrectionOrdered"),
    ("prison", "LegalAidApplied"),
    ("court", "InvestigationRequested"),
    ("court", "CommunityCorrectionOrdered"),
    ("tribunal", "InvestigationRequested"),
    ("tribunal", "CommunityCorrectionOrdered"),
}
WHERE = ("own township", "other township, same county", "other county")
CELLS = [
    (atype, ev.name, where)
    for atype in sorted(AGENCY)
    for ev in CATALOGUE
    if ev.direction == "in" and atype in ev.publishers
    for where in WHERE
]


def expected(atype: str, event_type: str, where: str) -> str | None:
    """The rule that refuses the cell, or None when it is allowed."""
    opens = event_type in OPENING
    if where == "own township":
        return None
    if where == "other township, same county" and atype not in TOWNSHIP_LEVEL:
        return None
    if opens and (atype, event_type) in GRANTED:  # the grants cover the whole province
        return None
    return "every-place" if opens else "own-jurisdiction"


def event(agency_id: str, atype: str, event_type: str, code: str) -> dict[str, Any]:
    me = {"agency_id": agency_id, "agency_type": atype, "name": "本机构"}
    hints = {
        "fengqiao.common.Division": lambda f: {"code": code, "name": None},
        "fengqiao.common.AgencyRef": lambda f: me,
    }
    record = sample_event(CATALOGUE[event_type], "M-1", hints=hints)
    return {
        "specversion": "1.0",
        "id": f"m-{event_type}",
        "source": agency_id,
        "type": event_type,
        "subject": "M-1",
        "time": "2026-11-20T10:00:00+08:00",
        "jurisdiction": code,
        "datacontenttype": "application/json",
        "data": to_json(record),
    }


def case_at(event_type: str, code: str, *, obliged: str | None = None) -> dict[str, Any]:
    """An open case of the event's workflow at ``code``, opened by an agency not under test."""
    opener = OPENED_BY[CATALOGUE[event_type].workflow][0]
    handoffs = {"h": {"obliged": {"agency_id": obliged}, "routed_for": {"code": code}}} if obliged else {}
    return {
        "case_id": "M-1",
        "opened_at": "2026-11-01T00:00:00.000Z",
        "events": [{"id": "o", "type": opener, "source": "some-other-agency"}],
        "facts": {opener: {"place": {"code": code}, "by": {"agency_id": "some-other-agency"}}},
        "handoffs": handoffs,
    }


def authorizer(case: dict[str, Any] | None) -> Authorizer:
    async def lookup(case_id: str) -> dict[str, Any] | None:
        return case

    return Authorizer(DIRECTORY, CATALOGUE, lookup, OPENING)


def test_the_matrix_covers_every_agency_type_and_event_type() -> None:
    assert {a for a, _, _ in CELLS} == set(AGENCY) == {a.type for a in DIRECTORY}
    agency_events = {ev.name for ev in CATALOGUE if ev.direction == "in"}
    assert {e for _, e, _ in CELLS} == agency_events
    for atype, (aid, _) in AGENCY.items():
        assert DIRECTORY.get(aid).type == atype


@pytest.mark.parametrize(("atype", "event_type", "where"), CELLS)
async def test_matrix(atype: str, event_type: str, where: str) -> None:
    agency_id, codes = AGENCY[atype]
    code = codes[WHERE.index(where)]
    accepted = parse(CODEC, event(agency_id, atype, event_type, code))
    case = None if event_type in OPENING else case_at(event_type, code)
    rule = expected(atype, event_type, where)
    if rule is None:
        await authorizer(case).check(agency_id, accepted)
        return
    with pytest.raises(Forbidden) as refused:
        await authorizer(case).check(agency_id, accepted)
    assert refused.value.rule == rule, refused.value.reason
    assert code in refused.value.reason


@pytest.mark.parametrize(("atype", "event_type"), sorted({(a, e) for a, e, _ in CELLS if e not in OPENING}))
async def test_a_party_the_hub_obliged_acts_on_its_case_in_another_county(
    atype: str, event_type: str
) -> None:
    """The hub's routing makes a party (a case handed to an office of another county), wherever it is."""
    agency_id, codes = AGENCY[atype]
    accepted = parse(CODEC, event(agency_id, atype, event_type, codes[2]))
    await authorizer(case_at(event_type, codes[2], obliged=agency_id)).check(agency_id, accepted)
