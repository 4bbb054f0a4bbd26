"""一所六站点 (six services through the judicial office, closed loop), as scenarios on the pure engine.

Each test reads as a story: a citizen asks at 青山镇司法所 (qs-jo-1), the hub forwards the request to
the body for that service, the body accepts and answers (or does not), time passes, the hub decides,
and the answer goes back to the office that was asked first (首问责任制). The same engine runs in the
workers; `tests/integration/test_services_on_broker.py` plays the acceptance stories there.

The applicant lives in 东溪村 (339901001001) of 青山县; the county's bodies: notary office qs-notary
and reconsideration office qs-recon (parent: the county bureau qs-jb), arbitration commission qs-arb
(no parent in the directory: its overdue requests go to the county bureau qs-jb), law-enforcement
supervision qs-enforce, legislative affairs office qs-legis, legal aid centre qs-jb-legalaid.

2026's National Day holiday runs Thu 1 – Wed 7 October, with Sun 20 September and Sat 10 October
worked instead (chinesecalendar); the Mid-autumn Festival takes Fri 25 – Sun 27 September.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from helpers import EngineStory

from fengqiao.connectors.addressing import addressed
from fengqiao.streams.policy import default_policy
from fengqiao.streams.workflows.services import SERVICES

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 September 2026, 10:00 in Beijing
DAY = timedelta(days=1)
VILLAGE = {"code": "339901001001", "name": "东溪村"}
APPLICANT = {"person_id": "P-7", "name": "陈静", "id_number": None, "phone": None}
BODY_IDS = {
    "notary": "qs-notary",
    "arbitration": "qs-arb",
    "reconsideration": "qs-recon",
    "enforcement_feedback": "qs-enforce",
    "legislative_opinion": "qs-legis",
    "legal_aid": "qs-jb-legalaid",
}


def ref(agency_id: str, agency_type: str = "service_body") -> dict[str, Any]:
    return {"agency_id": agency_id, "agency_type": agency_type, "name": None}


OFFICE = ref("qs-jo-1", "judicial_office")


def at(day: date, hour: int = 10) -> datetime:
    """An instant on a Beijing calendar day (10:00 by default)."""
    return datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC)


class Story(EngineStory):
    """One request told through the engine, keeping every event on 'the log' for replay."""

    workflow, first_id = "services", "FW-1"
    service = "notary"  # until a request is received

    @property
    def handoff(self) -> dict[str, Any]:  # a request has one handoff: to the body of its service
        return self.case["handoffs"][f"{self.case_id}/{self.service}/1"]

    # -- the agencies' events -------------------------------------------------------------------------
    def receive(self, service: str, t: datetime = T0, residence: dict[str, Any] = VILLAGE) -> list[str]:
        """A citizen asks at the office's service point (首问)."""
        self.service = service
        return self.publish(
            "ServiceRequestReceived",
            t,
            "qs-jo-1",
            office=OFFICE,
            request_number="青司服〔2026〕12号",
            service=service,
            applicant=APPLICANT,
            residence=residence,
            subject="申请办理亲属关系公证",
            received_at=t,
        )

    def body(self) -> str:
        return BODY_IDS[self.service]

    def accept(self, t: datetime, by: str | None = None, decision_due: date | None = None) -> list[str]:
        by = by or self.body()
        return self.publish(
            "ServiceRequestAccepted",
            t,
            by,
            handoff_id=None,
            body=ref(by),
            acceptance_number="受2026-88",
            decision_due=decision_due,
            accepted_at=t,
        )

    def complete(self, t: datetime) -> list[str]:
        return self.publish(
            "ServiceRequestCompleted",
            t,
            self.body(),
            body=ref(self.body()),
            document_number="(2026)浙青证字第88号",
            completed_at=t,
        )

    def reject(self, t: datetime, stage: str) -> list[str]:
        return self.publish(
            "ServiceRequestRejected",
            t,
            self.body(),
            body=ref(self.body()),
            stage=stage,
            document_number=None,
            reason="不属于受理范围",
            rejected_at=t,
        )


