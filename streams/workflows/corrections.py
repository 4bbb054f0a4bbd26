"""Community corrections (社区矫正), from the pre-sentence investigation to the end of the term.

workflows.md §3. Every number (10 / 5 working days, 5 and 10 days, 10 days to report, one month, 48
hours, 30 days) and who is escalated to are in the policy file
(`streams/policies/*.yaml`, rules ``corrections.*``). This file says which event opens which
handoff, and the workflow's own decisions. The case is routed by the person's residence, then by the
place of execution (执行地), then by the new place after a change.

1. InvestigationRequested (the court): the corrections agency of the residence reports
   (InvestigationReported) within 10 working days, 5 in a fast-track case (step ``investigation``);
   overdue → the commissioning court. An order that comes first makes the investigation moot.
2. CommunityCorrectionOrdered (court or prison): the hub hands the person to the corrections agency
   of the place of execution and copies the decision organ, the procuratorate and the police
   (**CorrectionHandoffAssigned**, step ``report``), flagging an order sent more than 5 days after the
   judgment took effect (``notice_late``, rule corrections.court_notice). The decision organ owes the
   documents within 10 days (step ``documents``), the agency its receipt within 5 days of their
   sending (step ``receipt``); both are answered by CorrectionDocumentsReceived. A person on
   temporary execution outside prison is transferred by the organ within 10 days (``temporary_transfer``);
   the agency records the arrival as CorrectionReported, and until then the person counts as unreported.
3. The person reports within 10 days of the effective date (CorrectionReported). Else, and whenever
   the agency records the person out of contact (CorrectionViolationRecorded ``out_of_contact``), the hub
   declares the person absconded (**CorrectionAbsconded**): the agency searches at once (step
   ``search``), the police station of the place is asked to assist (``search_assist``), the decision
   organ and the procuratorate are told. Not found within a month (SPC interpretation art. 543):
   **RevocationGroundsArisen** prompts the agency to propose revocation (step ``propose``).
4. RevocationProposed: the court rules within 30 days (``revocation_ruling``; overdue → the court and
   the procuratorate), within 48 hours on a request for arrest (``arrest_decision``). A ruling that
   revokes and requires custody asks the police to take the person into custody (``custody``).
5. ExecutionPlaceChanged: a handoff to the corrections agency of the new place, possibly another
   county (step ``transfer``, announced by CorrectionHandoffAssigned, copied as an order is): its
   receipt (its own CorrectionDocumentsReceived), then the person reporting there (CorrectionReported).
   deadlines.md sets no clock for it (the 2020 Implementing Measures are believed to give the person
   7 days to report at the new place; a policy rule for it would time this step). The end-of-term
   handoff moves to the new agency.
6. CorrectionTerminated ends the case; the hub notifies the decision organ, the procuratorate and
   the police (**CorrectionTerminationNotified**, rule corrections.termination_notice).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fengqiao.schemas.envelope import parse_time
from fengqiao.schemas.labels import label

from ..engine import Case, Reaction, Step, View, Workflow, fact, open_handoffs, register
from ..policy import Policy

OPENING = ("InvestigationRequested", "CommunityCorrectionOrdered")
AGENCY = "judicial_bureau:corrections_agency"
OUT_OF_CONTACT = "out_of_contact"  # CorrectionViolationRecorded.violation_type: 脱离监管
ORDER_FIELDS = (
    "decision_organ",
    "judgment_number",
    "kind",
    "person",
    "effective_on",
    "term_start",
    "term_end",
    "prohibitions",
)
SEARCH_TASK = "立即组织查找脱管社区矫正对象（公安机关协助），一个月内未找回的具备撤销事由"
PROPOSE_TASK = "未报到或脱离监管超过一个月：依法提请撤销缓刑、假释或暂予监外执行"


def _division(case: Case) -> str | None:
    return (
        fact(case, "ExecutionPlaceChanged.new_place.code")
        or fact(case, "CommunityCorrectionOrdered.execution_place.code")
        or fact(case, "InvestigationRequested.residence.code")
    )


def notice_late(case: Case, policy: Policy) -> bool:
    """The order reached the hub over 5 days after the judgment took effect (corrections.court_notice)."""
    ordered = next((e["time"] for e in case["events"] if e["type"] == "CommunityCorrectionOrdered"), None)
    effective = fact(case, "CommunityCorrectionOrdered.effective_on")
    if ordered is None or effective is None:
        return False
    due = policy.rule("corrections.court_notice").due(date.fromisoformat(effective))
    return parse_time(ordered) > due


def _extra(case: Case, handoff: dict[str, Any], etype: str, policy: Policy) -> dict[str, Any]:
    if etype != "CorrectionHandoffAssigned":
        return {}
    order = fact(case, "CommunityCorrectionOrdered") or {}
    # Taken from the order by name: ExecutionPlaceChanged has an effective_on of its own.
    out = {k: order.get(k) for k in ORDER_FIELDS}
    if handoff["step"] == "transfer":
        return {
            **out,
            "execution_place": fact(case, "ExecutionPlaceChanged.new_place"),
            "previous_agency": fact(case, "ExecutionPlaceChanged.agency"),
        }
    return {**out, "execution_place": order.get("execution_place"), "notice_late": notice_late(case, policy)}


def _unique(refs: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in refs:
        if r and r.get("agency_id") not in seen:
            seen[r["agency_id"]] = r
    return list(seen.values())


def responsible(case: Case) -> dict[str, Any] | None:
    """The corrections agency in charge of the person now: of the newest transfer, else of the order."""
    for step in ("transfer", "report"):
        found = [h for h in case["handoffs"].values() if h["step"] == step and h["state"] != "cancelled"]
        if found:
            return found[-1]["obliged"]
    return None


def _organ(v: View) -> dict[str, Any] | None:
    """The decision organ (决定机关) as the directory names it, else as the order did."""
    organ = fact(v.case, "CommunityCorrectionOrdered.decision_organ")
    return (v.agency(organ["agency_id"]) or organ) if organ else v.route("originator")


def _told(v: View) -> list[dict[str, Any]]:
    """The decision organ and the procuratorate of the place (CCL art. 30)."""
    return _unique([_organ(v), v.route("procuratorate")])


# -- the workflow's own decisions ---------------------------------------------------------------------
def abscond(v: View) -> dict[str, Any] | None:
    """CorrectionAbsconded: the reporting deadline passed (the timer: rule corrections.report), or the
    agency recorded the person out of contact."""
    if fact(v.case, "CommunityCorrectionOrdered") is None:
        return None
    if any(h["step"] == "search" for h in open_handoffs(v.case)):
        return None  # already being searched for
    if v.handoff is not None:  # never reported: unreported since the deadline passed
        agency, reason, last = v.handoff["obliged"], "not_reported", None
        since = v.handoff["deadline"]["due"]
    elif v.record.get("violation_type") == OUT_OF_CONTACT:
        agency, reason = responsible(v.case) or v.route(AGENCY), OUT_OF_CONTACT
        last = since = v.record.get("occurred_at")
    else:
        return None
    police = v.route("police_station")
    told = _told(v)
    return {
        "handoff_id": v.next_handoff_id("search"),
        "step": "search",
        "obliged": agency,
        "task": SEARCH_TASK,
        "deadline": None,
        "reason": reason,
        "last_contact_at": last,
        "since": since,
        "assisting_police": police,
        "informed": told,
        "alerted": _unique([police, *told]),
        "detected_at": v.now,
    }


def grounds(v: View) -> dict[str, Any] | None:
    """RevocationGroundsArisen: the search ran a month without finding the person (SPC art. 543)."""
    if v.handoff is None or fact(v.case, "CommunityCorrectionOrdered") is None:
        return None
    absconded = fact(v.case, "CorrectionAbsconded") or {}
    lost = absconded.get("reason") == OUT_OF_CONTACT
    return {
        "handoff_id": v.next_handoff_id("propose"),
        "step": "propose",
        "obliged": v.handoff["obliged"],
        "task": PROPOSE_TASK,
        "deadline": None,
        "ground": "out_of_contact_over_month" if lost else "unreported_over_month",
        "since": absconded.get("since") or absconded.get("detected_at"),
        "informed": _told(v),
        "detected_at": v.now,
    }


def notify_termination(v: View) -> dict[str, Any] | None:
    """CorrectionTerminationNotified: the decision organ, the procuratorate and the police told (art. 44)."""
    order = fact(v.case, "CommunityCorrectionOrdered")
    if order is None:
        return None
    rule = v.policy.rule("corrections.termination_notice")
    return {
        "agency": v.record.get("agency"),
        "person": order["person"],
        "kind": order["kind"],
        "judgment_number": order["judgment_number"],
        "end_reason": v.record.get("reason"),
        "certificate_number": v.record.get("certificate_number"),
        "terminated_on": v.record.get("terminated_on"),
        "informed": _unique([_organ(v), *(v.route(str(s)) for s in rule.inform)]),
        "rule_id": rule.id,
        "notified_at": v.now,
    }


COPIED = ("originator", "procuratorate", "police")  # 抄送: decision organ, procuratorate, police

CORRECTIONS = register(
    Workflow(
        name="corrections",
        title_zh=label("workflows", "corrections"),
        opened_by=OPENING,
        closed_by=("CorrectionTerminated",),
        division=_division,
        extra=_extra,
        rules_used=("corrections.court_notice", "corrections.termination_notice"),
        reactions=(
            Reaction("CorrectionAbsconded", ("CorrectionViolationRecorded",), abscond),
            Reaction("RevocationGroundsArisen", (), grounds),
            Reaction("CorrectionTerminationNotified", ("CorrectionTerminated",), notify_termination),
        ),
        steps=(
            Step(
                "investigation",
                ("corrections.investigation_fast_track", "corrections.investigation"),
                "开展调查评估并提交调查评估意见书",
                informed=("originator",),
                cancelled_by=("CommunityCorrectionOrdered",),
            ),
            Step(
                "report",
                "corrections.report",
                "接收社区矫正对象，督促其自判决生效之日起10日内报到",
                opened_by=("CommunityCorrectionOrdered",),
                obliged_from="corrections_agency",
                announce="CorrectionHandoffAssigned",
                informed=COPIED,
            ),
            Step(
                "documents",
                "corrections.court_documents",
                "判决生效之日起10日内送达社区矫正法律文书",
                obliged_from="decision_organ",
            ),
            Step(
                "receipt",
                "corrections.receipt",
                "收到法律文书后5日内送达回执",
                obliged_from="corrections_agency",
            ),
            Step(
                "temporary_transfer",
                "corrections.temporary_execution_transfer",
                "10日内将暂予监外执行的罪犯移送社区矫正机构",
                obliged_from="decision_organ",
            ),
            Step(
                "search",
                "corrections.revocation_grounds",
                SEARCH_TASK,
                obliged_from="obliged",
            ),
            Step(
                "search_assist",
                None,
                "协助社区矫正机构查找脱管社区矫正对象",
                opened_by=("CorrectionAbsconded",),
                obliged=("police_station",),
                obliged_from="assisting_police",
                fulfilled_by=("CorrectionReported", "PersonTakenIntoCustody"),
            ),
            Step(
                "propose",
                None,
                PROPOSE_TASK,
                opened_by=("RevocationGroundsArisen",),
                obliged=(AGENCY,),
                obliged_from="obliged",
                fulfilled_by=("RevocationProposed",),
            ),
            Step(
                "revocation_ruling",
                "corrections.revocation_ruling",
                "收到撤销建议后30日内作出裁定",
                obliged_from="court",
                informed=("procuratorate",),
            ),
            Step(
                "arrest_decision",
                "corrections.arrest_decision",
                "收到提请逮捕后48小时内作出是否逮捕的决定",
                obliged_from="court",
            ),
            Step(
                "custody",
                None,
                "裁定撤销后将社区矫正对象送交监狱或者看守所执行",
                opened_by=("RevocationDecided",),
                obliged=("police",),
                fulfilled_by=("PersonTakenIntoCustody",),
                applies_if={"RevocationDecided.revoked": True, "RevocationDecided.custody_required": True},
            ),
            Step(
                "transfer",
                None,  # no clock in deadlines.md for a change of place (see the module's docstring)
                "接收变更执行地的社区矫正对象，送达回执并督促其按时报到",
                opened_by=("ExecutionPlaceChanged",),
                obliged=(AGENCY,),
                obliged_from="new_agency",
                fulfilled_by=("CorrectionReported",),
                acknowledged_by=("CorrectionDocumentsReceived",),
                receipt_from_obliged=True,
                announce="CorrectionHandoffAssigned",
                informed=COPIED,
                supersede=True,
            ),
            Step(
                "terminate",
                "corrections.termination_notice",
                "矫正期满解除社区矫正，发放解除证明书并通知决定机关、检察院、公安机关",
                # A change of place hands the end of the term to the new place's agency.
                opened_by=("CommunityCorrectionOrdered", "ExecutionPlaceChanged"),
                obliged_from="corrections_agency",
                supersede=True,
            ),
        ),
    )
)
