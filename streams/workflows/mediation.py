"""一庭两所 joint mediation and the four referral doors (诉调、警调、访调对接, own intake).

workflows.md §2. Every number (30 / 15 / 7 days, one month, 2 working days, 3 working days, 30 and
15 days) and who is escalated to are in the policy file (`streams/policies/*.yaml`, rules
``mediation.*``), and so are the risk rules that choose the level (``mediation_risk``: joint
session, township, and when the hub itself alerts the police). This file says which event opens
which handoff, and the workflow's own decisions.

1. A dispute comes in by one of four doors: **DisputeReferred** from a court (pre-filing delegation
   诉前委派 or post-filing entrustment 诉中委托, 诉调对接), a police station (警调对接) or the petition
   office (访调对接), with the referrer's case number; or **DisputeRegistered** by a judicial office
   (its own intake or screening, 排查).
2. The hub assigns it (**MediationAssigned**, `assign`) by the risk rules: a joint session of the
   tribunal, the police station and the judicial office (一庭两所) when the risk is high; the
   township (the judicial office's own committee) for big matters and court and petition
   referrals; else the village committee of the dispute's village, guided by its office — "小事不出村，
   大事不出镇". The office of the place leads the mediation and owes its result (step ``mediate``).
   A joint session: each of the three accepts (JointMediationAccepted) within 2 working days (step
   ``joint_accept``, rule mediation.joint_accept), else overdue → the township office.
3. The receipt: the office signs for the materials by registering the referred dispute
   (DisputeRegistered, 受理登记), by accepting the joint session, or by holding its first session. A
   court's referral must be signed for within 3 working days (mediation.online_confirm); the 30 days of
   pre-filing mediation (15 / 7 post filing) start at that receipt. People's mediation is settled
   within about a month of the assignment (mediation.peoples). The parties may agree to more time
   (MediationExtensionAgreed): the hub moves the deadline where the rule allows it and says why
   (MediationDeadlineExtended, the referring court told).
4. MediationAgreementReached: a follow-up visit within 15 days (step ``follow_up``); the parties may
   apply for judicial confirmation within 30 days of the agreement taking effect (rule
   mediation.confirmation_window: a window for the parties, measured by the KPIs, no handoff); the
   court decides within 30 days (step ``confirmation``).
5. MediationFailed or the time running out: a court referral goes back to the court (**ReturnedToCourt**,
   which ends the case); any other dispute escalates one level (**DisputeEscalated**: village →
   township → county; a joint session → county) and is assigned again there.
6. **EscalationRiskFlagged** — by an agency, or by the hub itself when the signals meet the policy's
   police-alert rule — alerts the police station at once (**EscalationRiskAlerted**, rule
   mediation.risk_alert), whatever the dispute's stage; the alert stays on the case.
7. DisputeTurnedCriminal (the police) records a dispute that became a criminal case (民转刑), for the KPIs.
"""

from __future__ import annotations

from typing import Any

from fengqiao.schemas.envelope import HUB_SOURCE
from fengqiao.schemas.labels import label

from ..engine import Alert, Case, Reaction, Step, View, Workflow, fact, register

OPENING = ("DisputeReferred", "DisputeRegistered")
COURT_DOORS = ("court_pre_filing", "court_post_filing")
NEXT_LEVEL = {"village": "township", "township": "county", "joint": "county"}  # 逐级上调
JOINT_MEMBERS = ("tribunal", "police_station", "judicial_office")
HUB_AGENCY = {"agency_id": HUB_SOURCE, "agency_type": "hub", "name": "枫桥协同平台（政策规则）"}
TASK = {
    "village": "村调委会调解纠纷（司法所指导）",
    "township": "乡镇（司法所）调解纠纷",
    "joint": "牵头组织一庭两所联合调解",
    "county": "县级调解纠纷",
}


def door(case: Case) -> str:
    """The door the dispute came in by; a dispute the office registered itself is own intake."""
    return fact(case, "DisputeReferred.door") or "own_intake"


def opening(case: Case) -> dict[str, Any]:
    """The record that opened the case (the referral, or the office's own registration)."""
    return fact(case, "DisputeReferred") or fact(case, "DisputeRegistered") or {}


