"""Community corrections (社区矫正) as scenarios on the pure engine.

Each test reads as a story: the court commissions an investigation or orders a correction, the hub
hands the person to the corrections agency and copies the others, the person reports or does not,
time passes, the hub decides. The same engine runs in the workers;
`tests/integration/test_corrections_on_broker.py` plays the acceptance stories there.

The person lives in 东溪村 (339901001001) of 青山县: corrections agency qs-jb-corrections, police
station qs-ps-1, county police qs-psb, procuratorate qs-proc, court qs-court. The other county,
白云县 (339902), has its own corrections agency (by-jb-corrections), police (by-psb, by-ps-1), and
no court or procuratorate in the demo directory.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from helpers import EngineStory

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 September 2026, 10:00 in Beijing
DAY = timedelta(days=1)
VILLAGE = {"code": "339901001001", "name": "东溪村"}
BAIYUN = {"code": "339902001001", "name": "白云村"}


def ref(agency_id: str, agency_type: str) -> dict[str, Any]:
    return {"agency_id": agency_id, "agency_type": agency_type, "name": None}


COURT = ref("qs-court", "court")
AGENCY = ref("qs-jb-corrections", "judicial_bureau")
NEW_AGENCY = ref("by-jb-corrections", "judicial_bureau")
PRISON = ref("zj-prison-2", "prison")


def at(y: int, m: int, d: int, hour: int = 10) -> datetime:
    """``hour`` o'clock in Beijing on that day."""
    return datetime(y, m, d, hour - 8, tzinfo=UTC)


class Story(EngineStory):
    """One person's correction told through the engine, keeping every event on 'the log' for replay."""

    workflow, first_id = "corrections", "JZ-1"

    # -- the agencies' events -------------------------------------------------------------------------
    def order(
        self,
        t: datetime = T0,
        *,
        effective_on: date | None = None,
        kind: str = "probation",
        organ: dict[str, Any] = COURT,
        term_end: date | None = date(2027, 9, 1),
        documents_sent: bool = True,
    ) -> list[str]:
        """The decision organ orders community correction (社区矫正决定), effective the day it is sent."""
        effective = effective_on or (t + timedelta(hours=8)).date()
        return self.publish(
            "CommunityCorrectionOrdered",
            t,
            organ["agency_id"],
            decision_organ=organ,
            judgment_number="(2026)青刑初42号",
            kind=kind,
            execution_place=VILLAGE,
            corrections_agency=None,
            effective_on=effective,
            term_start=effective,
            term_end=term_end,
            documents_sent_at=t if documents_sent else None,
        )

    def receipt(self, t: datetime, by: dict[str, Any] = AGENCY) -> list[str]:
        return self.publish(
            "CorrectionDocumentsReceived",
            t,
            by["agency_id"],
            handoff_id=None,
            agency=by,
            complete=True,
            missing=[],
        )

    def reported(self, t: datetime, by: dict[str, Any] = AGENCY) -> list[str]:
        return self.publish("CorrectionReported", t, by["agency_id"], agency=by, reported_at=t)

    def investigation(self, t: datetime, *, fast_track: bool = False) -> list[str]:
        return self.publish(
            "InvestigationRequested",
            t,
            "qs-court",
            court=COURT,
            residence=VILLAGE,
            fast_track=fast_track,
            requested_at=t,
        )

    def propose(self, t: datetime, *, arrest: bool = False) -> list[str]:
        return self.publish(
            "RevocationProposed",
            t,
            "qs-jb-corrections",
            agency=AGENCY,
            court=COURT,
            kind="probation",
            arrest_requested=arrest,
        )

    def ruling(self, t: datetime, *, revoked: bool = True, custody: bool = True) -> list[str]:
        return self.publish(
            "RevocationDecided", t, "qs-court", court=COURT, revoked=revoked, custody_required=custody
        )

    def move(self, t: datetime, new_place: dict[str, Any] = BAIYUN) -> list[str]:
        return self.publish(
            "ExecutionPlaceChanged",
            t,
            "qs-jb-corrections",
            agency=AGENCY,
            new_place=new_place,
            new_agency=None,
            effective_on=(t + timedelta(hours=8)).date(),
        )


