"""The mediation stories end to end, one per door: real broker, the worker's agent and timer, a moved clock.

The worker reads the hub's time from a file (`FileClock`); a test writes an instant there and the
timer turns the deadlines that passed into events within a fraction of a second. The session hub
is shared, so every test uses fresh case ids. The dispute is in 东溪村 of 青山镇: office qs-jo-1,
police station qs-ps-1, tribunal qs-tribunal-1, county court qs-court.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import HubBroker, handoff, header, run_cli

from fengqiao.connectors.addressing import addressed
from fengqiao.hub import Hub
from fengqiao.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 September 2026, 10:00 in Beijing
DAY = timedelta(days=1)
VILLAGE = {"code": "339901001001", "name": "东溪村"}
CALM = {"violence": False, "threats": False, "weapons": False, "party_count": 2, "repeated_calls": 0}
OFFICE = {"agency_id": "qs-jo-1", "agency_type": "judicial_office", "name": None}
TRIBUNAL = {"agency_id": "qs-tribunal-1", "agency_type": "tribunal", "name": None}
STATION = {"agency_id": "qs-ps-1", "agency_type": "police_station", "name": None}
REFERRERS = {
    "court_pre_filing": ("qs-court", "court"),
    "court_post_filing": ("qs-court", "court"),
    "police": ("qs-ps-1", "police_station"),
    "petition": ("qs-xf", "petition_office"),
}


class Broker(HubBroker):
    """The mediation topic's decisions; the agencies' events of the stories."""

    workflow = "mediation"

    # -- the agencies' events -----------------------------------------------------------------------
    def refer(self, case_id: str, door: str, t: datetime, risk: dict[str, Any] | None = None) -> None:
        referrer, kind = REFERRERS[door]
        self.publish(
            case_id,
            "DisputeReferred",
            t,
            referrer,
            referrer={"agency_id": referrer, "agency_type": kind, "name": None},
            referrer_case_number=f"{door}-42",
            door=door,
            dispute_type="neighbour",
            amount_fen=500_000,
            dispute_place=VILLAGE,
            risk={**CALM, **(risk or {})},
            result_due=None,
            simplified_procedure=False,
        )

    def register(self, case_id: str, t: datetime) -> None:
        self.publish(
            case_id,
            "DisputeRegistered",
            t,
            "qs-jo-1",
            office=OFFICE,
            committee=VILLAGE,
            dispute_type="neighbour",
            amount_fen=300_000,
            dispute_place=VILLAGE,
            risk=CALM,
        )

    def agree(self, case_id: str, t: datetime, level: str) -> None:
        self.publish(
            case_id,
            "MediationAgreementReached",
            t,
            "qs-jo-1",
            mediated_by=OFFICE,
            level=level,
            effective_on=t.date(),
            performance_due=None,
        )


@pytest.fixture
def broker(hub: Hub, hub_settings: Settings) -> Broker:
    b = Broker(hub, hub_settings)
    b.clock.set(T0)
    return b


def new_case(door: str) -> str:
    return f"TJ-{door}-{uuid.uuid4().hex[:8]}"


def test_court_delegation_extended_agreed_and_judicially_confirmed(broker: Broker) -> None:
    """诉前委派: 30 days from the signing, moved 15 days by the parties' consent, then confirmed."""
    c = new_case("court-pre")
    broker.refer(c, "court_pre_filing", T0)
    case = broker.wait(c, lambda x: handoff(x, "mediate").get("state") == "assigned")
    assert handoff(case, "mediate")["deadline"]["rule_id"] == "mediation.online_confirm"
    broker.register(c, T0 + DAY)  # the office signs for the materials
    case = broker.wait(c, lambda x: handoff(x, "mediate")["state"] == "acknowledged")
    assert handoff(case, "mediate")["deadline"]["due"] == "2026-10-02T16:00:00.000Z"

    broker.publish(
        c,
        "MediationExtensionAgreed",
        T0 + 27 * DAY,
        "qs-jo-1",
        handoff_id=None,
        mediated_by=OFFICE,
        reason="双方同意再协商一次赔偿金额",
        extension_days=15,
        extended_until=None,
    )
    case = broker.wait(c, lambda x: handoff(x, "mediate")["deadline"]["due"] == "2026-10-17T16:00:00.000Z")
    [moved] = handoff(case, "mediate")["extensions"]
    assert (moved["from"], moved["reason"]) == ("2026-10-02T16:00:00.000Z", "双方同意再协商一次赔偿金额")
    [(msg, extended)] = broker.decisions(c, "MediationDeadlineExtended")
    court_told = addressed("MediationDeadlineExtended", "hub", header(msg, "ce_source"), extended)
    assert "qs-court" in court_told.agencies  # the referring court learns of the new deadline

    broker.clock.set(datetime(2026, 10, 5, 2, 0, tzinfo=UTC))  # past the old deadline, before the new one
    broker.agree(c, datetime(2026, 10, 9, 2, 0, tzinfo=UTC), "township")
    case = broker.wait(c, lambda x: handoff(x, "mediate")["state"] == "fulfilled")
    assert handoff(case, "mediate")["late"] is False and case["alerts"] == []
    assert not any(e["type"] == "HandoffOverdue" for e in case["events"])

    broker.publish(
        c, "JudicialConfirmationRequested", datetime(2026, 10, 12, 2, tzinfo=UTC), "qs-jo-1", court=TRIBUNAL
    )
    broker.wait(c, lambda x: handoff(x, "confirmation").get("state") == "assigned")
    broker.publish(c, "JudicialConfirmationGranted", datetime(2026, 10, 20, 2, tzinfo=UTC), "qs-tribunal-1")
    case = broker.wait(c, lambda x: handoff(x, "confirmation")["state"] == "fulfilled")
    assert handoff(case, "confirmation")["obliged"]["agency_id"] == "qs-tribunal-1"
    assert case["status"] == "open"