def told(etype: str, record: dict[str, Any]) -> tuple[str, ...]:
    """The agencies a hub decision is delivered to (webhooks, tasks)."""
    return addressed(etype, "hub", "fengqiao-hub", record).agencies


# -- the acceptance story: a notary request across National Day -----------------------------------------
def test_a_notary_request_certified_in_15_working_days_across_national_day_closes_at_the_office() -> None:
    s = Story()
    monday = at(date(2026, 9, 28))
    assert s.receive("notary", monday) == ["ServiceRequestForwarded", "HandoffAssigned"]
    [forwarded] = s.decisions("ServiceRequestForwarded")
    # Forwarded to the notary office of the applicant's county, not just any service body.
    assert forwarded["obliged"] == {
        "agency_id": "qs-notary",
        "agency_type": "service_body",
        "name": "青山县公证处",
    }
    assert forwarded["first_office"]["agency_id"] == "qs-jo-1" and forwarded["service"] == "notary"
    assert forwarded["applicant"] == APPLICANT and forwarded["subject"] == "申请办理亲属关系公证"
    assert set(told("ServiceRequestForwarded", forwarded)) == {"qs-notary", "qs-jo-1"}
    # The Notary Law sets no acceptance limit: received, not yet accepted, no deadline.
    assert forwarded["deadline"] is None and s.handoff["deadline"] is None
    assert s.handoff["informed"][0]["agency_id"] == "qs-jo-1"  # the first office is told

    # The office accepts on Tuesday 29 September: 15 working days, not counting the day of acceptance.
    # 30 Sep (1); the holiday 1–7 Oct; 8, 9 Oct (2, 3); Sat 10 Oct worked (4); 12–16 (5–9); 19–23
    # (10–14); Mon 26 October (15): due at its 24:00, Beijing.
    assert s.accept(at(date(2026, 9, 29))) == ["HandoffAcknowledged"]
    h = s.handoff
    assert (h["state"], h["rule_id"]) == ("acknowledged", "services.notary.certificate")
    assert h["deadline"]["due"] == "2026-10-26T16:00:00.000Z" and h["deadline"]["clock"] == "working_days"
    # Counting weekdays alone would have ended on Tue 20 October: the holiday is what gives the time.
    assert s.time_passes(at(date(2026, 10, 21))) == []

    # The certificate is issued on Friday 23 October: on time, and the loop closes at the first office.
    assert s.complete(at(date(2026, 10, 23))) == ["HandoffFulfilled", "ServiceRequestClosed"]
    assert s.handoff["state"] == "fulfilled" and s.handoff["late"] is False
    [closed] = s.decisions("ServiceRequestClosed")
    assert closed["obliged"] == {
        "agency_id": "qs-jo-1",
        "agency_type": "judicial_office",
        "name": "青山镇司法所",
    }
    assert (closed["outcome"], closed["days_to_close"], closed["body"]["agency_id"]) == (
        "completed",
        25,  # Mon 28 Sep → Fri 23 Oct
        "qs-notary",
    )
    assert closed["document_number"] == "(2026)浙青证字第88号" and closed["handoff_id"] == "FW-1/notary/1"
    assert "qs-jo-1" in told("ServiceRequestClosed", closed)
    assert s.case["status"] == "closed" and s.case["alerts"] == []
    assert s.time_passes(at(date(2026, 12, 1))) == []
    assert s.replayed() == s.case


def test_a_notary_certificate_after_the_15_working_days_is_overdue_and_escalated_to_the_bureau() -> None:
    s = Story()
    s.receive("notary", T0)
    s.accept(T0 + DAY)  # Wed 2 Sep: 3, 4, 7–11, 14–18, Sun 20 Sep (worked), 21, 22 → due Tue 22 Sep
    assert s.handoff["deadline"]["due"] == "2026-09-22T16:00:00.000Z"
    assert s.time_passes(at(date(2026, 9, 23))) == ["HandoffOverdue", "HandoffEscalated"]
    [overdue] = s.decisions("HandoffOverdue")
    assert overdue["missing"] == "disposition"
    [escalated] = s.decisions("HandoffEscalated")
    assert escalated["escalated_to"]["agency_id"] == "qs-jb"  # the notary office's parent
    assert s.case["status"] == "overdue"
    assert s.complete(at(date(2026, 9, 25))) == ["HandoffFulfilled", "ServiceRequestClosed"]
    assert s.handoff["late"] is True and s.case["status"] == "closed"
    assert s.replayed() == s.case


