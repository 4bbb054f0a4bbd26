"""Legal aid (法律援助): notices of defendants without counsel, applications, and the lawyer assigned.

workflows.md §4. The numbers (3 days, 24 hours, 7 days, 3 days, 5 days) and who is escalated to are
in the policy file (`streams/policies/*.yaml`, rules ``legal_aid.*``); this file says which event
opens which handoff, and the workflow's own decisions.

1. Criminal defence by notice (通知辩护): a court, procuratorate or police organ finds a suspect or
   defendant without a lawyer and notifies the centre (**LegalAidNotified**); the centre assigns a
   lawyer within 3 days (step ``assign_notified``, the notifier informed; overdue → the judicial
   bureau). **LawyerAssigned** fulfils it and the hub forwards the assignment to the notifier
   (**LawyerAssignmentForwarded**).
2. Applications (**LegalAidApplied**), taken by the centre or a judicial office (代办点). A detained
   person applies through the case organ or custody facility (**LegalAidAppliedInCustody**), which
   must forward the application within 24 hours (step ``forward``); the forwarded LegalAidApplied
   fulfils it and starts the centre's 7 days.
3. The means test (arts. 41-42): on the application the hub looks the applicant up ONCE in civil
   affairs' assistance register (民政救助名单, the deployment's ``registers/assistance``) and
   records what it found (**MeansTestExemptionDecided**: the entry, the register's version). An
   applicant on the register on the day of the application is exempt; any other gets
   **HardshipCheckRequested** to civil affairs (step ``hardship_check``), answered by
   HardshipStatusReported (moot once the centre decides). The lookup is a decision on the log:
   replay folds it and a worker catching up reads it back (`engine.handle`'s ``known``); neither
   looks at the register again, whatever it says by then.
4. The centre decides within 7 days of the application (step ``decide``; overdue → the judicial
   bureau): LegalAidGranted, then a lawyer within 3 days (step ``assign_granted``); or
   LegalAidDenied, to which the applicant may object before the judicial bureau
   (LegalAidObjectionFiled), which decides within 5 days (step ``objection``,
   LegalAidObjectionDecided); an objection upheld, the centre grants.
5. LegalAidCaseClosed ends the case.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fengqiao.schemas.envelope import parse_time
from fengqiao.schemas.labels import label, section

from ..calendar import local_date
from ..engine import Case, Reaction, Step, View, Workflow, fact, register

OPENING = ("LegalAidNotified", "LegalAidApplied", "LegalAidAppliedInCustody")
REGISTER = "assistance"  # the deployment's registers/assistance.(yaml|csv), keyed by id_number
EXEMPTION_RULE = "legal_aid.means_test_exempt"
# HardshipStatus symbols that put a person on the assistance register (社会救助对象, art. 42(2)).
ON_REGISTER = {k: v for k, v in section("enums", "HardshipStatus").items() if k != "none"}
CHECK_TASK = "核查申请人经济困难状况并答复法律援助机构"


def _division(case: Case) -> str | None:
    return (
        fact(case, "LegalAidApplied.residence.code")
        or fact(case, "LegalAidAppliedInCustody.place.code")
        or fact(case, "LegalAidNotified.place.code")
    )


def route(case: Case) -> str:
    """``notified`` (通知辩护) or ``applied`` (申请, a detained applicant's included)."""
    return "notified" if "LegalAidNotified" in case["facts"] else "applied"


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _ref(v: View, ref: Any) -> dict[str, Any] | None:
    """An AgencyRef as the directory names it; None for an agency the directory does not know."""
    return v.agency(ref.get("agency_id")) if isinstance(ref, dict) else None


# -- the workflow's own decisions ---------------------------------------------------------------------
def decide_exemption(v: View) -> dict[str, Any] | None:
    """MeansTestExemptionDecided: one lookup in the assistance register, on the day of the application."""
    if v.fact("MeansTestExemptionDecided") is not None:
        return None  # one lookup per case: a re-sent or corrected application does not look again
    applied = v.record
    applicant = applied.get("applicant") or {}
    received = applied["received_at"]  # typed, or JSON when the application was held for its case
    day = local_date(parse_time(received) if isinstance(received, str) else received)
    reg = v.register(REGISTER)
    entry = reg.get(applicant.get(reg.key)) if reg is not None else None  # e.g. by id_number (身份证号)
    status = entry.get("status") if entry is not None else None
    status = status if status in (*ON_REGISTER, "none") else None
    until = _date(entry.get("valid_until")) if entry is not None else None
    listed = entry is not None and status != "none" and (until is None or day <= until)
    try:
        source = v.policy.rule(EXEMPTION_RULE).source
    except KeyError:  # a version without the rule: the law stands
        source = "Legal Aid Law art. 42"
    if reg is None:
        reason = "本部署未配置民政救助名单，需核查 no assistance register in this deployment: hardship check"
    elif listed:
        kind = ON_REGISTER.get(status or "", "救助对象")
        reason = f"已纳入民政救助名单（{kind}），免予核查经济困难状况 on the assistance register on {day}"
        reason += f" ({source})"
    elif entry is not None and status != "none":
        reason = f"民政救助名单登记已于 {until} 失效，需核查 the register's entry lapsed: hardship check"
    else:
        reason = "未在民政救助名单内，需核查 not on the assistance register: hardship check"
    claimed = bool(applied.get("exempt_from_means_test"))
    if claimed and not listed:
        reason += "；申请所称免审事由未经救助名单证实 the intake's claim of exemption is not on the register"
    return {
        "applicant": applicant,
        "centre": _ref(v, applied.get("legal_aid_centre")) or v.route("judicial_bureau:legal_aid_centre"),
        "exempt": listed,
        "on_assistance_register": listed,
        "register_status": status,
        "register_valid_until": until,
        "register": reg.version if reg is not None else None,
        "claimed_exempt": claimed,
        "reason": reason,
        "rule_id": EXEMPTION_RULE,
        "decided_at": v.now,
    }


def request_check(v: View) -> dict[str, Any] | None:
    """HardshipCheckRequested to civil affairs of the residence, unless the applicant is exempt."""
    if v.record.get("exempt"):
        return None
    civil = v.route("civil_affairs")
    if civil is None:
        v.routing_failed("hardship_check", CHECK_TASK, "civil_affairs")
        return None
    received = v.fact("LegalAidApplied.received_at")
    return {
        "handoff_id": v.next_handoff_id("hardship_check"),
        "step": "hardship_check",
        "obliged": civil,
        "task": CHECK_TASK,
        "deadline": None,  # no legal limit of its own: the centre's 7 days run meanwhile
        "application_received_at": parse_time(received) if received else v.now,
        "requested_at": v.now,
    }


def forward_assignment(v: View) -> dict[str, Any] | None:
    """LawyerAssignmentForwarded: the assignment to the notifier, or to whoever took the application."""
    assigned = v.record
    centre = assigned.get("centre") or {}
    found = (
        v.fact("LegalAidNotified.notifier"),
        assigned.get("notifier"),
        v.fact("LegalAidNotified.custody_facility"),
        v.fact("LegalAidAppliedInCustody.received_by"),
        v.fact("LegalAidAppliedInCustody.custody_facility"),
        v.fact("LegalAidApplied.received_by"),
    )
    to: dict[str, dict[str, Any]] = {}
    for ref in filter(None, (_ref(v, r) for r in found)):
        if ref["agency_id"] != centre.get("agency_id"):
            to.setdefault(ref["agency_id"], ref)
    if not to:
        return None  # the centre took the application itself: nobody to forward to
    return {
        "forwarded_to": list(to.values()),
        "centre": centre,
        "assignment_number": assigned.get("assignment_number"),
        "lawyer_name": assigned.get("lawyer_name"),
        "law_firm": assigned.get("law_firm"),
        "lawyer_phone": assigned.get("lawyer_phone"),
        "assigned_at": assigned.get("assigned_at"),
        "forwarded_at": v.now,
    }


LEGAL_AID = register(
    Workflow(
        name="legal_aid",
        title_zh=label("workflows", "legal_aid"),
        opened_by=OPENING,
        closed_by=("LegalAidCaseClosed",),
        division=_division,
        rules_used=(EXEMPTION_RULE,),
        reactions=(
            Reaction("MeansTestExemptionDecided", ("LegalAidApplied",), decide_exemption),
            Reaction("HardshipCheckRequested", ("MeansTestExemptionDecided",), request_check),
            Reaction("LawyerAssignmentForwarded", ("LawyerAssigned",), forward_assignment),
        ),
        steps=(
            Step(
                "assign_notified",
                "legal_aid.assign_notified",
                "收到通知辩护后3日内指派律师",
                obliged_from="legal_aid_centre",
                informed=("originator",),
            ),
            Step(
                "forward",
                "legal_aid.forward_detained",
                "24小时内将在押人员的法律援助申请转交法律援助机构",
                obliged_from="received_by",
                informed=("judicial_bureau:legal_aid_centre",),
            ),
            Step(
                "hardship_check",
                None,
                CHECK_TASK,
                opened_by=("HardshipCheckRequested",),
                obliged=("civil_affairs",),
                obliged_from="obliged",
                fulfilled_by=("HardshipStatusReported",),
                cancelled_by=("LegalAidGranted", "LegalAidDenied"),
            ),
            Step(
                "decide",
                "legal_aid.decide",
                "收到申请之日起7日内作出是否给予法律援助的决定",
                obliged_from="legal_aid_centre",
            ),
            Step(
                "objection",
                "legal_aid.objection",
                "收到异议之日起5日内审查并作出决定",
                obliged_from="bureau",
            ),
            Step(
                "assign_granted",
                "legal_aid.assign_granted",
                "决定给予法律援助后3日内指派律师",
                obliged_from="centre",
            ),
        ),
    )
)