def test_court_entrustment_that_fails_goes_back_to_the_court(broker: Broker) -> None:
    """诉中委托: mediation fails, the dispute returns to the court and the mediation case ends."""
    c = new_case("court-post")
    broker.refer(c, "court_post_filing", T0)
    broker.register(c, T0 + DAY)
    broker.wait(c, lambda x: handoff(x, "mediate").get("rule_id") == "mediation.post_filing_ordinary")
    broker.publish(
        c,
        "MediationFailed",
        T0 + 4 * DAY,
        "qs-jo-1",
        mediated_by=OFFICE,
        level="township",
        reason="party_refused",
    )
    case = broker.wait(c, lambda x: x["status"] == "closed")
    back = case["facts"]["ReturnedToCourt"]
    assert (
        back["obliged"]["agency_id"] == "qs-court" and back["referrer_case_number"] == "court_post_filing-42"
    )
    assert back["reason"] == "调解不成 MediationFailed: party_refused"
    [(msg, record)] = broker.decisions(c, "ReturnedToCourt")
    assert "qs-court" in addressed("ReturnedToCourt", "hub", header(msg, "ce_source"), record).agencies
    # `fengqiao kpi mediation` counts it a failure of the court-entrustment door.
    r = run_cli(
        broker.settings.data_dir, "kpi", "mediation", "--json", "--from", "2026-09-01", "--to", "2026-09-01"
    )
    assert r.returncode == 0, r.stderr
    kpis = json.loads(r.stdout)
    assert c in kpis["kpis"]["success"]["exceptions"]
    assert c in kpis["by_door"]["court_post_filing"]["kpis"]["success"]["exceptions"]


