"""Legal aid (法律援助) as scenarios on the pure engine: notices, applications, the register lookup.

Each test reads as a story: an organ notifies or a person applies, the hub looks the applicant up
in civil affairs' assistance register once, asks civil affairs to check where it must, agencies
decide and assign, time passes, the hub decides. The same engine runs in the workers;
`tests/integration/test_legal_aid_on_broker.py` plays the acceptance stories there.

The county is 青山县: legal aid centre qs-jb-legalaid under the judicial bureau qs-jb, civil
affairs qs-ca, court qs-court, public security (and its custody facility) qs-psb, and the judicial
office qs-jo-1 of 青山镇 where people apply. The register is the demo deployment's
(`infra/deployments/demo/registers/assistance.yaml`).
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import EngineStory
from helpers import release_event as agency_event

from fengqiao.streams import engine
from fengqiao.streams.directory import DEMO_DIR
from fengqiao.streams.registers import Register, RegisterError
from fengqiao.streams.workflows import load_context

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 September 2026, 10:00 in Beijing
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
VILLAGE = {"code": "339901001001", "name": "东溪村"}
COUNTY = {"code": "339901", "name": "青山县"}
ON_REGISTER = "330102198503120049"  # 低保 until the end of 2026
LAPSED = "330102198809010037"  # 低收入 until 31 March 2026
NOT_LISTED = "330102199311220082"


def ref(agency_id: str, agency_type: str) -> dict[str, Any]:
    return {"agency_id": agency_id, "agency_type": agency_type, "name": None}


COURT = ref("qs-court", "court")
CENTRE = ref("qs-jb-legalaid", "judicial_bureau")
BUREAU = ref("qs-jb", "judicial_bureau")
OFFICE = ref("qs-jo-1", "judicial_office")
CIVIL = ref("qs-ca", "civil_affairs")
CUSTODY = ref("qs-psb", "police")


def person(id_number: str, name: str = "王建国") -> dict[str, Any]:
    return {"person_id": f"P-{id_number[-4:]}", "name": name, "id_number": id_number, "phone": None}


class Story(EngineStory):
    """One legal aid case told through the engine, keeping every event on 'the log' for replay."""

    workflow, first_id = "legal_aid", "FY-1"

    # -- the agencies' events ---------------------------------------------------------------------
    def notify(self, t: datetime = T0, **fields: Any) -> list[str]:
        """The court finds a defendant without counsel and notifies the centre (通知辩护)."""
        return self.publish(
            "LegalAidNotified",
            t,
            "qs-court",
            **{
                "notifier": COURT,
                "notifier_case_number": "（2026）浙9901刑初42号",
                "person": person(NOT_LISTED, "张伟"),
                "stage": "trial",
                "grounds": ["可能判处无期徒刑 possible life sentence"],
                "detained": True,
                "custody_facility": CUSTODY,
                "legal_aid_centre": None,
                "place": COUNTY,
                **fields,
            },
        )

    def apply(
        self, t: datetime = T0, id_number: str = ON_REGISTER, source: str = "qs-jo-1", **fields: Any
    ) -> list[str]:
        """An application for legal aid, taken at the judicial office (代办点) unless said otherwise."""
        return self.publish(
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
                "exemption_ground": None,
                "hardship_claimed": None,
                "legal_aid_centre": None,
                **fields,
            },
        )

    def in_custody(self, t: datetime = T0) -> list[str]:
        """A detained person applies through the custody facility (看守所, run by the public security)."""
        return self.publish(
            "LegalAidAppliedInCustody",
            t,
            "qs-psb",
            received_by=CUSTODY,
            applicant=person(NOT_LISTED, "刘洋"),
            place=COUNTY,
            custody_facility=CUSTODY,
            matter="criminal_defence",
            legal_aid_centre=None,
        )

    def hardship(self, t: datetime, status: str) -> list[str]:
        return self.publish(
            "HardshipStatusReported",
            t,
            "qs-ca",
            handoff_id=None,
            civil_affairs=CIVIL,
            status=status,
            on_assistance_register=False,
            valid_until=None,
        )

    def grant(self, t: datetime) -> list[str]:
        return self.publish(
            "LegalAidGranted", t, "qs-jb-legalaid", centre=CENTRE, decision_number="青援决〔2026〕7号"
        )

    def deny(self, t: datetime) -> list[str]:
        return self.publish(
            "LegalAidDenied",
            t,
            "qs-jb-legalaid",
            centre=CENTRE,
            decision_number="青援不〔2026〕3号",
            reason="经济状况不符合条件 not in hardship",
        )

    def assign(self, t: datetime, **fields: Any) -> list[str]:
        return self.publish(
            "LawyerAssigned",
            t,
            "qs-jb-legalaid",
            **{
                "centre": CENTRE,
                "assignment_number": "青援指〔2026〕9号",
                "lawyer_name": "陈静",
                "law_firm": "浙江青山律师事务所",
                "lawyer_phone": None,
                "notifier": None,
                **fields,
            },
        )


def states(s: Story) -> dict[str, str]:
    assert s.case is not None
    return {h["id"].split("/", 1)[1]: h["state"] for h in s.case["handoffs"].values()}


def ids(refs: list[dict[str, Any]]) -> list[str]:
    return [r["agency_id"] for r in refs]


# -- 通知辩护: criminal defence by notice ----------------------------------------------------------------
def test_a_defendant_notice_with_the_lawyer_assigned_on_day_4_is_overdue_and_escalated() -> None:
    s = Story()
    assert s.notify() == ["HandoffAssigned"]
    h = s.handoff("assign_notified")
    assert h["obliged"]["agency_id"] == "qs-jb-legalaid"  # routed by the place: 青山县's centre
    assert ids(h["informed"]) == ["qs-court"]  # the notifier sees who owes the lawyer, and by when
    # 3 calendar days from the notice (Tue 1 Sep): 24:00 Friday 4 September, Beijing.
    assert (h["deadline"]["due"], h["rule_id"]) == ("2026-09-04T16:00:00.000Z", "legal_aid.assign_notified")

    assert s.time_passes(T0 + 3 * DAY) == []  # Friday 10:00: still in time
    assert s.time_passes(T0 + 4 * DAY) == ["HandoffOverdue", "HandoffEscalated"]
    h = s.handoff("assign_notified")
    assert h["state"] == "escalated" and ids(h["escalated_to"]) == ["qs-jb"]  # the centre's bureau
    assert s.case is not None and s.case["status"] == "overdue"

    assert s.assign(T0 + 4 * DAY + HOUR) == ["HandoffFulfilled", "LawyerAssignmentForwarded"]
    h = s.handoff("assign_notified")
    assert h["state"] == "fulfilled" and h["late"] is True and h["overdue_at"]
    [forwarded] = s.decisions("LawyerAssignmentForwarded")
    # Forwarded to the notifying court and the custody facility, so the lawyer can meet the defendant.
    assert ids(forwarded["forwarded_to"]) == ["qs-court", "qs-psb"]
    assert (forwarded["lawyer_name"], forwarded["centre"]["agency_id"]) == ("陈静", "qs-jb-legalaid")
    assert s.case["status"] == "open"
    assert s.replayed() == s.case


def test_a_notice_naming_its_centre_and_no_place_is_still_escalated_to_the_bureau() -> None:
    s = Story()
    s.notify(place=None, legal_aid_centre=CENTRE)
    assert s.handoff("assign_notified")["obliged"]["agency_id"] == "qs-jb-legalaid"
    assert s.time_passes(T0 + 5 * DAY) == ["HandoffOverdue", "HandoffEscalated"]
    assert ids(s.handoff("assign_notified")["escalated_to"]) == ["qs-jb"]  # the centre's superior
    assert s.assign(T0 + 5 * DAY + HOUR) == ["HandoffFulfilled", "LawyerAssignmentForwarded"]


def test_a_lawyer_assigned_within_3_days_is_on_time() -> None:
    s = Story()
    s.notify()
    s.assign(T0 + 2 * DAY)
    assert s.handoff("assign_notified")["late"] is False
    assert s.time_passes(T0 + 10 * DAY) == []
    assert s.case is not None and s.case["alerts"] == []


# -- applications and the means test -------------------------------------------------------------------
def test_an_applicant_on_the_assistance_register_is_exempt_no_hardship_check() -> None:
    s = Story()
    assert s.apply(id_number=ON_REGISTER) == ["MeansTestExemptionDecided", "HandoffAssigned"]
    [decided] = s.decisions("MeansTestExemptionDecided")
    assert decided["exempt"] is True and decided["on_assistance_register"] is True
    assert (decided["register_status"], decided["register_valid_until"]) == (
        "subsistence_allowance",
        "2026-12-31",
    )
    assert decided["register"].startswith("assistance@sha256:")
    assert decided["rule_id"] == "legal_aid.means_test_exempt" and "低保" in decided["reason"]
    assert decided["centre"]["agency_id"] == "qs-jb-legalaid"
    assert s.decisions("HardshipCheckRequested") == []
    assert states(s) == {"decide/1": "assigned"}
    decide = s.handoff("decide")
    assert decide["obliged"]["agency_id"] == "qs-jb-legalaid"
    assert decide["deadline"]["due"] == "2026-09-08T16:00:00.000Z"  # 7 days from Tue 1 Sep

    assert s.grant(T0 + 2 * DAY) == ["HandoffFulfilled", "HandoffAssigned"]
    assert s.handoff("decide")["late"] is False
    assert s.handoff("assign_granted")["deadline"]["due"] == "2026-09-06T16:00:00.000Z"  # 3 days from 3 Sep
    assert s.assign(T0 + 3 * DAY) == ["HandoffFulfilled", "LawyerAssignmentForwarded"]
    [forwarded] = s.decisions("LawyerAssignmentForwarded")
    assert ids(forwarded["forwarded_to"]) == ["qs-jo-1"]  # the office that took the application tells them
    assert s.publish("LegalAidCaseClosed", T0 + 60 * DAY, "qs-jb-legalaid", centre=CENTRE) == []
    assert s.case is not None and s.case["status"] == "closed"
    assert s.replayed() == s.case


def test_an_applicant_not_on_the_register_is_checked_answered_and_decided() -> None:
    s = Story()
    assert s.apply(id_number=NOT_LISTED) == [
        "MeansTestExemptionDecided",
        "HandoffAssigned",
        "HardshipCheckRequested",
        "HandoffAssigned",
    ]
    [decided] = s.decisions("MeansTestExemptionDecided")
    assert (decided["exempt"], decided["register_status"]) == (False, None)
    [check] = s.decisions("HardshipCheckRequested")
    assert check["obliged"]["agency_id"] == "qs-ca" and check["applicant"]["id_number"] == NOT_LISTED
    assert check["residence"]["code"] == VILLAGE["code"]
    assert check["application_received_at"] == "2026-09-01T02:00:00.000Z"
    assert states(s) == {"decide/1": "assigned", "hardship_check/1": "assigned"}
    assert s.handoff("hardship_check")["deadline"] is None  # no limit of its own: the 7 days run

    assert s.hardship(T0 + 2 * DAY, "low_income") == ["HandoffFulfilled"]
    assert s.grant(T0 + 5 * DAY) == ["HandoffFulfilled", "HandoffAssigned"]
    assert states(s) == {
        "decide/1": "fulfilled",
        "hardship_check/1": "fulfilled",
        "assign_granted/1": "assigned",
    }
    assert s.handoff("decide")["late"] is False
    assert s.replayed() == s.case


def test_a_lapsed_entry_and_an_unconfirmed_claim_do_not_exempt() -> None:
    s = Story()
    s.apply(id_number=LAPSED, exempt_from_means_test=True, exemption_ground="低收入 low income")
    [decided] = s.decisions("MeansTestExemptionDecided")
    assert decided["exempt"] is False and decided["claimed_exempt"] is True
    assert decided["register_status"] == "low_income" and decided["register_valid_until"] == "2026-03-31"
    assert "失效" in decided["reason"] and "claim" in decided["reason"]
    assert len(s.decisions("HardshipCheckRequested")) == 1


def test_the_register_is_looked_at_once_replay_and_catch_up_never_look_again() -> None:
    s = Story()
    s.apply(id_number=NOT_LISTED)
    [(applied_env, applied)] = [(e, r) for e, r in s.log if e.type == "LegalAidApplied"]
    # Civil affairs adds the applicant to the register a day later. The decision stands:
    listed = Register("assistance", "id_number", {NOT_LISTED: {"status": "extreme_poverty"}}, "0" * 64)
    later = dataclasses.replace(s.ctx, registers={"assistance": listed})
    # a re-sent application (a new event id) does not look again,
    fields = {k: v for k, v in applied.items() if k != "case_id"}
    env, record = agency_event("LegalAidApplied", s.case_id, T0 + DAY, "qs-jo-1", **fields)
    assert "MeansTestExemptionDecided" not in [
        e.type for e, _ in engine.handle(s.case, env, record, later, T0 + DAY).decisions
    ]
    # replay is fold alone: the decision is read from the log,
    assert s.replayed()["facts"]["MeansTestExemptionDecided"]["exempt"] is False
    # and a worker catching up after a restart reads the decision back instead of deciding again.
    on_log = {e.id: (e, r) for e, r in s.log}
    caught_up = engine.handle(None, applied_env, applied, later, T0 + 3 * DAY, known=on_log.get)
    assert caught_up.case["facts"]["MeansTestExemptionDecided"]["exempt"] is False
    assert caught_up.case == s.case
    # Whereas a fresh application today, with the new register, is exempt.
    fresh = Story("FY-2", later)
    fresh.apply(T0 + DAY, id_number=NOT_LISTED)
    assert fresh.decisions("MeansTestExemptionDecided")[0]["exempt"] is True


def test_a_deployment_without_a_register_asks_civil_affairs_every_time() -> None:
    s = Story(ctx=dataclasses.replace(load_context(), registers={}))
    s.apply(id_number=ON_REGISTER)
    [decided] = s.decisions("MeansTestExemptionDecided")
    assert (decided["exempt"], decided["register"]) == (False, None)
    assert len(s.decisions("HardshipCheckRequested")) == 1


def test_a_decision_not_made_in_7_days_is_overdue_to_the_bureau_and_the_check_becomes_moot() -> None:
    s = Story()
    s.apply(id_number=NOT_LISTED)
    assert s.time_passes(T0 + 7 * DAY) == []  # Tuesday 8 September, 10:00: the last day
    assert s.time_passes(T0 + 8 * DAY) == ["HandoffOverdue", "HandoffEscalated"]
    decide = s.handoff("decide")
    assert decide["state"] == "escalated" and ids(decide["escalated_to"]) == ["qs-jb"]
    assert s.handoff("hardship_check")["state"] == "assigned"  # no clock: never overdue by itself
    assert s.deny(T0 + 8 * DAY + HOUR) == ["HandoffFulfilled", "HandoffCancelled"]
    assert s.handoff("decide")["late"] is True
    assert s.handoff("hardship_check")["state"] == "cancelled"  # decided without the answer


# -- a detained applicant: forwarded within 24 hours -------------------------------------------------
def test_a_detained_applicants_application_is_forwarded_within_24_hours() -> None:
    s = Story()
    assert s.in_custody() == ["HandoffAssigned"]
    forward = s.handoff("forward")
    assert forward["obliged"]["agency_id"] == "qs-psb" and ids(forward["informed"]) == ["qs-jb-legalaid"]
    assert forward["deadline"]["due"] == "2026-09-02T02:00:00.000Z"  # 24 hours
    # The facility forwards it 20 hours later: the centre's 7 days start with the forwarded application.
    forwarded_at = T0 + 20 * HOUR
    decided = s.apply(
        forwarded_at,
        id_number=NOT_LISTED,
        source="qs-psb",
        received_by=CUSTODY,
        detained=True,
        residence=COUNTY,
    )
    assert decided == [
        "HandoffFulfilled",
        "MeansTestExemptionDecided",
        "HandoffAssigned",
        "HardshipCheckRequested",
        "HandoffAssigned",
    ]
    assert s.handoff("forward")["late"] is False
    # Received Wednesday 2 September (06:00 Beijing): decided by 24:00 Wednesday 9 September.
    assert s.handoff("decide")["deadline"]["due"] == "2026-09-09T16:00:00.000Z"
    assert s.replayed() == s.case


def test_an_application_held_at_the_facility_past_24_hours_is_overdue() -> None:
    s = Story()
    s.in_custody()
    assert s.time_passes(T0 + 23 * HOUR) == []
    assert s.time_passes(T0 + 25 * HOUR) == ["HandoffOverdue"]  # deadlines.md: overdue, no escalation
    assert s.handoff("forward")["state"] == "overdue"
    s.apply(T0 + 30 * HOUR, id_number=NOT_LISTED, source="qs-psb", received_by=CUSTODY, detained=True)
    assert s.handoff("forward")["state"] == "fulfilled" and s.handoff("forward")["late"] is True


# -- refusals and objections -------------------------------------------------------------------------
def test_a_refusal_objected_to_and_upheld_then_granted() -> None:
    s = Story()
    s.apply(id_number=NOT_LISTED)
    s.hardship(T0 + 2 * DAY, "none")
    assert s.deny(T0 + 6 * DAY) == ["HandoffFulfilled"]
    assert s.publish(
        "LegalAidObjectionFiled",
        T0 + 8 * DAY,
        "qs-jb",
        bureau=BUREAU,
        objection_number=None,
        reason="家庭困难",
    ) == ["HandoffAssigned"]
    objection = s.handoff("objection")
    assert objection["obliged"]["agency_id"] == "qs-jb"
    assert objection["deadline"]["due"] == "2026-09-14T16:00:00.000Z"  # 5 days from Wed 9 Sep
    assert s.publish(
        "LegalAidObjectionDecided",
        T0 + 11 * DAY,
        "qs-jb",
        bureau=BUREAU,
        decision_number="青司异〔2026〕1号",
        upheld=True,
        objection_received_at=T0 + 8 * DAY,
    ) == ["HandoffFulfilled"]
    assert s.grant(T0 + 12 * DAY) == ["HandoffAssigned"]
    assert states(s) == {
        "decide/1": "fulfilled",
        "hardship_check/1": "fulfilled",
        "objection/1": "fulfilled",
        "assign_granted/1": "assigned",
    }
    assert s.replayed() == s.case


def test_an_objection_not_decided_in_5_days_is_overdue() -> None:
    s = Story()
    s.apply(id_number=ON_REGISTER)
    s.deny(T0 + DAY)
    s.publish(
        "LegalAidObjectionFiled", T0 + 2 * DAY, "qs-jb", bureau=BUREAU, objection_number=None, reason=None
    )
    assert s.time_passes(T0 + 8 * DAY) == ["HandoffOverdue"]
    assert s.handoff("objection")["state"] == "overdue"


@pytest.mark.parametrize("late", [False, True])
def test_a_lawyer_after_a_grant_within_3_days(late: bool) -> None:
    s = Story()
    s.apply(id_number=ON_REGISTER)
    s.grant(T0 + DAY)
    if late:
        assert s.time_passes(T0 + 5 * DAY) == ["HandoffOverdue"]
    s.assign(T0 + (5 if late else 3) * DAY)
    assert s.handoff("assign_granted")["late"] is late


def test_events_before_the_application_are_held_and_decided_in_order() -> None:
    s = Story()
    assert s.hardship(T0 - HOUR, "subsistence_allowance") == []
    assert s.case is not None and s.case["status"] == "awaiting_opening"
    decided = s.apply(id_number=NOT_LISTED)
    # The application is decided first (the check is asked), then the held answer, which fulfils it.
    assert decided == [
        "MeansTestExemptionDecided",
        "HandoffAssigned",
        "HardshipCheckRequested",
        "HandoffAssigned",
        "HandoffFulfilled",
    ]
    assert states(s) == {"decide/1": "assigned", "hardship_check/1": "fulfilled"}
    assert s.replayed() == s.case


def test_a_deployment_keeps_its_register_as_csv_and_a_bad_one_is_refused_by_name(tmp_path: Path) -> None:
    shutil.copy(DEMO_DIR / "agencies.yaml", tmp_path / "agencies.yaml")
    (tmp_path / "registers").mkdir()
    csv = tmp_path / "registers" / "assistance.csv"
    csv.write_text(
        f"id_number,status,valid_until\n{NOT_LISTED},extreme_poverty,2026-12-31\n", encoding="utf-8"
    )
    s = Story(ctx=load_context(tmp_path))
    s.apply(id_number=NOT_LISTED)
    [decided] = s.decisions("MeansTestExemptionDecided")
    assert (decided["exempt"], decided["register_valid_until"]) == (True, "2026-12-31")
    assert s.decisions("HardshipCheckRequested") == []

    csv.write_text(f"id_number,status\n{NOT_LISTED},low_income\n{NOT_LISTED},none\n", encoding="utf-8")
    with pytest.raises(RegisterError, match=r"assistance\.csv: entry 2: id_number .* is listed twice"):
        load_context(tmp_path)