# -- the acceptance story: an arbitration request left overdue ----------------------------------------
def test_an_arbitration_request_not_accepted_in_5_days_is_escalated_then_awarded_and_closed() -> None:
    s = Story()
    assert s.receive("arbitration") == ["ServiceRequestForwarded", "HandoffAssigned"]
    [forwarded] = s.decisions("ServiceRequestForwarded")
    assert forwarded["obliged"]["agency_id"] == "qs-arb"
    # Accept within 5 days of the forwarding: Sun 6 September, 24:00 Beijing.
    assert forwarded["deadline"]["rule_id"] == "services.arbitration.accept"
    assert forwarded["deadline"]["due"] == "2026-09-06T16:00:00.000Z" == s.handoff["deadline"]["due"]

    assert s.time_passes(datetime(2026, 9, 6, 15, 59, tzinfo=UTC)) == []
    assert s.time_passes(datetime(2026, 9, 6, 16, 0, tzinfo=UTC)) == ["HandoffOverdue", "HandoffEscalated"]
    [overdue] = s.decisions("HandoffOverdue")
    assert overdue["missing"] == "receipt" and overdue["obliged"]["agency_id"] == "qs-arb"
    [escalated] = s.decisions("HandoffEscalated")
    # The commission has no parent in the directory: its superior is the county judicial bureau.
    assert (escalated["escalated_to"]["agency_id"], escalated["level"]) == ("qs-jb", 1)
    assert escalated["reason"].startswith("services.arbitration.accept: deadline")
    assert set(told("HandoffEscalated", escalated)) == {"qs-arb", "qs-jb"}
    assert s.handoff["state"] == "escalated" and s.case["status"] == "overdue"
    assert s.time_passes(T0 + 10 * DAY) == []  # decided once

    # Accepted late on Tue 8 Sep: the lateness stays on record, the award is owed 45 days on.
    assert s.accept(T0 + 7 * DAY) == ["HandoffAcknowledged"]
    h = s.handoff
    assert h["state"] == "acknowledged" and h["receipt_overdue_at"] and h["overdue_at"] is None
    assert (h["rule_id"], h["deadline"]["due"]) == ("services.arbitration.award", "2026-10-23T16:00:00.000Z")
    assert s.complete(at(date(2026, 10, 20))) == ["HandoffFulfilled", "ServiceRequestClosed"]
    [closed] = s.decisions("ServiceRequestClosed")
    assert (closed["outcome"], closed["days_to_close"]) == ("completed", 49)
    assert s.handoff["late"] is False and s.case["status"] == "closed"
    assert s.replayed() == s.case


def test_the_award_is_owed_45_days_after_the_acceptance_unless_the_chair_extends_it_by_15_at_most() -> None:
    s = Story()
    s.receive("arbitration")
    s.accept(T0 + DAY)
    assert s.handoff["deadline"]["due"] == "2026-10-17T16:00:00.000Z"  # Wed 2 Sep + 45 days
    assert s.time_passes(at(date(2026, 10, 17))) == []  # no extension is assumed: the 45 days stand

    # The chair approves 20 more days; the law allows 15 (不得超过十五日): the hub moves it by 15.
    extended = s.publish(
        "ServiceRequestExtended",
        at(date(2026, 10, 10)),
        "qs-arb",
        handoff_id=None,
        body=ref("qs-arb"),
        reason="案情复杂，需补充证据",
        approved_by="仲裁委员会主任",
        extension_days=20,
        extended_until=None,
        document_number="青劳人仲延〔2026〕3号",
    )
    assert extended == ["ServiceDeadlineExtended"]
    [moved] = s.decisions("ServiceDeadlineExtended")
    assert (moved["extension_days"], moved["deadline"]["due"]) == (15, "2026-11-01T16:00:00.000Z")
    assert moved["previous_deadline"]["due"] == "2026-10-17T16:00:00.000Z"
    assert moved["reason"] == "案情复杂，需补充证据"
    assert [a["agency_id"] for a in moved["informed"]] == ["qs-jo-1"]  # the first office is told
    assert (
        s.handoff["deadline"]["due"] == "2026-11-01T16:00:00.000Z" and s.handoff["deadline"]["length"] == 60
    )

    # The 15 days are used up: a second extension moves nothing.
    assert (
        s.publish(
            "ServiceRequestExtended",
            at(date(2026, 10, 20)),
            "qs-arb",
            handoff_id=None,
            body=ref("qs-arb"),
            reason="再次延期",
            extension_days=5,
            extended_until=None,
        )
        == []
    )
    assert s.time_passes(at(date(2026, 11, 1))) == []
    assert s.time_passes(at(date(2026, 11, 2))) == ["HandoffOverdue", "HandoffEscalated"]
    assert s.replayed() == s.case


