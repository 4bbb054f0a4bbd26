"""Release hand-over and 必接必送 (mandatory pick-up and delivery of key released prisoners).

workflows.md §1. The numbers (3 working days, 3 days before release, the same day, 24 hours,
30 days, 10 working days, 5 years) and who is escalated to are in the policy file
(`streams/policies/*.yaml`, rules ``release.*``); this file says which event opens which handoff.

1. The prison's ReleaseNoticeIssued opens the case; the hub routes it to the judicial office of the
   residence (ReleaseHandoffAssigned, copied to the county police and bureau) — flagged late when
   issued less than a month before release. ResidenceDisputed re-routes it (ReleaseHandoffReassigned).
2. Key persons (重点帮教对象): the office owes a pick-up plan (PickupPlanned) 3 days before release;
   the plan asks the police station to escort (PickupEscortRequested), shared with the prison.
3. PersonReleased starts the clocks: received at the gate the same day (else PickupMissed) and
   delivered home within 24 hours (else DeliveryMissed), both alerting the bureau and the police;
   everyone reports to the office and is registered by the police station within 30 days (else
   ContactLost → police search).
4. AssistanceRequested: civil affairs answers in 10 working days. ResettlementClosed ends the case.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fengqiao.schemas.envelope import parse_time
from fengqiao.schemas.labels import label

from ..engine import Case, Step, Workflow, fact, register
from ..policy import Policy


def _division(case: Case) -> str | None:
    disputed = fact(case, "ResidenceDisputed.suggested_residence.code")
    return disputed or fact(case, "ReleaseNoticeIssued.residence.code")


def _extra(case: Case, handoff: dict[str, Any], etype: str, policy: Policy) -> dict[str, Any]:
    if etype == "ReleaseHandoffAssigned":
        return {"notice_late": notice_late(case, policy)}
    if etype == "ReleaseHandoffReassigned":
        return {"residence": {"code": _division(case), "name": None}}
    if etype == "PickupEscortRequested":
        prison = fact(case, "ReleaseNoticeIssued.prison")
        return {"shared_with": [prison] if prison else []}
    if etype == "ContactLost":
        return {
            "last_known_residence": {"code": _division(case), "name": None},
            "reported": "PersonReported" in case["facts"],
            "household_registered": "HouseholdRegistered" in case["facts"],
        }
    return {}


def notice_late(case: Case, policy: Policy) -> bool:
    """The notice must be issued at least a month before the expected release (rule release.notice)."""
    issued = next((e["time"] for e in case["events"] if e["type"] == "ReleaseNoticeIssued"), None)
    release_date = fact(case, "ReleaseNoticeIssued.expected_release_date")
    if issued is None or release_date is None:
        return False
    due = policy.rule("release.notice").due(None, before=date.fromisoformat(release_date))
    return parse_time(issued) > due


RELEASE = register(
    Workflow(
        name="release",
        title_zh=label("workflows", "release"),
        opened_by=("ReleaseNoticeIssued",),
        closed_by=("ResettlementClosed",),
        division=_division,
        rerouted_by={"ResidenceDisputed": lambda r: (r.get("suggested_residence") or {}).get("code")},
        reassign_announce="ReleaseHandoffReassigned",
        extra=_extra,
        rules_used=("release.notice",),
        steps=(
            Step(
                "acknowledge",
                "release.acknowledge",
                "签收刑满释放人员衔接任务",
                opened_by=("ReleaseNoticeIssued",),
                announce="ReleaseHandoffAssigned",
                informed=("police", "judicial_bureau"),
            ),
            Step(
                "pickup_plan",
                "release.pickup_plan",
                "制定重点帮教对象接回计划（必接必送）",
                opened_by=("ReleaseNoticeIssued",),
            ),
            Step(
                "escort",
                None,
                "派员协助监狱门口接回",
                opened_by=("PickupPlanned",),
                obliged=("police_station",),
                fulfilled_by=("PersonReceived",),
                announce="PickupEscortRequested",
            ),
            Step("gate_pickup", "release.pickup", "释放当日在监狱门口接回"),
            Step("delivery", "release.delivery", "24小时内送达居住地"),
            Step("report", "release.report", "30日内报到并办理户口登记"),
            Step("assistance", "release.assistance", "答复困难救助申请"),
            Step("resettlement", "release.resettlement", "安置帮教期满解除"),
        ),
    )
)
