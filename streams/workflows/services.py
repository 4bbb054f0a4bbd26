"""一所六站点: the judicial office as intake point for six services, closed loop (首问责任制).

workflows.md §5. Which body takes each service type, and the rules timing its acceptance and
decision, are in the policy file (``services:`` and the rules ``services.*``): notary 15 working days
from acceptance, arbitration accept in 5 days and award in 45, reconsideration review in 5 and decide
in 60, law-enforcement feedback accept in 3 working days and answer in 30, legislative opinion
acknowledge in 3 working days and close with the consultation, legal aid decided in 7 days. This file
says which event opens which handoff, and the workflow's own decisions.

1. A judicial office takes in a request at one of its six service points: **ServiceRequestReceived**
   (the office, the service type, the applicant and the residence). The office asked first stays
   responsible until the citizen has an answer.
2. The hub forwards it (**ServiceRequestForwarded**, `forward`) to the body the policy names for that
   service type, routed by the applicant's residence among the agencies providing that service (the
   county notary office for a notary request, the legal aid centre for legal aid, ...). One handoff
   per request, its step named by the service type: the body owes a receipt — its acceptance,
   **ServiceRequestAccepted** (受理), timed by the service's acceptance rule where the policy has one —
   and a disposition, **ServiceRequestCompleted** or **ServiceRequestRejected** (不予受理 or 驳回), timed
   by the decision rule, which mostly runs from the acceptance. The first office is told of the
   assignment.
3. Where the law lets the body take longer (an award 15 days more with the chair's approval, a
   reconsideration 30), **ServiceRequestExtended** moves the running decision deadline by at most
   that (**ServiceDeadlineExtended**, the first office told); a deadline already passed is not moved.
   A deadline passes without the receipt or the disposition: HandoffOverdue, and HandoffEscalated to
   the body's superior (its parent in the directory, else the county judicial bureau).
4. The answer closes the loop: **ServiceRequestClosed** (`close`) goes back to the first office, which
   tells the citizen; it carries the outcome and the calendar days from the receipt at the office to
   the body's answer, and ends the case.
"""

from __future__ import annotations

from typing import Any

from fengqiao.schemas.envelope import parse_time
from fengqiao.schemas.labels import label

from ..calendar import local_date
from ..engine import Case, Reaction, Step, View, Workflow, fact, register
from ..policy import Policy

# Service type → (acceptance rule or None, decision rule, what the body must do). The policy's
# ``services`` section names the same rules (a unit test keeps the two in step) and the body.
SERVICES: dict[str, tuple[str | None, str, str]] = {
    "notary": (None, "services.notary.certificate", "受理公证申请并出具公证书"),
    "legal_aid": (None, "services.legal_aid.decide", "审查法律援助申请并作出决定"),
    "arbitration": (
        "services.arbitration.accept",
        "services.arbitration.award",
        "受理劳动人事争议仲裁申请并裁决",
    ),
    "reconsideration": (
        "services.reconsideration.review",
        "services.reconsideration.decide",
        "审查行政复议申请并作出复议决定",
    ),
    "enforcement_feedback": (
        "services.enforcement_feedback.accept",
        "services.enforcement_feedback.answer",
        "受理行政执法意见并答复",
    ),
    "legislative_opinion": (
        "services.legislative_opinion.acknowledge",
        "services.legislative_opinion.close",
        "签收立法意见，随征求意见结束办结",
    ),
}
ANSWERS = ("ServiceRequestCompleted", "ServiceRequestRejected")
OUTCOME = {"ServiceRequestCompleted": "completed", "ServiceRequestRejected": "rejected"}
TELL_CITIZEN = "告知申请人办理结果（首问负责）"


def _division(case: Case) -> str | None:
    return fact(case, "ServiceRequestReceived.residence.code")


def service_of(case: Case) -> str | None:
    return fact(case, "ServiceRequestReceived.service")