def test_an_acceptance_limit_is_not_extended() -> None:
    s = Story()
    s.receive("arbitration")
    got = s.publish(
        "ServiceRequestExtended",
        T0 + DAY,
        "qs-arb",
        handoff_id=None,
        body=ref("qs-arb"),
        reason="人手不足",
        extension_days=5,
        extended_until=None,
    )
    assert got == [] and s.handoff["deadline"]["due"] == "2026-09-06T16:00:00.000Z"


# -- the other services ---------------------------------------------------------------------------------
def test_a_reconsideration_not_accepted_closes_back_to_the_office_with_the_refusal() -> None:
    s = Story()
    s.receive("reconsideration")
    assert s.handoff["deadline"]["rule_id"] == "services.reconsideration.review"
    assert s.handoff["obliged"]["agency_id"] == "qs-recon"
    assert s.reject(T0 + 2 * DAY, "not_accepted") == ["HandoffFulfilled", "ServiceRequestClosed"]
    [closed] = s.decisions("ServiceRequestClosed")
    assert (closed["outcome"], closed["days_to_close"], closed["step"]) == ("rejected", 2, "reconsideration")
    assert s.handoff["late"] is False and s.handoff["acknowledged_at"] is None
    assert s.case["status"] == "closed"


def test_a_reconsideration_accepted_runs_60_days_from_the_acceptance() -> None:
    s = Story()
    s.receive("reconsideration")
    s.accept(T0 + 3 * DAY)  # Fri 4 Sep
    assert s.handoff["deadline"]["due"] == "2026-11-03T16:00:00.000Z"
    assert s.reject(T0 + 50 * DAY, "refused_on_merits") == ["HandoffFulfilled", "ServiceRequestClosed"]
    assert s.decisions("ServiceRequestClosed")[0]["outcome"] == "rejected"


def test_legal_aid_through_the_service_point_goes_to_the_centre_with_7_days_from_the_forwarding() -> None:
    s = Story()
    s.receive("legal_aid")
    [forwarded] = s.decisions("ServiceRequestForwarded")
    assert forwarded["obliged"]["agency_id"] == "qs-jb-legalaid"  # judicial_bureau:legal_aid_centre
    assert forwarded["deadline"]["rule_id"] == "services.legal_aid.decide"
    assert forwarded["deadline"]["due"] == "2026-09-08T16:00:00.000Z"
    s.accept(T0 + DAY)  # the receipt does not restart the 7 days
    assert s.handoff["deadline"]["due"] == "2026-09-08T16:00:00.000Z"
    assert s.complete(T0 + 6 * DAY) == ["HandoffFulfilled", "ServiceRequestClosed"]
    assert s.handoff["late"] is False


def test_law_enforcement_feedback_accepted_in_3_working_days_across_the_holiday() -> None:
    s = Story()
    s.receive("enforcement_feedback", at(date(2026, 9, 30)))
    # Wed 30 Sep: the holiday; Thu 8 (1), Fri 9 (2), Sat 10 October worked (3).
    assert s.handoff["deadline"]["due"] == "2026-10-10T16:00:00.000Z"
    assert s.time_passes(at(date(2026, 10, 9))) == []
    s.accept(at(date(2026, 10, 10)))
    assert s.handoff["deadline"]["due"] == "2026-11-09T16:00:00.000Z"  # 30 days from Sat 10 Oct
    assert s.handoff["deadline"]["rule_id"] == "services.enforcement_feedback.answer"