def ids(refs: list[dict[str, Any]]) -> list[str]:
    return [r["agency_id"] for r in refs]


def states(s: Story) -> dict[str, str]:
    return {h["id"].split("/", 1)[1]: h["state"] for h in s.case["handoffs"].values()}


# -- the order, the copies and the 10 days to report ----------------------------------------------------
def test_an_order_hands_the_person_to_the_agency_and_copies_the_court_procuratorate_and_police() -> None:
    s = Story()
    assert s.order() == [
        "HandoffAssigned",
        "CorrectionHandoffAssigned",
        "HandoffAssigned",  # the decision organ's documents, 10 days
        "HandoffAssigned",  # the agency's receipt, 5 days from their sending
        "HandoffAssigned",  # the end of the term
    ]
    [handed] = s.decisions("CorrectionHandoffAssigned")
    assert handed["obliged"]["agency_id"] == "qs-jb-corrections"
    assert ids(handed["informed"]) == ["qs-court", "qs-proc", "qs-psb"]  # 抄送
    assert (handed["judgment_number"], handed["kind"], handed["effective_on"]) == (
        "(2026)青刑初42号",
        "probation",
        "2026-09-01",
    )
    assert handed["execution_place"] == VILLAGE and handed["notice_late"] is False
    # The person reports within 10 days of the effective date: 24:00 on Friday 11 September.
    assert handed["deadline"]["due"] == "2026-09-11T16:00:00.000Z"
    assert handed["deadline"]["rule_id"] == "corrections.report"
    assert s.handoff("documents")["obliged"]["agency_id"] == "qs-court"
    assert s.handoff("documents")["deadline"]["due"] == "2026-09-11T16:00:00.000Z"
    assert s.handoff("receipt")["deadline"]["due"] == "2026-09-06T16:00:00.000Z"
    assert s.handoff("terminate")["deadline"]["due"] == "2027-09-01T16:00:00.000Z"
    # The agency's receipt answers both the organ's documents and its own receipt.
    assert s.receipt(T0 + 2 * DAY) == ["HandoffFulfilled", "HandoffFulfilled"]
    assert s.handoff("documents")["late"] is False and s.handoff("receipt")["state"] == "fulfilled"


def test_a_probationer_who_reports_on_day_9_raises_no_alert() -> None:
    s = Story()
    s.order()
    s.receipt(T0 + DAY)
    assert s.reported(T0 + 9 * DAY) == ["HandoffFulfilled"]
    report = s.handoff("report")
    assert report["state"] == "fulfilled" and report["late"] is False
    assert s.time_passes(T0 + 40 * DAY) == []  # nothing is owed but the end of the term
    assert s.case["alerts"] == [] and s.case["status"] == "open"
    assert "CorrectionAbsconded" not in s.case["facts"]