def _division(case: Case) -> str | None:
    return (
        fact(case, "DisputeReferred.dispute_place.code")
        or fact(case, "DisputeRegistered.dispute_place.code")
        or fact(case, "DisputeRegistered.committee.code")
    )


def _village(case: Case) -> str | None:
    code = _division(case)
    return code if code and len(code) == 12 else None


# -- the workflow's own decisions ---------------------------------------------------------------------
def assign(v: View) -> dict[str, Any] | None:
    """MediationAssigned: the level by the policy's risk rules, the lead office, the joint members."""
    assert v.event is not None
    case, first = v.case, opening(v.case)
    if v.event.type in OPENING:
        if fact(case, "MediationAssigned") is not None:
            return None  # a second intake or a re-sent referral: the assignment stands
        rules = v.policy.mediation_risk
        level, reasons = (
            rules.level(door(case), first.get("risk") or {}, first.get("amount_fen"), _village(case))
            if rules
            else ("township", [f"policy {v.policy.version} has no mediation_risk: the township mediates"])
        )
        lead = v.route("judicial_office") or (
            v.agency(first["office"]["agency_id"]) if "office" in first else None
        )
        if lead is None:
            v.routing_failed("mediate", TASK[level], "judicial_office")
            return None
    else:  # DisputeEscalated: the next level takes it
        level, lead = v.record["to_level"], v.record["obliged"]
        reasons = [f"逐级上调 escalated from {v.record['from_level']}: {v.record['reason']}"]
    members = [m for m in map(v.route, JOINT_MEMBERS) if m] if level == "joint" else []
    court = door(case) in COURT_DOORS
    accept = "mediation.joint_accept" if level == "joint" else "mediation.online_confirm" if court else None
    return {
        "handoff_id": v.next_handoff_id("mediate"),
        "step": "mediate",
        "obliged": lead,
        "task": TASK[level],
        "deadline": v.deadline(accept, v.now) if accept else None,
        "level": level,
        "village": {"code": _village(case), "name": None} if level == "village" else None,
        "joint_members": members,
        "reasons": reasons,
        # Court referrals: the clock starts when the mediator signs for the materials (the receipt).
        "mediation_deadline": None if court else v.deadline("mediation.peoples", v.now),
        "door": door(case),
        "referrer": first.get("referrer"),
        "referrer_case_number": first.get("referrer_case_number"),
        **{
            k: first.get(k)
            for k in ("parties", "dispute_type", "summary", "amount_fen", "dispute_place", "risk")
        },
        "assigned_at": v.now,
    }


def _ended(v: View) -> tuple[dict[str, Any], str] | None:
    """(the mediation handoff, why) when mediation ended without agreement: failed, or its time ran out."""
    if v.handoff is not None:  # the timer: the rule's deadline passed
        due = (v.handoff.get("deadline") or {}).get("due")
        return v.handoff, f"期限届满未调结 time limit expired ({due})"
    current = fact(v.case, "MediationAssigned") or {}
    h = v.case["handoffs"].get(current.get("handoff_id") or "")
    if h is None or h["fulfilled_by"] != "MediationFailed" or h["fulfilled_at"] is None:
        return None
    for decided in ("DisputeEscalated", "ReturnedToCourt"):  # decided once per mediation
        if fact(v.case, f"{decided}.handoff_id") == h["id"]:
            return None
    return h, f"调解不成 MediationFailed: {v.record.get('reason')}"


def escalate(v: View) -> dict[str, Any] | None:
    """DisputeEscalated: one level up, for a dispute that did not come from a court."""
    if door(v.case) in COURT_DOORS or (ended := _ended(v)) is None:
        return None
    h, reason = ended
    level = fact(v.case, "MediationAssigned.level") or "township"
    to = NEXT_LEVEL.get(level)
    if to is None:
        return None  # county was the last level: the parties are told of litigation and other paths
    lead = h["obliged"]
    if to == "township":
        nxt = v.route("judicial_office") or lead
    else:
        nxt = v.superior(lead["agency_id"]) if lead["agency_type"] == "judicial_office" else None
        nxt = nxt or v.route("judicial_bureau")
    return {
        "handoff_id": h["id"],
        "step": "mediate",
        "obliged": nxt,
        "task": f"上一级调解 mediate at the {to} level",
        "deadline": None,
        "from_level": level,
        "to_level": to,
        "reason": reason,
        "mediation_deadline": None,
        "escalated_at": v.now,
    }