def test_a_legislative_opinion_closes_with_the_consultation_or_waits_without_a_date() -> None:
    s = Story("FW-L1")
    s.receive("legislative_opinion")
    assert s.handoff["deadline"]["due"] == "2026-09-04T16:00:00.000Z"  # 3 working days: Fri 4 Sep
    s.accept(T0 + DAY, decision_due=date(2026, 10, 30))  # the consultation closes on 30 October
    assert s.handoff["deadline"]["rule_id"] == "services.legislative_opinion.close"
    assert s.handoff["deadline"]["due"] == "2026-10-30T16:00:00.000Z"

    # Acknowledged without the consultation's closing date: no deadline, and the met acknowledgement
    # clock does not linger to make the request overdue.
    w = Story("FW-L2")
    w.receive("legislative_opinion")
    assert w.accept(T0 + DAY) == ["HandoffAcknowledged"]
    assert w.handoff["state"] == "acknowledged" and w.handoff["deadline"] is None
    assert w.time_passes(T0 + 30 * DAY) == []
    assert w.complete(T0 + 40 * DAY) == ["HandoffFulfilled", "ServiceRequestClosed"]
    assert w.handoff["late"] is False
    assert w.replayed() == w.case


# -- routing, receipts, order -----------------------------------------------------------------------------
def test_a_request_from_a_county_without_that_body_is_reported_to_its_bureau() -> None:
    s = Story()
    assert s.receive("notary", residence={"code": "339902001001", "name": "白云村"}) == ["RoutingFailed"]
    [failed] = s.decisions("RoutingFailed")
    assert failed["addressed_to"]["agency_id"] == "by-jb" and failed["step"] == "notary"
    assert failed["wanted_agency_type"] == "service_body"
    assert s.case["handoffs"] == {} and s.case["status"] == "open"


def test_only_the_body_forwarded_to_gives_the_receipt() -> None:
    s = Story()
    s.receive("notary")
    assert s.accept(T0 + DAY, by="qs-recon") == []  # another body's acceptance is not this receipt
    assert s.handoff["state"] == "assigned"
    assert s.accept(T0 + DAY, by="qs-notary") == ["HandoffAcknowledged"]


def test_a_resent_request_and_a_repeated_answer_change_nothing() -> None:
    s = Story()
    s.receive("reconsideration")
    assert s.receive("reconsideration", T0 + timedelta(hours=1)) == []  # forwarded once
    s.reject(T0 + DAY, "not_accepted")
    assert s.reject(T0 + 2 * DAY, "not_accepted") == []  # closed once
    assert len(s.decisions("ServiceRequestClosed")) == 1


def test_an_acceptance_before_the_request_is_held_then_decided() -> None:
    s = Story()
    s.service = "notary"
    assert s.accept(T0) == []
    assert s.case["status"] == "awaiting_opening" and s.case["held"]
    assert s.receive("notary", T0 - timedelta(hours=1)) == [
        "ServiceRequestForwarded",
        "HandoffAssigned",
        "HandoffAcknowledged",
    ]
    assert s.handoff["deadline"]["rule_id"] == "services.notary.certificate"


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_service_is_forwarded_to_its_own_body(service: str) -> None:
    s = Story(f"FW-{service}")
    assert s.receive(service)[0] == "ServiceRequestForwarded"
    assert s.handoff["obliged"]["agency_id"] == BODY_IDS[service]
    assert s.handoff["step"] == service


def test_the_workflow_names_the_rules_the_policy_gives_each_service() -> None:
    policy = default_policy()
    assert set(SERVICES) == set(policy.services)
    for service, (accept, decide, _) in SERVICES.items():
        assert (policy.services[service].accept, policy.services[service].decide) == (accept, decide), service