def test_a_probationer_who_never_reports_absconds_on_day_11_and_gives_revocation_grounds_after_a_month() -> (
    None
):
    s = Story()
    s.order()
    s.receipt(T0 + DAY)
    assert s.time_passes(at(2026, 9, 11, 23)) == []  # the last hour of the 10th day: still in time
    assert s.time_passes(T0 + 11 * DAY) == [
        "HandoffOverdue",
        "CorrectionAbsconded",
        "HandoffEscalated",
        "HandoffEscalated",
        "HandoffEscalated",
        "HandoffAssigned",  # the agency's search
        "HandoffAssigned",  # the police station's assistance
    ]
    [gone] = s.decisions("CorrectionAbsconded")
    assert (gone["reason"], gone["since"]) == ("not_reported", "2026-09-11T16:00:00.000Z")
    assert gone["assisting_police"]["agency_id"] == "qs-ps-1"
    assert ids(gone["informed"]) == ["qs-court", "qs-proc"]  # decision organ and procuratorate
    assert ids(gone["alerted"]) == ["qs-ps-1", "qs-court", "qs-proc"]
    assert ids([e["escalated_to"] for e in s.decisions("HandoffEscalated")]) == [
        "qs-ps-1",
        "qs-court",
        "qs-proc",
    ]
    assert [a["type"] for a in s.case["alerts"]] == ["CorrectionAbsconded"]
    search, assist = s.handoff("search"), s.handoff("search_assist")
    assert search["obliged"]["agency_id"] == "qs-jb-corrections"
    # More than a month unreported: the day the absence began (12 September) not counted.
    assert search["deadline"]["due"] == "2026-10-12T16:00:00.000Z"
    assert (assist["obliged"]["agency_id"], assist["deadline"]) == ("qs-ps-1", None)
    assert s.case["status"] == "overdue"

    assert s.time_passes(at(2026, 10, 12)) == []
    assert s.time_passes(at(2026, 10, 13)) == ["HandoffOverdue", "RevocationGroundsArisen", "HandoffAssigned"]
    [grounds] = s.decisions("RevocationGroundsArisen")
    assert (grounds["ground"], grounds["since"], grounds["kind"]) == (
        "unreported_over_month",
        "2026-09-11T16:00:00.000Z",
        "probation",
    )
    assert ids(grounds["informed"]) == ["qs-court", "qs-proc"]
    propose = s.handoff("propose")
    assert (propose["obliged"]["agency_id"], propose["deadline"]) == ("qs-jb-corrections", None)
    # The agency proposes revocation: the prompt is answered, the court's 30 days begin.
    assert s.propose(at(2026, 10, 14)) == ["HandoffFulfilled", "HandoffAssigned"]
    assert s.handoff("revocation_ruling")["deadline"]["due"] == "2026-11-13T16:00:00.000Z"
    assert s.replayed() == s.case


def test_a_person_found_within_the_month_ends_the_search_and_no_grounds_arise() -> None:
    s = Story()
    s.order()
    s.time_passes(T0 + 11 * DAY)
    assert s.reported(T0 + 20 * DAY) == ["HandoffFulfilled", "HandoffFulfilled", "HandoffFulfilled"]
    assert s.handoff("report")["late"] is True  # reported, but late
    assert (s.handoff("search")["state"], s.handoff("search_assist")["state"]) == ("fulfilled", "fulfilled")
    assert s.time_passes(at(2026, 10, 20)) == []  # a month on: nothing more to decide
    assert "RevocationGroundsArisen" not in s.case["facts"]


def test_an_agency_that_loses_contact_with_the_person_declares_them_absconded_from_the_last_contact() -> None:
    s = Story()
    s.order()
    s.receipt(T0 + DAY)
    s.reported(T0 + 3 * DAY)
    lost = at(2026, 10, 5, 15)
    assert s.publish(
        "CorrectionViolationRecorded",
        at(2026, 10, 6),
        "qs-jb-corrections",
        agency=AGENCY,
        violation_type="out_of_contact",
        sanction="none",
        occurred_at=lost,
    ) == ["CorrectionAbsconded", "HandoffAssigned", "HandoffAssigned"]
    [gone] = s.decisions("CorrectionAbsconded")
    assert (gone["reason"], gone["last_contact_at"], gone["since"]) == (
        "out_of_contact",
        "2026-10-05T07:00:00.000Z",
        "2026-10-05T07:00:00.000Z",
    )
    assert s.handoff("search")["deadline"]["due"] == "2026-11-05T16:00:00.000Z"
    # A second report of the same loss of contact opens no second search.
    assert (
        s.publish(
            "CorrectionViolationRecorded",
            at(2026, 10, 7),
            "qs-jb-corrections",
            agency=AGENCY,
            violation_type="out_of_contact",
            sanction="warning",
            occurred_at=lost,
        )
        == []
    )
    assert s.time_passes(at(2026, 11, 6))[:2] == ["HandoffOverdue", "RevocationGroundsArisen"]
    [grounds] = s.decisions("RevocationGroundsArisen")
    assert grounds["ground"] == "out_of_contact_over_month"