def return_to_court(v: View) -> dict[str, Any] | None:
    """ReturnedToCourt: a court referral that failed or ran out of time goes back to the court."""
    if door(v.case) not in COURT_DOORS or (ended := _ended(v)) is None:
        return None
    h, reason = ended
    first = opening(v.case)
    return {
        "handoff_id": h["id"],
        "step": "mediate",
        "obliged": first.get("referrer") or v.agency(v.case["events"][0]["source"]),
        "task": "收回纠纷：立案或继续审理",
        "deadline": None,
        "referrer_case_number": first.get("referrer_case_number") or "",
        "door": door(v.case),
        "reason": reason,
        "returned_at": v.now,
    }


def flag_risk(v: View) -> dict[str, Any] | None:
    """EscalationRiskFlagged by the hub itself, when the opening signals meet the police-alert rule."""
    flagged = fact(v.case, "EscalationRiskFlagged.flagged_by.agency_type")
    if v.policy.mediation_risk is None or flagged == "hub":
        return None
    rule = v.policy.mediation_risk.police_alert
    risk = v.record.get("risk") or {}  # the signals of the event at hand: a referral, or a registration
    reasons = v.policy.mediation_risk.police_alert_reasons(risk, v.record.get("amount_fen"))
    if rule is None or not reasons:
        return None
    return {
        "flagged_by": HUB_AGENCY,
        "police_station": None,
        "risk": risk,
        "level": rule.level,
        "description": "mediation_risk.police_alert: " + ", ".join(reasons),
        "stage": "registered",
        "flagged_at": v.now,
    }


MEDIATION = register(
    Workflow(
        name="mediation",
        title_zh=label("workflows", "mediation"),
        opened_by=OPENING,
        closed_by=("ReturnedToCourt",),
        division=_division,
        rules_used=("mediation.joint_accept", "mediation.online_confirm", "mediation.peoples"),
        reactions=(
            Reaction("MediationAssigned", (*OPENING, "DisputeEscalated"), assign),
            Reaction("EscalationRiskFlagged", OPENING, flag_risk),
            Reaction("DisputeEscalated", ("MediationFailed",), escalate),
            Reaction("ReturnedToCourt", ("MediationFailed",), return_to_court),
        ),
        alerts=(
            Alert(
                "mediation.risk_alert",
                ("EscalationRiskFlagged",),
                "EscalationRiskAlerted",
                to_field="police_station",
            ),
        ),
        extension_announce="MediationDeadlineExtended",
        steps=(
            Step(
                "mediate",
                (
                    "mediation.pre_filing",
                    "mediation.post_filing_simplified",
                    "mediation.post_filing_ordinary",
                    "mediation.peoples",
                ),
                "调解纠纷，在期限内调结",
                opened_by=("MediationAssigned",),
                obliged_from="obliged",
                receipt_rule="mediation.online_confirm",
                acknowledged_by=("DisputeRegistered", "JointMediationAccepted", "MediationSessionHeld"),
                receipt_from_obliged=True,
                fulfilled_by=("MediationAgreementReached", "MediationFailed"),
                extended_by=("MediationExtensionAgreed",),
                supersede=True,
                informed=("originator",),
            ),
            Step(
                "joint_accept",
                "mediation.joint_accept",
                "确认参加一庭两所联合调解",
                opened_by=("MediationAssigned",),
                cancelled_by=("MediationAgreementReached", "MediationFailed"),
            ),
            Step(
                "confirmation",
                "mediation.confirmation_decide",
                "审查司法确认申请并作出裁定",
                obliged_from="court",
            ),
            Step("follow_up", "mediation.follow_up", "达成协议后回访"),
        ),
    )
)