def test_police_referral_to_a_joint_session_a_member_that_does_not_accept_is_escalated(
    broker: Broker,
) -> None:
    """警调对接 with violence and four parties: 一庭两所; the station does not accept in 2 working days."""
    c = new_case("police")
    thursday = T0 + 2 * DAY
    broker.clock.set(thursday)  # the 2 working days run from the assignment: Thu 3 → Mon 7 Sep
    broker.refer(c, "police", thursday, risk={"violence": True, "party_count": 4})
    case = broker.wait(c, lambda x: sum(h["step"] == "joint_accept" for h in x["handoffs"].values()) == 3)
    assert case["facts"]["MediationAssigned"]["level"] == "joint"
    broker.publish(
        c, "JointMediationAccepted", thursday + DAY, "qs-tribunal-1", handoff_id=None, member=TRIBUNAL
    )
    broker.publish(c, "JointMediationAccepted", thursday + DAY, "qs-jo-1", handoff_id=None, member=OFFICE)

    def joint(x: dict[str, Any]) -> dict[str, str]:
        return {
            h["obliged"]["agency_id"]: h["state"]
            for h in x["handoffs"].values()
            if h["step"] == "joint_accept"
        }

    broker.wait(
        c, lambda x: joint(x) == {"qs-tribunal-1": "fulfilled", "qs-ps-1": "assigned", "qs-jo-1": "fulfilled"}
    )
    broker.clock.set(datetime(2026, 9, 8, 2, 0, tzinfo=UTC))  # Tuesday: the deadline has passed
    case = broker.wait(c, lambda x: joint(x)["qs-ps-1"] == "escalated")
    station = next(h for h in case["handoffs"].values() if h["obliged"]["agency_id"] == "qs-ps-1")
    assert station["overdue_at"] and station["deadline"]["due"] == "2026-09-07T16:00:00.000Z"
    assert [a["agency_id"] for a in station["escalated_to"]] == ["qs-jo-1"]
    assert case["status"] == "overdue"


def test_petition_referral_is_agreed_in_the_township(broker: Broker) -> None:
    """访调对接: the township mediates (大事不出镇) and reaches an agreement; the follow-up is owed."""
    c = new_case("petition")
    broker.refer(c, "petition", T0)
    case = broker.wait(c, lambda x: bool(handoff(x, "mediate")))
    assert case["facts"]["MediationAssigned"]["level"] == "township"
    assert handoff(case, "mediate")["deadline"]["rule_id"] == "mediation.peoples"
    broker.register(c, T0 + DAY)
    broker.agree(c, T0 + 9 * DAY, "township")
    case = broker.wait(c, lambda x: handoff(x, "follow_up").get("state") == "assigned")
    assert handoff(case, "mediate")["state"] == "fulfilled"
    assert handoff(case, "follow_up")["deadline"]["due"] == "2026-09-25T16:00:00.000Z"


def test_own_intake_in_the_village_a_risk_flag_reaches_the_police_station(broker: Broker) -> None:
    """自行受理: the village committee mediates; a 民转刑 risk flagged; the station alerted at once."""
    c = new_case("own")
    broker.register(c, T0)
    case = broker.wait(c, lambda x: bool(handoff(x, "mediate")))
    assert case["facts"]["MediationAssigned"]["level"] == "village"
    broker.publish(
        c,
        "EscalationRiskFlagged",
        T0 + 3 * DAY,
        "qs-jo-1",
        flagged_by=OFFICE,
        police_station=None,
        risk={**CALM, "threats": True},
        level="imminent",
        stage="in_mediation",
    )
    case = broker.wait(c, lambda x: any(a["type"] == "EscalationRiskAlerted" for a in x["alerts"]))
    [alert] = case["alerts"]
    assert [a["agency_id"] for a in alert["alerted"]] == ["qs-ps-1"]
    assert case["facts"]["MediationAssigned"]["level"] == "village"  # still in the village
    [(msg, record)] = broker.decisions(c, "EscalationRiskAlerted")
    assert "qs-ps-1" in addressed("EscalationRiskAlerted", "hub", header(msg, "ce_source"), record).agencies
    assert record["level"] == "imminent" and record["rule_id"] == "mediation.risk_alert"