def test_other_violations_are_recorded_without_a_decision() -> None:
    s = Story()
    s.order()
    assert (
        s.publish(
            "CorrectionViolationRecorded",
            T0 + 5 * DAY,
            "qs-jo-1",
            agency=ref("qs-jo-1", "judicial_office"),
            violation_type="unauthorised_leave",
            sanction="warning",
        )
        == []
    )
    assert s.case["facts"]["CorrectionViolationRecorded"]["sanction"] == "warning"


def test_an_order_sent_more_than_5_days_after_the_judgment_took_effect_is_flagged_late() -> None:
    s = Story()
    s.order(T0, effective_on=date(2026, 8, 25))  # the 5 days ran out at 24:00 on 30 August
    [handed] = s.decisions("CorrectionHandoffAssigned")
    assert handed["notice_late"] is True and s.case["flags"] == {"notice_late": True}
    # The 10 days to report still run from the effective date, not from the late order.
    assert handed["deadline"]["due"] == "2026-09-04T16:00:00.000Z"


def test_temporary_execution_outside_prison_holds_the_prison_to_the_transfer() -> None:
    s = Story()
    s.order(kind="temporary_execution_outside_prison", organ=PRISON, term_end=None)
    transfer = s.handoff("temporary_transfer")
    assert transfer["obliged"]["agency_id"] == "zj-prison-2"
    assert transfer["deadline"]["due"] == "2026-09-11T16:00:00.000Z"
    assert s.handoff("terminate")["deadline"] is None  # open-ended: no term end to time
    s.reported(T0 + 4 * DAY)  # the agency registers the person the prison delivered
    assert s.handoff("temporary_transfer")["state"] == "fulfilled"


def test_an_order_without_documents_sent_leaves_the_receipt_untimed() -> None:
    s = Story()
    s.order(documents_sent=False)
    assert s.handoff("receipt")["deadline"] is None
    assert s.handoff("documents")["deadline"]["due"] == "2026-09-11T16:00:00.000Z"


# -- pre-sentence investigation ----------------------------------------------------------------------
def test_an_investigation_runs_10_working_days_across_the_national_day_holiday() -> None:
    s = Story()
    assert s.investigation(at(2026, 9, 30)) == ["HandoffAssigned"]
    inv = s.handoff("investigation")
    assert inv["obliged"]["agency_id"] == "qs-jb-corrections" and ids(inv["informed"]) == ["qs-court"]
    # Oct 1-7 off, Saturday 10 October a make-up working day: the 10th working day is Tuesday 20 October.
    assert (inv["rule_id"], inv["deadline"]["due"]) == (
        "corrections.investigation",
        "2026-10-20T16:00:00.000Z",
    )
    s.publish(
        "InvestigationReported",
        at(2026, 10, 19),
        "qs-jb-corrections",
        handoff_id=None,
        agency=AGENCY,
        suitable=True,
    )
    assert s.handoff("investigation")["state"] == "fulfilled" and s.handoff("investigation")["late"] is False


def test_a_fast_track_investigation_not_reported_in_5_working_days_goes_back_to_the_court() -> None:
    s = Story()
    s.investigation(at(2026, 9, 30), fast_track=True)
    inv = s.handoff("investigation")
    assert (inv["rule_id"], inv["deadline"]["due"]) == (
        "corrections.investigation_fast_track",
        "2026-10-13T16:00:00.000Z",
    )
    assert s.time_passes(at(2026, 10, 14)) == ["HandoffOverdue", "HandoffEscalated"]
    [up] = s.decisions("HandoffEscalated")
    assert up["escalated_to"]["agency_id"] == "qs-court"  # the commissioning court


def test_an_order_made_before_the_investigation_report_makes_the_investigation_moot() -> None:
    s = Story()
    s.investigation(T0)
    decisions = s.order(T0 + 3 * DAY)
    assert decisions[0] == "HandoffCancelled"
    assert s.handoff("investigation")["state"] == "cancelled"


