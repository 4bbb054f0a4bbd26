"""The demo's 一所六站点 requests (six services through the judicial office) and the fields they set."""

from __future__ import annotations

from typing import Any

from fengqiao.scenario.county import Step

# 一所六站点 requests, each taken in at 青山镇司法所 (qs-jo-1) for an applicant of 东溪村: (what happens,
# steps) as for mediation. Whole days, so each request's days to close are exact. The hand-computed KPIs
# of these requests are in tests/unit/test_kpi_services.py.
SERVICES_VARIANTS: list[tuple[str, list[Step]]] = [
    (
        "notary: accepted, certificate issued, closed back to the office 公证协办·出证·办结回告",
        [
            ("ServiceRequestReceived", "judicial_office", 0, {"service": "notary"}),
            ("ServiceRequestAccepted", "service_body", 1, {}),
            ("ServiceRequestCompleted", "service_body", 9, {}),
        ],
    ),
    (
        "arbitration: never accepted, overdue, escalated to the superior 仲裁联系·逾期未受理·督办",
        [("ServiceRequestReceived", "judicial_office", 0, {"service": "arbitration"})],
    ),
    (
        "reconsideration: not accepted, the refusal closed back to the office 行政复议·不予受理·回告",
        [
            ("ServiceRequestReceived", "judicial_office", 0, {"service": "reconsideration"}),
            ("ServiceRequestRejected", "reconsideration_office", 3, {"stage": "not_accepted"}),
        ],
    ),
    (
        "law-enforcement feedback: accepted, answered after its 30 days 行政执法意见·逾期答复",
        [
            ("ServiceRequestReceived", "judicial_office", 0, {"service": "enforcement_feedback"}),
            ("ServiceRequestAccepted", "enforcement_supervision", 1, {}),
            ("ServiceRequestCompleted", "enforcement_supervision", 40, {}),
        ],
    ),
]
SUBJECTS = {
    "notary": "申请办理亲属关系公证",
    "arbitration": "追索劳动报酬，申请劳动争议仲裁",
    "reconsideration": "对行政处罚决定不服，申请行政复议",
    "enforcement_feedback": "反映乡镇市场监管执法问题",
}


def _services_fields(etype: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields a 一所六站点 step sets (the agencies are the hints' publisher, by field name)."""
    out = dict(fields)
    if etype == "ServiceRequestReceived":
        out["subject"] = SUBJECTS.get(fields["service"], "法律服务申请")
    if etype == "ServiceRequestAccepted":
        out.update(handoff_id=None, decision_due=None)
    if etype == "ServiceRequestRejected":
        out["reason"] = "不属于本机关受理范围 outside the office's remit"
    return out
