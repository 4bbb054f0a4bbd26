"""一庭两所 joint mediation and the four referral doors, as scenarios on the pure engine.

Each test reads as a story: an agency refers or registers a dispute, the hub assigns it by the
policy's risk rules, agencies sign, meet, agree or fail, time passes, the hub decides. The same engine
runs in the workers; `tests/integration/test_mediation_on_broker.py` plays the key stories there.

The place is 东溪村 (339901001001) of 青山镇: judicial office qs-jo-1, police station qs-ps-1,
tribunal qs-tribunal-1, under the county court qs-court and the county bureau qs-jb.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from helpers import EngineStory
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 September 2026, 10:00 in Beijing
DAY = timedelta(days=1)
VILLAGE = {"code": "339901001001", "name": "东溪村"}
CALM = {"violence": False, "threats": False, "weapons": False, "party_count": 2, "repeated_calls": 0}
REFERRERS = {
    "court_pre_filing": "qs-court",
    "court_post_filing": "qs-court",
    "police": "qs-ps-1",
    "petition": "qs-xf",
}
TYPES = {"qs-court": "court", "qs-ps-1": "police_station", "qs-xf": "petition_office"}
PARTIES = [
    {"person_id": "P-1", "name": "王建国", "id_number": None, "phone": None},
    {"person_id": "P-2", "name": "李秀英", "id_number": None, "phone": None},
]


def ref(agency_id: str, agency_type: str) -> dict[str, Any]:
    return {"agency_id": agency_id, "agency_type": agency_type, "name": None}


OFFICE = ref("qs-jo-1", "judicial_office")
TRIBUNAL = ref("qs-tribunal-1", "tribunal")
STATION = ref("qs-ps-1", "police_station")


class Story(EngineStory):
    """One dispute told through the engine, keeping every event on 'the log' for replay."""

    workflow, first_id = "mediation", "TJ-1"


def refer(
    s: Story,
    door: str,
    *,
    t: datetime = T0,
    risk: dict[str, Any] | None = None,
    amount_fen: int | None = 500_000,
    simplified: bool = False,
    place: dict[str, Any] = VILLAGE,
) -> list[str]:
    """A court, police station or petition office refers the dispute (诉调、警调、访调对接)."""
    referrer = REFERRERS[door]
    return s.publish(
        "DisputeReferred",
        t,
        referrer,
        referrer=ref(referrer, TYPES[referrer]),
        referrer_case_number=f"{door}-2026-0042",
        door=door,
        parties=PARTIES,
        dispute_type="neighbour",
        amount_fen=amount_fen,
        dispute_place=place,
        risk={**CALM, **(risk or {})},
        result_due=None,
        simplified_procedure=simplified,
    )


def register(
    s: Story, t: datetime, *, risk: dict[str, Any] | None = None, committee: bool = True
) -> list[str]:
    """The judicial office registers the dispute (受理登记): its own intake, or its receipt of a referral."""
    return s.publish(
        "DisputeRegistered",
        t,
        "qs-jo-1",
        office=OFFICE,
        register_number="青司调〔2026〕42号",
        committee=VILLAGE if committee else None,
        intake_channel="walk_in",
        parties=PARTIES,
        dispute_type="neighbour",
        amount_fen=300_000,
        dispute_place=VILLAGE,
        risk={**CALM, **(risk or {})},
    )


def agree(s: Story, t: datetime, level: str, by: dict[str, Any] = OFFICE) -> list[str]:
    return s.publish(
        "MediationAgreementReached",
        t,
        by["agency_id"],
        mediated_by=by,
        level=level,
        agreement_number="调协〔2026〕7号",
        form="written",
        effective_on=(t + timedelta(hours=8)).date(),
        amount_fen=300_000,
        performance_due=None,
    )


def fail(s: Story, t: datetime, level: str, reason: str = "no_agreement") -> list[str]:
    return s.publish("MediationFailed", t, "qs-jo-1", mediated_by=OFFICE, level=level, reason=reason)


def states(s: Story) -> dict[str, str]:
    return {h["id"].split("/", 1)[1]: h["state"] for h in s.case["handoffs"].values()}


# -- 诉调对接: the court's door ---------------------------------------------------------------------------
def test_a_court_delegated_dispute_runs_30_days_from_the_signing_and_ends_judicially_confirmed() -> None:
    s = Story()
    assert refer(s, "court_pre_filing") == ["MediationAssigned", "HandoffAssigned"]
    [assigned] = s.decisions("MediationAssigned")
    # Court and petition referrals stay in the township ("大事不出镇"): the office itself mediates.
    assert (assigned["level"], assigned["obliged"]["agency_id"]) == ("township", "qs-jo-1")
    assert (
        assigned["reasons"] == ["door court_pre_filing"] and assigned["referrer"]["agency_id"] == "qs-court"
    )
    # Until the mediator signs, the clock is the receipt's: 3 working days (Tue 1 → Fri 4 Sep, 24:00).
    assert assigned["deadline"]["rule_id"] == "mediation.online_confirm"
    assert (
        assigned["deadline"]["due"] == "2026-09-04T16:00:00.000Z" and assigned["mediation_deadline"] is None
    )
    assert s.handoff("mediate")["informed"] == [
        {"agency_id": "qs-court", "agency_type": "court", "name": "青山县人民法院"}
    ]

    # The office registers the referral: the mediator signs for the materials, the 30 days start.
    assert register(s, T0 + DAY) == ["HandoffAcknowledged"]
    mediate = s.handoff("mediate")
    assert mediate["state"] == "acknowledged" and mediate["rule_id"] == "mediation.pre_filing"
    assert mediate["deadline"]["due"] == "2026-10-02T16:00:00.000Z"  # Wed 2 Sep + 30 days, 24:00

    s.publish(
        "MediationSessionHeld", T0 + 9 * DAY, "qs-jo-1", held_by=OFFICE, level="township", session_number=1
    )
    assert agree(s, T0 + 14 * DAY, "township") == ["HandoffFulfilled", "HandoffAssigned"]
    follow_up = s.handoff("follow_up")
    assert follow_up["obliged"]["agency_id"] == "qs-jo-1"
    assert follow_up["deadline"]["due"] == "2026-09-30T16:00:00.000Z"  # 15 days from Tue 15 Sep

    # The parties apply for judicial confirmation; the tribunal decides within 30 days.
    s.publish(
        "JudicialConfirmationRequested",
        T0 + 19 * DAY,
        "qs-jo-1",
        court=TRIBUNAL,
        agreement_number="调协〔2026〕7号",
        court_case_number=None,
        applicants=PARTIES,
    )
    confirmation = s.handoff("confirmation")
    assert confirmation["obliged"]["agency_id"] == "qs-tribunal-1"
    assert confirmation["deadline"]["due"] == "2026-10-20T16:00:00.000Z"
    s.publish(
        "JudicialConfirmationGranted",
        T0 + 24 * DAY,
        "qs-tribunal-1",
        court=TRIBUNAL,
        ruling_number="(2026)浙9901民特42号",
    )
    s.publish("FollowUpVisitDone", T0 + 27 * DAY, "qs-jo-1", office=OFFICE, performance="fully")
    assert s.time_passes(T0 + 90 * DAY) == []
    assert states(s) == {"mediate/1": "fulfilled", "follow_up/1": "fulfilled", "confirmation/1": "fulfilled"}
    assert not any(h["late"] for h in s.case["handoffs"].values())
    assert s.case["alerts"] == [] and s.case["status"] == "open"
    assert s.replayed() == s.case


def test_a_court_referral_not_signed_for_in_3_working_days_is_escalated_to_the_court() -> None:
    s = Story()
    refer(s, "court_pre_filing")
    assert s.time_passes(T0 + 3 * DAY + timedelta(hours=13)) == []  # Fri 4 Sep 23:00
    assert s.time_passes(T0 + 3 * DAY + timedelta(hours=15)) == ["HandoffOverdue", "HandoffEscalated"]
    [overdue] = s.decisions("HandoffOverdue")
    assert overdue["missing"] == "receipt" and overdue["deadline"]["rule_id"] == "mediation.online_confirm"
    assert s.decisions("HandoffEscalated")[0]["escalated_to"]["agency_id"] == "qs-court"
    # Signed for late, it still owes its result, now within 30 days of the signing.
    assert register(s, T0 + 6 * DAY) == ["HandoffAcknowledged"]
    mediate = s.handoff("mediate")
    assert mediate["state"] == "acknowledged" and mediate["deadline"]["rule_id"] == "mediation.pre_filing"
    assert mediate["deadline"]["due"] == "2026-10-07T16:00:00.000Z" and mediate["receipt_overdue_at"]
    assert s.replayed() == s.case


def test_a_consented_extension_moves_the_deadline_and_says_why() -> None:
    s = Story()
    refer(s, "court_pre_filing")
    register(s, T0 + DAY)  # signed Wed 2 Sep: due Fri 2 Oct, 24:00
    decided = s.publish(
        "MediationExtensionAgreed",
        T0 + 27 * DAY,
        "qs-jo-1",
        handoff_id=None,
        mediated_by=OFFICE,
        reason="双方同意再协商一次赔偿金额",
        extension_days=15,
        extended_until=None,
        consenting_parties=PARTIES,
    )
    assert decided == ["MediationDeadlineExtended"]
    [moved] = s.decisions("MediationDeadlineExtended")
    assert moved["previous_deadline"]["due"] == "2026-10-02T16:00:00.000Z"
    assert moved["deadline"]["due"] == "2026-10-17T16:00:00.000Z"  # 15 more days
    assert moved["deadline"]["length"] == 45 and moved["extension_days"] == 15
    assert moved["reason"] == "双方同意再协商一次赔偿金额"
    assert [a["agency_id"] for a in moved["informed"]] == ["qs-court"]  # the referring court is told
    mediate = s.handoff("mediate")
    assert mediate["deadline"]["due"] == "2026-10-17T16:00:00.000Z"
    assert mediate["extensions"] == [
        {
            "from": "2026-10-02T16:00:00.000Z",
            "to": "2026-10-17T16:00:00.000Z",
            "reason": "双方同意再协商一次赔偿金额",
            "by_event_id": s.log[-2][0].id,
            "extended_at": "2026-09-28T02:00:00.000Z",
        }
    ]
    assert s.time_passes(datetime(2026, 10, 3, 2, 0, tzinfo=UTC)) == []  # the old deadline no longer counts
    # Out of time even so: the dispute goes back to the court, which ends the mediation case.
    decided = s.time_passes(datetime(2026, 10, 18, 2, 0, tzinfo=UTC))
    assert decided == ["HandoffOverdue", "ReturnedToCourt", "HandoffEscalated", "HandoffCancelled"]
    [back] = s.decisions("ReturnedToCourt")
    assert back["obliged"]["agency_id"] == "qs-court" and back["reason"].startswith("期限届满未调结")
    assert s.case["status"] == "closed" and s.replayed() == s.case


def test_an_extension_the_rule_does_not_allow_moves_nothing() -> None:
    s = Story()
    refer(s, "police")  # people's mediation: "generally within a month", no extension in the policy
    before = s.handoff("mediate")["deadline"]
    decided = s.publish(
        "MediationExtensionAgreed",
        T0 + 10 * DAY,
        "qs-jo-1",
        handoff_id=None,
        mediated_by=OFFICE,
        reason="当事人外出务工",
        extension_days=10,
        extended_until=None,
    )
    assert decided == [] and s.handoff("mediate")["deadline"] == before


def test_a_failed_court_entrusted_mediation_goes_back_to_the_court() -> None:
    s = Story()
    refer(s, "court_post_filing")
    register(s, T0 + DAY)
    assert s.handoff("mediate")["deadline"]["rule_id"] == "mediation.post_filing_ordinary"
    assert s.handoff("mediate")["deadline"]["due"] == "2026-09-17T16:00:00.000Z"  # 15 days from 2 Sep
    decided = fail(s, T0 + 5 * DAY, "township", reason="party_refused")
    assert decided == ["HandoffFulfilled", "ReturnedToCourt"]
    [back] = s.decisions("ReturnedToCourt")
    assert back["obliged"]["agency_id"] == "qs-court" and back["door"] == "court_post_filing"
    assert back["referrer_case_number"] == "court_post_filing-2026-0042"
    assert back["reason"] == "调解不成 MediationFailed: party_refused"
    assert s.case["status"] == "closed" and not s.decisions("DisputeEscalated")


def test_a_simplified_procedure_entrustment_has_7_days() -> None:
    s = Story()
    refer(s, "court_post_filing", simplified=True)
    register(s, T0 + DAY)
    assert s.handoff("mediate")["deadline"]["rule_id"] == "mediation.post_filing_simplified"
    assert s.handoff("mediate")["deadline"]["due"] == "2026-09-09T16:00:00.000Z"


# -- 警调对接: the police station's door, and 一庭两所 -----------------------------------------------------
def test_a_high_risk_dispute_goes_to_a_joint_session_and_a_member_that_does_not_accept_is_escalated() -> None:
    s = Story()
    thursday = T0 + 2 * DAY
    refer(s, "police", t=thursday, risk={"violence": True, "party_count": 4})
    [assigned] = s.decisions("MediationAssigned")
    assert assigned["level"] == "joint" and assigned["reasons"] == ["violence", "party_count 4 >= 3"]
    assert [m["agency_id"] for m in assigned["joint_members"]] == ["qs-tribunal-1", "qs-ps-1", "qs-jo-1"]
    # All three must accept within 2 working days: Thu 3 Sep → Mon 7 Sep, 24:00 (the weekend skipped).
    assert assigned["deadline"]["due"] == "2026-09-07T16:00:00.000Z"
    members = {
        h["obliged"]["agency_id"]: h for h in s.case["handoffs"].values() if h["step"] == "joint_accept"
    }
    assert sorted(members) == ["qs-jo-1", "qs-ps-1", "qs-tribunal-1"]
    assert {h["deadline"]["due"] for h in members.values()} == {"2026-09-07T16:00:00.000Z"}

    for member, agency in ((TRIBUNAL, "qs-tribunal-1"), (OFFICE, "qs-jo-1")):
        s.publish("JointMediationAccepted", thursday + DAY, agency, handoff_id=None, member=member)
    joint = {
        h["obliged"]["agency_id"]: h["state"]
        for h in s.case["handoffs"].values()
        if h["step"] == "joint_accept"
    }
    assert joint == {"qs-tribunal-1": "fulfilled", "qs-ps-1": "assigned", "qs-jo-1": "fulfilled"}
    assert s.handoff("mediate")["state"] == "acknowledged"  # the lead office's acceptance is its receipt

    assert s.time_passes(datetime(2026, 9, 7, 15, 0, tzinfo=UTC)) == []  # Mon 23:00
    assert s.time_passes(datetime(2026, 9, 7, 16, 1, tzinfo=UTC)) == ["HandoffOverdue", "HandoffEscalated"]
    [overdue] = s.decisions("HandoffOverdue")
    assert overdue["obliged"]["agency_id"] == "qs-ps-1" and overdue["step"] == "joint_accept"
    [up] = s.decisions("HandoffEscalated")
    assert up["escalated_to"]["agency_id"] == "qs-jo-1"  # "overdue → township": the convening office
    assert s.case["status"] == "overdue"

    # The station accepts late; the session is held and agrees: nothing is left open.
    s.publish(
        "JointMediationAccepted",
        datetime(2026, 9, 8, 2, tzinfo=UTC),
        "qs-ps-1",
        handoff_id=None,
        member=STATION,
    )
    s.publish(
        "MediationSessionHeld",
        datetime(2026, 9, 9, 2, tzinfo=UTC),
        "qs-tribunal-1",
        held_by=TRIBUNAL,
        level="joint",
        session_number=1,
        joint_members=[TRIBUNAL, STATION, OFFICE],
    )
    agree(s, datetime(2026, 9, 9, 6, tzinfo=UTC), "joint", by=TRIBUNAL)
    assert s.handoff("mediate")["state"] == "fulfilled"
    assert [h for h in s.case["handoffs"].values() if h["step"] == "joint_accept" and h["late"]]
    assert s.replayed() == s.case


def test_threats_in_a_referral_alert_the_police_station_by_policy_rule() -> None:
    s = Story()
    decided = refer(s, "police", risk={"threats": True})
    assert decided[:2] == ["MediationAssigned", "EscalationRiskFlagged"]
    assert "EscalationRiskAlerted" in decided
    [flag] = s.decisions("EscalationRiskFlagged")
    assert flag["flagged_by"]["agency_type"] == "hub" and flag["level"] == "high"
    assert flag["description"] == "mediation_risk.police_alert: threats"
    [alert] = s.decisions("EscalationRiskAlerted")
    assert [a["agency_id"] for a in alert["alerted"]] == ["qs-ps-1"] and alert[
        "rule_id"
    ] == "mediation.risk_alert"
    assert [a["type"] for a in s.case["alerts"]] == ["EscalationRiskAlerted"]
    assert s.decisions("MediationAssigned")[0]["level"] == "joint"  # threats: a joint session too
    refer(
        s, "police", risk={"threats": True}
    )  # the station sends it again: no second flag, no second assignment
    assert len(s.decisions("EscalationRiskFlagged")) == len(s.decisions("MediationAssigned")) == 1


# -- own intake and the village committee -------------------------------------------------------------------
def test_a_risk_flag_reaches_the_police_station_while_the_dispute_is_in_the_village() -> None:
    s = Story()
    assert register(s, T0) == ["MediationAssigned", "HandoffAssigned"]
    [assigned] = s.decisions("MediationAssigned")
    assert (assigned["level"], assigned["door"], assigned["village"]["code"]) == (
        "village",
        "own_intake",
        "339901001001",
    )
    assert assigned["mediation_deadline"]["due"] == "2026-10-01T16:00:00.000Z"  # about one month
    s.publish(
        "MediationSessionHeld", T0 + 3 * DAY, "qs-jo-1", held_by=OFFICE, level="village", session_number=1
    )
    decided = s.publish(
        "EscalationRiskFlagged",
        T0 + 4 * DAY,
        "qs-jo-1",
        flagged_by=OFFICE,
        police_station=None,
        risk={**CALM, "threats": True, "notes": "一方扬言报复"},
        level="imminent",
        stage="in_mediation",
    )
    assert decided == ["EscalationRiskAlerted"]
    [alert] = s.decisions("EscalationRiskAlerted")
    assert [a["agency_id"] for a in alert["alerted"]] == ["qs-ps-1"]
    assert (alert["level"], alert["stage"], alert["flagged_by"]["agency_id"]) == (
        "imminent",
        "in_mediation",
        "qs-jo-1",
    )
    assert alert["detected_at"] == "2026-09-05T02:00:00.000Z"  # at once
    assert [a["type"] for a in s.case["alerts"]] == ["EscalationRiskAlerted"]
    assert s.decisions("MediationAssigned")[-1]["level"] == "village"  # the dispute stays where it is
    assert s.handoff("mediate")["state"] == "acknowledged"


def test_a_flag_naming_a_police_station_alerts_that_one() -> None:
    s = Story()
    register(s, T0)
    s.publish(
        "EscalationRiskFlagged",
        T0 + DAY,
        "qs-jo-1",
        flagged_by=OFFICE,
        police_station=ref("qs-ps-2", "police_station"),
        risk=CALM,
        level="elevated",
        stage="registered",
    )
    assert [a["agency_id"] for a in s.decisions("EscalationRiskAlerted")[0]["alerted"]] == ["qs-ps-2"]


def test_a_village_dispute_that_fails_climbs_one_level_at_a_time() -> None:
    s = Story()
    register(s, T0)
    assert fail(s, T0 + 5 * DAY, "village") == [
        "HandoffFulfilled",
        "DisputeEscalated",
        "MediationAssigned",
        "HandoffAssigned",
    ]
    [up] = s.decisions("DisputeEscalated")
    assert (up["from_level"], up["to_level"], up["obliged"]["agency_id"]) == (
        "village",
        "township",
        "qs-jo-1",
    )
    township = s.handoff("mediate", 2)
    assert township["deadline"]["due"] == "2026-10-06T16:00:00.000Z"  # a new month from Sun 6 Sep
    # The township lets the month pass: the county takes it (the office's superior, the bureau).
    decided = s.time_passes(datetime(2026, 10, 7, 2, tzinfo=UTC))
    assert decided == [
        "HandoffOverdue",
        "DisputeEscalated",
        "HandoffEscalated",
        "MediationAssigned",
        "HandoffCancelled",
        "HandoffAssigned",
    ]
    county = s.decisions("DisputeEscalated")[1]
    assert (county["from_level"], county["to_level"], county["obliged"]["agency_id"]) == (
        "township",
        "county",
        "qs-jb",
    )
    assert s.handoff("mediate", 2)["state"] == "cancelled" and s.handoff("mediate", 2)["overdue_at"]
    assert s.handoff("mediate", 3)["obliged"]["agency_id"] == "qs-jb"
    # Failing at the county ends mediation: nowhere higher to go.
    s.publish(
        "MediationFailed",
        datetime(2026, 10, 20, 2, tzinfo=UTC),
        "qs-jo-1",
        mediated_by=OFFICE,
        level="county",
        reason="no_agreement",
    )
    assert len(s.decisions("DisputeEscalated")) == 2 and s.handoff("mediate", 3)["state"] == "fulfilled"
    assert s.replayed() == s.case


# -- 访调对接: the petition office's door ------------------------------------------------------------------
def test_a_petition_referral_is_mediated_in_the_township_within_a_month() -> None:
    s = Story()
    refer(s, "petition")
    [assigned] = s.decisions("MediationAssigned")
    assert (assigned["level"], assigned["referrer"]["agency_id"]) == ("township", "qs-xf")
    assert s.handoff("mediate")["deadline"]["rule_id"] == "mediation.peoples"
    register(s, T0 + DAY)  # the office's registration is its receipt
    agree(s, T0 + 12 * DAY, "township")
    assert s.handoff("mediate")["state"] == "fulfilled" and s.handoff("follow_up")["state"] == "assigned"
    assert s.time_passes(T0 + 29 * DAY) == ["HandoffOverdue"]  # no follow-up visit in 15 days
    assert s.handoff("follow_up")["state"] == "overdue"


def test_an_event_before_the_referral_waits_for_it() -> None:
    s = Story()
    assert s.publish("JointMediationAccepted", T0, "qs-ps-1", handoff_id=None, member=STATION) == []
    assert s.case["status"] == "awaiting_opening"
    decided = refer(s, "police", t=T0 + timedelta(hours=1), risk={"violence": True})
    assert decided.count("HandoffFulfilled") == 1  # the station's acceptance, decided once the case opened
    station = next(h for h in s.case["handoffs"].values() if h["obliged"]["agency_id"] == "qs-ps-1")
    assert station["state"] == "fulfilled"


def test_a_dispute_turned_criminal_is_recorded() -> None:
    s = Story()
    register(s, T0)
    s.publish(
        "DisputeTurnedCriminal",
        T0 + 8 * DAY,
        "qs-ps-1",
        reported_by=STATION,
        criminal_case_number="青公刑〔2026〕88号",
        offence="故意伤害",
    )
    assert s.case["facts"]["DisputeTurnedCriminal"]["criminal_case_number"] == "青公刑〔2026〕88号"


# -- replay equals live, whatever the order ----------------------------------------------------------
STEPS = {
    "register": lambda s, t: register(s, t),
    "accept_tribunal": lambda s, t: s.publish(
        "JointMediationAccepted", t, "qs-tribunal-1", handoff_id=None, member=TRIBUNAL
    ),
    "accept_station": lambda s, t: s.publish(
        "JointMediationAccepted", t, "qs-ps-1", handoff_id=None, member=STATION
    ),
    "session": lambda s, t: s.publish("MediationSessionHeld", t, "qs-jo-1", held_by=OFFICE, level="township"),
    "extend": lambda s, t: s.publish(
        "MediationExtensionAgreed",
        t,
        "qs-jo-1",
        handoff_id=None,
        mediated_by=OFFICE,
        reason="双方同意",
        extension_days=10,
        extended_until=None,
    ),
    "agree": lambda s, t: agree(s, t, "township"),
    "fail": lambda s, t: fail(s, t, "township"),
    "flag": lambda s, t: s.publish(
        "EscalationRiskFlagged",
        t,
        "qs-jo-1",
        flagged_by=OFFICE,
        police_station=None,
        risk=CALM,
        level="high",
        stage="in_mediation",
    ),
    "confirm": lambda s, t: s.publish("JudicialConfirmationRequested", t, "qs-jo-1", court=TRIBUNAL),
    "tick": lambda s, t: s.time_passes(t + 20 * DAY),
}


@settings(max_examples=40, deadline=None)
@given(
    door=st.sampled_from(["court_pre_filing", "court_post_filing", "police", "petition", "own_intake"]),
    violent=st.booleans(),
    opens_first=st.booleans(),
    steps=st.lists(st.tuples(st.sampled_from(sorted(STEPS)), st.integers(0, 24 * 30)), max_size=10),
)
def test_replay_of_random_mediation_stories_equals_live(
    door: str, violent: bool, opens_first: bool, steps: list[tuple[str, int]]
) -> None:
    s = Story()
    t = T0

    def opening() -> None:
        if door == "own_intake":
            register(s, t, risk={"violence": violent})
        else:
            refer(s, door, t=t, risk={"violence": violent})

    if opens_first:
        opening()
    for step, hours in steps:
        t += timedelta(hours=hours)
        if step == "tick" and s.case is None:
            continue
        STEPS[step](s, t)
    if not opens_first:
        opening()
    s.time_passes(t + 60 * DAY)
    assert s.replayed() == s.case