# -- revocation ------------------------------------------------------------------------------------------
def test_a_revocation_ruled_late_is_overdue_to_the_court_and_the_procuratorate() -> None:
    s = Story()
    s.order()
    s.receipt(T0 + DAY)
    s.reported(T0 + 2 * DAY)
    proposed = at(2026, 9, 10)
    assert s.propose(proposed, arrest=True) == ["HandoffAssigned", "HandoffAssigned"]
    ruling, arrest = s.handoff("revocation_ruling"), s.handoff("arrest_decision")
    assert ruling["obliged"]["agency_id"] == "qs-court" and ids(ruling["informed"]) == ["qs-proc"]
    assert ruling["deadline"]["due"] == "2026-10-10T16:00:00.000Z"  # 30 days
    assert arrest["deadline"]["due"] == "2026-09-12T02:00:00.000Z"  # 48 hours, to the second
    assert s.time_passes(proposed + timedelta(hours=49)) == ["HandoffOverdue", "HandoffEscalated"]
    assert s.time_passes(at(2026, 10, 11)) == ["HandoffOverdue", "HandoffEscalated", "HandoffEscalated"]
    late = s.handoff("revocation_ruling")
    assert late["state"] == "escalated" and ids(late["escalated_to"]) == ["qs-court", "qs-proc"]
    # The court rules at last: late, and the police are asked to take the person into custody.
    assert s.ruling(at(2026, 10, 15)) == ["HandoffFulfilled", "HandoffFulfilled", "HandoffAssigned"]
    assert s.handoff("revocation_ruling")["late"] is True
    assert s.handoff("custody")["obliged"]["agency_id"] == "qs-psb"
    s.publish("PersonTakenIntoCustody", at(2026, 10, 16), "qs-ps-1", police=ref("qs-ps-1", "police_station"))
    assert s.handoff("custody")["state"] == "fulfilled"
    assert s.replayed() == s.case


def test_a_ruling_that_does_not_revoke_asks_no_custody() -> None:
    s = Story()
    s.order()
    s.propose(T0 + 5 * DAY)
    assert s.ruling(T0 + 20 * DAY, revoked=False, custody=False) == ["HandoffFulfilled"]
    assert "custody" not in {h["step"] for h in s.case["handoffs"].values()}


# -- change of execution place -----------------------------------------------------------------------------
def test_a_change_of_execution_place_is_handed_to_the_agency_of_the_other_county() -> None:
    s = Story()
    s.order()
    s.receipt(T0 + DAY)
    s.reported(T0 + 3 * DAY)
    moved = at(2026, 10, 9)
    assert s.move(moved) == [
        "HandoffAssigned",  # the transfer to the new place's agency
        "CorrectionHandoffAssigned",
        "HandoffCancelled",  # the end of the term is no longer 青山县's ...
        "HandoffAssigned",  # ... but 白云县's
    ]
    transfer = s.handoff("transfer")
    assert (
        transfer["obliged"]["agency_id"] == "by-jb-corrections" and transfer["routed_for"] == "339902001001"
    )
    assert transfer["deadline"] is None  # deadlines.md sets no clock for a change of place
    [handed] = [d for d in s.decisions("CorrectionHandoffAssigned") if d["step"] == "transfer"]
    assert handed["previous_agency"]["agency_id"] == "qs-jb-corrections"
    assert handed["execution_place"] == BAIYUN and handed["effective_on"] == "2026-09-01"
    assert ids(handed["informed"]) == ["qs-court", "by-psb"]  # 白云县 has no procuratorate in the directory
    assert (s.handoff("terminate")["state"], s.handoff("terminate", 2)["obliged"]["agency_id"]) == (
        "cancelled",
        "by-jb-corrections",
    )
    assert s.handoff("terminate", 2)["deadline"] == s.handoff("terminate")["deadline"]
    # Only the new agency's receipt counts as the transfer's receipt (回执).
    s.receipt(moved + DAY)
    assert s.handoff("transfer")["acknowledged_at"] is None
    s.receipt(moved + 2 * DAY, by=NEW_AGENCY)
    assert s.handoff("transfer")["state"] == "acknowledged"
    assert s.reported(moved + 5 * DAY, by=NEW_AGENCY) == ["HandoffFulfilled"]
    assert s.handoff("transfer")["late"] is False
    # The term ends at the new place: its agency ends it, the hub tells the organ and the police there.
    end = at(2027, 9, 1)
    assert s.publish(
        "CorrectionTerminated",
        end,
        "by-jb-corrections",
        agency=NEW_AGENCY,
        reason="term_completed",
        terminated_on=end.date(),
    ) == ["HandoffFulfilled", "CorrectionTerminationNotified"]
    [notice] = s.decisions("CorrectionTerminationNotified")
    assert ids(notice["informed"]) == ["qs-court", "by-psb"] and notice["end_reason"] == "term_completed"
    assert s.case["status"] == "closed"
    assert s.replayed() == s.case


