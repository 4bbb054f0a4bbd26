"""Who a hub record is addressed to: the decisions' named agencies, the case's parties, no one for facts."""

from __future__ import annotations

from typing import Any

import pytest

from fengqiao.connectors.addressing import Addressed, addressed, agencies_named, case_parties
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.envelope import HUB_SOURCE
from fengqiao.schemas.samples import sample_event

CAT = load()


def ref(agency_id: str, agency_type: str = "judicial_office") -> dict[str, Any]:
    return {"agency_id": agency_id, "agency_type": agency_type, "name": None}


def decision(etype: str, **fields: Any) -> Addressed:
    record = sample_event(CAT[etype], "C-1")
    record.update(fields)
    return addressed(etype, CAT[etype].direction, HUB_SOURCE, record)


def test_an_escalation_goes_to_the_obliged_agency_and_its_superior() -> None:
    to = decision("HandoffEscalated", obliged=ref("qs-jo-1"), escalated_to=ref("qs-jb", "judicial_bureau"))
    assert to == Addressed(("qs-jo-1", "qs-jb"))


def test_a_release_hand_over_goes_to_the_office_the_prison_and_those_informed() -> None:
    to = decision(
        "ReleaseHandoffAssigned",
        obliged=ref("qs-jo-1"),
        prison=ref("zj-prison-2", "prison"),
        informed=[ref("qs-jb", "judicial_bureau"), ref("qs-ps-1", "police_station"), ref("qs-jb")],
    )
    assert to.agencies == ("qs-jo-1", "zj-prison-2", "qs-jb", "qs-ps-1")  # in order, each once
    assert not to.case_parties


def test_an_alert_goes_to_the_responsible_office_and_the_alerted() -> None:
    to = decision(
        "PickupMissed",
        responsible=ref("qs-jo-1"),
        alerted=[ref("qs-jb", "judicial_bureau"), ref("qs-ps-1", "police_station")],
    )
    assert set(to.agencies) == {"qs-jo-1", "qs-jb", "qs-ps-1"}


def test_a_reassignment_tells_both_offices() -> None:
    to = decision("HandoffReassigned", from_agency=ref("qs-jo-1"), to_agency=ref("qs-jo-2"))
    assert set(to.agencies) == {"qs-jo-1", "qs-jo-2"}


def test_a_routing_failure_without_a_bureau_is_addressed_to_no_one() -> None:
    assert decision("RoutingFailed", addressed_to=None) == Addressed()
    assert not decision("RoutingFailed", addressed_to=None)
    assert decision("RoutingFailed", addressed_to=ref("qs-jb")).agencies == ("qs-jb",)


def test_agencies_facts_and_forged_decisions_are_addressed_to_no_one() -> None:
    notice = sample_event(CAT["ReleaseNoticeIssued"], "C-1")
    notice["prison"] = ref("zj-prison-2", "prison")
    assert addressed("ReleaseNoticeIssued", "in", "zj-prison-2", notice) == Addressed()
    forged = sample_event(CAT["HandoffAssigned"], "C-1")
    assert addressed("HandoffAssigned", "hub", "qs-jo-1", forged) == Addressed()


def test_a_case_update_goes_to_the_case_parties() -> None:
    upd = sample_event(CAT["CaseUpdated"], "C-1")
    assert addressed("CaseUpdated", "hub", HUB_SOURCE, upd) == Addressed(case_parties=True)
    assert addressed("DeadLetter", "hub", HUB_SOURCE, sample_event(CAT["DeadLetter"], "C-1")) == Addressed()


@pytest.mark.parametrize(
    "etype",
    [e.name for e in CAT if e.direction == "hub" and e.name not in ("CaseUpdated", "DeadLetter", "PersonErased")],  # noqa: E501
)
def test_every_hub_decision_names_an_agency_to_send_it_to(etype: str) -> None:
    """A new decision type without an AgencyRef would silently reach no one: the schema must name one."""
    assert agencies_named(sample_event(CAT[etype], "C-1")), f"{etype} names no AgencyRef"


def test_the_parties_of_a_case_are_its_publishers_and_everyone_it_names() -> None:
    case = {
        "case_id": "C-1",
        "events": [
            {"id": "e1", "source": "zj-prison-2", "type": "ReleaseNoticeIssued"},
            {"id": "e2", "source": HUB_SOURCE, "type": "ReleaseHandoffAssigned"},
            {"id": "e3", "source": "qs-jo-1", "type": "ReleaseNoticeAcknowledged"},
        ],
        "handoffs": {"C-1/acknowledge/1": {"obliged": ref("qs-jo-1"), "informed": [ref("qs-jb")]}},
        "alerts": [{"type": "PickupMissed", "alerted": [ref("qs-ps-1")]}],
        "facts": {"ReleaseNoticeIssued": {"prison": ref("zj-prison-2")}},
    }
    assert case_parties(case) == ("qs-jb", "qs-jo-1", "qs-ps-1", "zj-prison-2")
    assert case_parties({"case_id": "C-2"}) == ()


def test_an_erasure_goes_to_every_party_of_the_case() -> None:
    """Each agency that received the person's data must erase its own copies (PIPL art. 47)."""
    got = addressed("PersonErased", "hub", HUB_SOURCE, {"case_id": "C-1", "person": "pX"})
    assert got.case_parties and got.agencies == ()