def service_handoff(case: Case) -> dict[str, Any] | None:
    """The request's handoff to its service body (one per request)."""
    service = service_of(case)
    return case["handoffs"].get(f"{case['case_id']}/{service}/1") if service else None


def _first_clock(policy: Policy, service: str) -> str | None:
    """The rule that times the body first: its acceptance, else a decision clock that runs from the
    forwarding (legal aid); a decision clock running from the acceptance has no date yet."""
    limits = policy.services.get(service)
    if limits is None:
        return None
    if limits.accept:
        return limits.accept
    if limits.decide and policy.rule(limits.decide).start.startswith("ServiceRequestForwarded"):
        return limits.decide
    return None


# -- the workflow's own decisions ---------------------------------------------------------------------
def forward(v: View) -> dict[str, Any] | None:
    """ServiceRequestForwarded: to the body the policy names for the service, for the applicant's place."""
    if fact(v.case, "ServiceRequestForwarded") is not None:
        return None  # a re-sent request: it was forwarded already
    service = v.record["service"]
    limits = v.policy.services.get(service)
    task = SERVICES[service][2] if service in SERVICES else service
    selector = str(limits.body) if limits else "service_body"
    body = v.route(selector, service=service)
    if body is None:
        v.routing_failed(service, task, selector)  # the county bureau is told; nothing is forwarded
        return None
    first = _first_clock(v.policy, service)
    return {
        "handoff_id": v.next_handoff_id(service),
        "step": service,
        "obliged": body,
        "task": task,
        "deadline": v.deadline(first, v.now) if first else None,
        "service": service,
        "first_office": v.agency(v.record["office"]["agency_id"]) or v.record["office"],
        "forwarded_at": v.now,
    }


def close(v: View) -> dict[str, Any] | None:
    """ServiceRequestClosed: the body's answer goes back to the first office (closed loop)."""
    assert v.event is not None
    h = service_handoff(v.case)
    if fact(v.case, "ServiceRequestClosed") is not None or h is None or h["state"] != "fulfilled":
        return None  # closed already, or an answer to nothing the hub forwarded
    received = fact(v.case, "ServiceRequestReceived.received_at") or v.case["opened_at"]
    stamp = "completed_at" if v.event.type == "ServiceRequestCompleted" else "rejected_at"
    answered = v.record.get(stamp) or v.event.time
    answered = parse_time(answered) if isinstance(answered, str) else answered
    office = fact(v.case, "ServiceRequestReceived.office")
    return {
        "handoff_id": h["id"],
        "step": h["step"],
        "obliged": v.agency(office["agency_id"]) or office,  # the directory's name for the office
        "task": TELL_CITIZEN,
        "deadline": None,
        "service": service_of(v.case),
        "body": h["obliged"],
        "outcome": OUTCOME[v.event.type],
        "document_number": v.record.get("document_number"),
        "days_to_close": (local_date(answered) - local_date(parse_time(received))).days,
        "closed_at": v.now,
    }


def _step(service: str) -> Step:
    accept, decide, task = SERVICES[service]
    return Step(
        service,
        decide,
        task,
        opened_by=("ServiceRequestForwarded",),
        obliged_from="obliged",
        receipt_rule=accept,
        acknowledged_by=("ServiceRequestAccepted",),
        receipt_from_obliged=True,
        fulfilled_by=ANSWERS,
        extended_by=("ServiceRequestExtended",),
        informed=("originator",),
    )


SERVICES_WORKFLOW = register(
    Workflow(
        name="services",
        title_zh=label("workflows", "services"),
        opened_by=("ServiceRequestReceived",),
        closed_by=("ServiceRequestClosed",),
        division=_division,
        reactions=(
            Reaction("ServiceRequestForwarded", ("ServiceRequestReceived",), forward),
            Reaction("ServiceRequestClosed", ANSWERS, close),
        ),
        extension_announce="ServiceDeadlineExtended",
        steps=tuple(_step(s) for s in SERVICES),
    )
)
