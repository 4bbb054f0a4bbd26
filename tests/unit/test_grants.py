"""Grants in the agency directory (streams/grants.py): checked when the directory loads, and used by
the jurisdiction rule for the events, fields and places they list, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fengqiao.connectors.authz import Authorizer, Forbidden
from fengqiao.connectors.cloudevents_json import parse
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec, to_json
from fengqiao.schemas.samples import sample_event
from fengqiao.streams.directory import Directory, DirectoryError, load_demo

CATALOGUE = load()
CODEC = Codec(CATALOGUE, {})
AGENCIES = [
    {"id": "ps-a", "type": "police_station", "name": "甲派出所", "jurisdiction": ["339901001"]},
    {"id": "jo-a", "type": "judicial_office", "name": "甲司法所", "jurisdiction": ["339901001"]},
]
NEIGHBOUR = {"agency": "ps-a", "places": ["339901002"], "why": "polices the border villages of 乙镇"}


def directory(*grants: dict[str, Any]) -> Directory:
    return Directory.from_records(AGENCIES, grants=list(grants), source="agencies.yaml")


@pytest.mark.parametrize(
    ("grant", "message"),
    [
        ({**NEIGHBOUR, "agency": "nobody"}, "grant #1: field 'agency': no agency 'nobody'"),
        ({**NEIGHBOUR, "agency_type": "prison"}, "exactly one of 'agency' and 'agency_type'"),
        ({"agency_type": "jail", "places": ["33"], "why": "x"}, "unknown agency type 'jail'"),
        (
            {**NEIGHBOUR, "events": ["ReleaseNoticeIssued"]},
            "a police_station may not publish ReleaseNoticeIssued",
        ),
        ({**NEIGHBOUR, "events": ["HandoffAssigned"]}, "'HandoffAssigned' is not an agency event"),
        ({**NEIGHBOUR, "events": ["fengqiao.mediation.DisputeReferred"]}, "is not an agency event"),
        ({**NEIGHBOUR, "events": ["DisputeReferred"], "fields": ["residence"]}, "'residence' is not a field"),
        ({**NEIGHBOUR, "places": []}, "at least one place is required"),
        ({**NEIGHBOUR, "places": ["３３"]}, "is not a division code or prefix"),
        ({**NEIGHBOUR, "places": ["339901002\n"]}, "is not a division code or prefix"),
        ({**NEIGHBOUR, "places": ["339"]}, "is not a division code or prefix"),
        ({**NEIGHBOUR, "why": " "}, "field 'why'"),
        ({**NEIGHBOUR, "until": "2027"}, "field 'until': unknown field"),
    ],
)
def test_a_grant_that_cannot_work_is_refused_when_the_directory_loads(
    grant: dict[str, Any], message: str
) -> None:
    with pytest.raises(DirectoryError) as e:
        directory(grant)
    assert "agencies.yaml" in str(e.value) and message in str(e.value)


def test_the_demo_directory_file_loads_with_its_grants(tmp_path: Path) -> None:
    demo = load_demo()
    assert {g.who for g in demo.grants} >= {"zj-prison-2", "court", "judicial_bureau"}
    assert all(g.why for g in demo.grants)
    (tmp_path / "agencies.yaml").write_text("agencies: []\nsection: 1\n", encoding="utf-8")
    with pytest.raises(DirectoryError, match="unknown section 'section'"):
        Directory.load(tmp_path)


def referral(code: str, jurisdiction: str | None = None) -> Any:
    hints = {"fengqiao.common.Division": lambda f: {"code": code, "name": None}}
    record = sample_event(CATALOGUE["DisputeReferred"], "G-1", hints=hints)
    event = {
        "specversion": "1.0",
        "id": "g-1",
        "source": "ps-a",
        "type": "DisputeReferred",
        "subject": "G-1",
        "time": "2026-11-20T10:00:00+08:00",
        "datacontenttype": "application/json",
        "data": to_json(record),
    }
    if jurisdiction:
        event["jurisdiction"] = jurisdiction
    return parse(CODEC, event)


def authorizer(d: Directory) -> Authorizer:
    async def lookup(case_id: str) -> None:
        return None

    return Authorizer(d, CATALOGUE, lookup, frozenset({"DisputeReferred"}))


async def test_a_police_station_granted_a_neighbouring_township_refers_disputes_there() -> None:
    await authorizer(directory(NEIGHBOUR)).check("ps-a", referral("339901002004"))
    with pytest.raises(Forbidden) as e:
        await authorizer(directory()).check("ps-a", referral("339901002004"))
    assert e.value.rule == "every-place"


async def test_a_grant_is_for_its_events_fields_and_places_only() -> None:
    narrow = {**NEIGHBOUR, "events": ["EscalationRiskFlagged"]}
    only_place = {**NEIGHBOUR, "fields": ["dispute_place"]}
    for grants, code, jurisdiction in (
        ([narrow], "339901002004", None),  # another event type
        ([NEIGHBOUR], "339901003001", None),  # another township
        ([only_place], "339901002004", "339901002004"),  # the envelope's place is not granted
    ):
        with pytest.raises(Forbidden) as e:
            await authorizer(directory(*grants)).check("ps-a", referral(code, jurisdiction))
        assert e.value.rule == "every-place", grants
    await authorizer(directory(only_place)).check("ps-a", referral("339901002004"))


def test_routing_ignores_grants() -> None:
    """A grant lets an agency publish; it never makes the agency obliged there."""
    assert directory(NEIGHBOUR).route("police_station", "339901002004") is None