def test_a_person_who_loses_contact_after_moving_is_searched_for_by_the_new_place() -> None:
    s = Story()
    s.order()
    s.receipt(T0 + DAY)
    s.reported(T0 + 3 * DAY)
    s.move(at(2026, 10, 9))
    s.reported(at(2026, 10, 12), by=NEW_AGENCY)
    assert s.publish(
        "CorrectionViolationRecorded",
        at(2026, 11, 2),
        "by-jb-corrections",
        agency=NEW_AGENCY,
        violation_type="out_of_contact",
        sanction="none",
        occurred_at=at(2026, 10, 30),
    ) == ["CorrectionAbsconded", "HandoffAssigned", "HandoffAssigned"]
    [gone] = s.decisions("CorrectionAbsconded")
    assert gone["obliged"]["agency_id"] == "by-jb-corrections"
    assert gone["assisting_police"]["agency_id"] == "by-ps-1"
    assert s.handoff("search")["obliged"]["agency_id"] == "by-jb-corrections"


# -- the end of the term ------------------------------------------------------------------------------------
def test_termination_notifies_the_decision_organ_procuratorate_and_police_and_closes_the_case() -> None:
    s = Story()
    s.order()
    s.reported(T0 + 3 * DAY)
    end = at(2027, 9, 1)
    assert s.publish(
        "CorrectionTerminated",
        end,
        "qs-jb-corrections",
        agency=AGENCY,
        reason="term_completed",
        certificate_number="青矫解〔2027〕1号",
        terminated_on=end.date(),
    ) == ["HandoffFulfilled", "CorrectionTerminationNotified", "HandoffCancelled", "HandoffCancelled"]
    [notice] = s.decisions("CorrectionTerminationNotified")
    assert ids(notice["informed"]) == ["qs-court", "qs-proc", "qs-psb"]
    assert (notice["rule_id"], notice["certificate_number"]) == (
        "corrections.termination_notice",
        "青矫解〔2027〕1号",
    )
    assert notice["person"] == s.case["facts"]["CommunityCorrectionOrdered"]["person"]
    assert s.handoff("terminate")["late"] is False and s.case["status"] == "closed"


def test_a_term_not_ended_on_its_last_day_is_overdue_without_escalation() -> None:
    s = Story()
    s.order(term_end=date(2026, 12, 31))
    s.receipt(T0 + DAY)
    s.reported(T0 + 3 * DAY)
    assert s.time_passes(at(2027, 1, 1)) == ["HandoffOverdue"]
    assert s.handoff("terminate")["state"] == "overdue"


@pytest.mark.parametrize("first", ["CorrectionReported", "CorrectionDocumentsReceived"])
def test_an_event_before_the_order_is_held_and_decided_when_the_order_comes(first: str) -> None:
    s = Story()
    if first == "CorrectionReported":
        assert s.reported(T0 + DAY) == []
    else:
        assert s.receipt(T0 + DAY) == []
    assert s.case["status"] == "awaiting_opening"
    s.order(T0 + 2 * DAY, effective_on=date(2026, 9, 1))
    step = "report" if first == "CorrectionReported" else "receipt"
    assert s.handoff(step)["state"] == "fulfilled"
