"""The legal aid acceptance stories end to end: real broker, the worker's agent and timer, a moved clock.

The worker reads the hub's time from a file (`FileClock`); a test writes an instant there and the
timer turns the deadlines that passed into events. The session hub is shared, so every test uses
fresh case ids. 青山县: legal aid centre qs-jb-legalaid, judicial bureau qs-jb, civil affairs qs-ca,
court qs-court, public security and its custody facility qs-psb, judicial office qs-jo-1. The worker
runs the demo deployment, whose assistance register (`infra/deployments/demo/registers/`) lists
330102198503120049 (低保).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import HubBroker, handoff, run_cli

from fengqiao.hub import Hub
from fengqiao.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 September 2026, 10:00 in Beijing
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
VILLAGE = {"code": "339901001001", "name": "东溪村"}
COUNTY = {"code": "339901", "name": "青山县"}
COURT = {"agency_id": "qs-court", "agency_type": "court", "name": None}
CENTRE = {"agency_id": "qs-jb-legalaid", "agency_type": "judicial_bureau", "name": None}
OFFICE = {"agency_id": "qs-jo-1", "agency_type": "judicial_office", "name": None}
CIVIL = {"agency_id": "qs-ca", "agency_type": "civil_affairs", "name": None}
CUSTODY = {"agency_id": "qs-psb", "agency_type": "police", "name": None}
ON_REGISTER, NOT_LISTED = "330102198503120049", "330102199311220082"


def person(id_number: str) -> dict[str, Any]:
    return {"person_id": f"P-{id_number[-4:]}", "name": "李秀英", "id_number": id_number, "phone": None}


class Broker(HubBroker):
    """The legal aid topic's decisions; the agencies' events of the stories."""

    workflow = "legal_aid"

    # -- the agencies' events -----------------------------------------------------------------------
    def apply(
        self, case_id: str, t: datetime, id_number: str, source: str = "qs-jo-1", **fields: Any
    ) -> None:
        self.publish(
            case_id,
            "LegalAidApplied",
            t,
            source,
            **{
                "received_by": OFFICE,
                "applicant": person(id_number),
                "residence": VILLAGE,
                "matter": "wage_arrears",
                "detained": False,
                "exempt_from_means_test": False,
                "legal_aid_centre": None,
                **fields,
            },
        )

    def grant(self, case_id: str, t: datetime) -> None:
        self.publish(case_id, "LegalAidGranted", t, "qs-jb-legalaid", centre=CENTRE)

    def assign(self, case_id: str, t: datetime) -> None:
        self.publish(
            case_id,
            "LawyerAssigned",
            t,
            "qs-jb-legalaid",
            centre=CENTRE,
            lawyer_name="陈静",
            law_firm="浙江青山律师事务所",
            notifier=None,
        )


@pytest.fixture
def broker(hub: Hub, hub_settings: Settings) -> Broker:
    b = Broker(hub, hub_settings)
    b.clock.set(T0)
    return b


def new_case(what: str) -> str:
    return f"FY-{what}-{uuid.uuid4().hex[:8]}"


def test_defendant_notice_with_the_lawyer_assigned_on_day_4_is_overdue(broker: Broker) -> None:
    """通知辩护: 3 days from the notice; on day 4 the hub has escalated it, then the lawyer comes late."""
    c = new_case("notice")
    broker.publish(
        c,
        "LegalAidNotified",
        T0,
        "qs-court",
        notifier=COURT,
        notifier_case_number="（2026）浙9901刑初42号",
        stage="trial",
        detained=True,
        custody_facility=CUSTODY,
        legal_aid_centre=None,
        place=COUNTY,
    )
    case = broker.wait(c, lambda x: handoff(x, "assign_notified").get("state") == "assigned")
    h = handoff(case, "assign_notified")
    assert (
        h["obliged"]["agency_id"] == "qs-jb-legalaid" and h["deadline"]["due"] == "2026-09-04T16:00:00.000Z"
    )

    broker.clock.set(T0 + 4 * DAY)  # Saturday 5 September: the deadline passed at Friday's end
    case = broker.wait(c, lambda x: handoff(x, "assign_notified")["state"] == "escalated")
    assert [a["agency_id"] for a in handoff(case, "assign_notified")["escalated_to"]] == ["qs-jb"]
    assert case["status"] == "overdue"

    broker.assign(c, T0 + 4 * DAY + HOUR)
    case = broker.wait(c, lambda x: handoff(x, "assign_notified")["state"] == "fulfilled")
    assert handoff(case, "assign_notified")["late"] is True
    # The assignment is forwarded to the notifying court (and the custody facility holding the defendant).
    assert {"qs-court", "qs-psb"} <= set(broker.addressed_to(c, "LawyerAssignmentForwarded"))
    # `fengqiao kpi legal-aid` shows the 4 days and names the case as late.
    r = run_cli(broker.settings.data_dir, "kpi", "legal-aid", "--json", "--agency", "qs-court")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["cases"] == 1  # the court named only this legal aid case
    days = shown["kpis"]["days_to_assignment"]
    assert (days["value"], days["late"]) == (4.04, [c])  # 4 days and 1 hour


def test_an_exempt_applicant_gets_no_hardship_check(broker: Broker) -> None:
    """On civil affairs' assistance register (低保): the hub's one lookup exempts the means test."""
    c = new_case("exempt")
    broker.apply(c, T0, ON_REGISTER)
    case = broker.wait(c, lambda x: handoff(x, "decide").get("state") == "assigned")
    decided = case["facts"]["MeansTestExemptionDecided"]
    assert decided["exempt"] is True and decided["register_status"] == "subsistence_allowance"
    assert decided["register"].startswith("assistance@sha256:")
    # The lookup and the decide handoff come from the same event: no check was asked, nor will be.
    assert "HardshipCheckRequested" not in case["facts"] and not handoff(case, "hardship_check")
    broker.grant(c, T0 + 2 * DAY)
    broker.assign(c, T0 + 3 * DAY)
    case = broker.wait(c, lambda x: handoff(x, "assign_granted").get("state") == "fulfilled")
    assert handoff(case, "decide")["late"] is False and handoff(case, "assign_granted")["late"] is False
    assert "qs-jo-1" in broker.addressed_to(c, "LawyerAssignmentForwarded")


def test_a_non_exempt_applicant_is_checked_answered_and_decided(broker: Broker) -> None:
    """Not on the register: civil affairs is asked, answers, and the centre decides within 7 days."""
    c = new_case("checked")
    broker.apply(c, T0, NOT_LISTED)
    case = broker.wait(c, lambda x: handoff(x, "hardship_check").get("state") == "assigned")
    assert case["facts"]["MeansTestExemptionDecided"]["exempt"] is False
    assert handoff(case, "hardship_check")["obliged"]["agency_id"] == "qs-ca"
    assert "qs-ca" in broker.addressed_to(c, "HardshipCheckRequested")

    broker.publish(
        c,
        "HardshipStatusReported",
        T0 + 2 * DAY,
        "qs-ca",
        handoff_id=None,
        civil_affairs=CIVIL,
        status="low_income",
        on_assistance_register=False,
        valid_until=None,
    )
    broker.wait(c, lambda x: handoff(x, "hardship_check")["state"] == "fulfilled")
    broker.grant(c, T0 + 5 * DAY)
    case = broker.wait(c, lambda x: handoff(x, "decide")["state"] == "fulfilled")
    assert handoff(case, "decide")["late"] is False
    assert handoff(case, "assign_granted")["deadline"]["due"] == "2026-09-09T16:00:00.000Z"


def test_a_detained_applicants_application_forwarded_after_24_hours_is_overdue(broker: Broker) -> None:
    """在押人员: the custody facility owes the forwarding within 24 hours; late, then forwarded."""
    c = new_case("detained")
    broker.publish(
        c,
        "LegalAidAppliedInCustody",
        T0,
        "qs-psb",
        received_by=CUSTODY,
        applicant=person(NOT_LISTED),
        place=COUNTY,
        custody_facility=CUSTODY,
        legal_aid_centre=None,
    )
    case = broker.wait(c, lambda x: handoff(x, "forward").get("state") == "assigned")
    assert handoff(case, "forward")["deadline"]["due"] == "2026-09-02T02:00:00.000Z"
    assert [a["agency_id"] for a in handoff(case, "forward")["informed"]] == ["qs-jb-legalaid"]

    broker.clock.set(T0 + 25 * HOUR)
    broker.wait(c, lambda x: handoff(x, "forward")["state"] == "overdue")
    broker.apply(c, T0 + 30 * HOUR, NOT_LISTED, source="qs-psb", received_by=CUSTODY, detained=True)
    case = broker.wait(c, lambda x: handoff(x, "forward")["state"] == "fulfilled")
    assert handoff(case, "forward")["late"] is True
    # The centre's 7 days start with the forwarded application (Wed 2 Sep, 16:00 Beijing).
    assert handoff(case, "decide")["deadline"]["due"] == "2026-09-09T16:00:00.000Z"
