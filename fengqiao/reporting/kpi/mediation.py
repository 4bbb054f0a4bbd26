"""Mediation KPIs (workflows.md §2), computed from case state alone: no I/O, no clock.

Every figure comes from what the log put on the case (facts, handoffs), so the board, the KPIs and
a replay agree. A rate carries the counts behind it (`engine.py`):

    {"numerator": 3, "denominator": 4, "rate": 0.75, "target": None, "exceptions": ["TJ-2"]}

The cohort is the mediation cases opened (referred or registered) in the period, by Asia/Shanghai
date. A dispute's *outcome*: ``agreed`` once an agreement is reached (at any level); ``failed`` when
mediation ended without one (returned to the court, or failed with no level left to try);
``pending`` while a mediation handoff is open.

* success rate (调解成功率): agreed / (agreed + failed);
* village share (村级化解率, "小事不出村"): agreements reached at village level / agreements;
* median days to resolution: from the referral or registration to the agreement, agreed cases;
* judicial confirmation rate (司法确认率): agreements the court confirmed / agreements; the
  requests made after the 30-day window (rule mediation.confirmation_window) are listed as ``late``;
* disputes turned criminal (民转刑, target 0): cases with DisputeTurnedCriminal / the cohort.

``by_door`` splits them by the door the dispute came in by; ``by_agency`` by the lead agency of its
first assignment (the judicial office of the place, where "small matters stay in the village" is
measured), so an escalated dispute counts where it started.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from rich.console import Console

from fengqiao.schemas.envelope import parse_time
from fengqiao.streams.engine import Case, fact, open_handoffs
from fengqiao.streams.policy import PolicySet, default_policy_set
from fengqiao.streams.workflows.mediation import door

from .engine import (
    KPI,
    KpiRows,
    breakdown,
    cohort,
    count,
    group,
    median,
    named,
    rate,
    render_breakdown,
    render_kpis,
    result,
    with_targets,
)

DOORS = ("court_pre_filing", "court_post_filing", "police", "petition", "own_intake")
DOOR_ZH = {
    "court_pre_filing": "诉前委派",
    "court_post_filing": "诉中委托",
    "police": "警调对接",
    "petition": "访调对接",
    "own_intake": "自行受理",
}
MEDIATION_KPIS: KpiRows = (
    ("success", "调解成功率", "success rate", None),
    ("village_share", "村级化解率", "resolved at village level", None),
    ("median_days", "化解天数中位数", "median days to resolution", None),
    ("confirmation", "司法确认率", "judicial confirmation rate", None),
    ("turned_criminal", "民转刑案件", "disputes turned criminal", 0),
)
_SHORT = {  # column headers of the breakdown tables
    "success": "成功率 success",
    "village_share": "村级 village",
    "median_days": "中位天数 days",
    "confirmation": "司法确认 confirmed",
    "turned_criminal": "民转刑 criminal",
}


def mediation_kpis(
    cases: Iterable[Case],
    *,
    start: date | None = None,
    end: date | None = None,
    agency: str | None = None,
    policies: PolicySet | None = None,
) -> dict[str, Any]:
    """The §2 KPIs over mediation cases opened in [start, end] (Asia/Shanghai dates, both inclusive),
    overall, by door and by lead agency.

    ``agency`` keeps the cases that name it anywhere (a referrer, an obliged or joint member, a
    mediator) or that it published to. Returns ``{"period", "agency", "cases", "kpis", "by_door",
    "by_agency"}``; ``kpis`` keyed and ordered as `MEDIATION_KPIS`.
    """
    policies = policies or default_policy_set()
    members = cohort(cases, "mediation", start, end, agency)

    def kpis_of(cs: list[Case]) -> dict[str, KPI]:
        return _kpis(cs, policies)

    by_door = breakdown(((d, [c for c in members if door(c) == d]) for d in DOORS), kpis_of)
    leads = sorted(group(members, lambda c: lead(c)[0]).items())
    by_agency = breakdown(leads, kpis_of, lambda cs: lead(cs[0])[1])
    return result(members, start, end, agency, kpis_of(members), by_door=by_door, by_agency=by_agency)


def lead(case: Case) -> tuple[str, str | None]:
    """(id, name) of the lead agency of the case's first mediation assignment."""
    first = case["handoffs"].get(f"{case['case_id']}/mediate/1") or {}
    obliged = first.get("obliged") or {}
    return obliged.get("agency_id") or "(unassigned)", obliged.get("name")


def outcome(case: Case) -> str:
    """agreed, failed or pending (see the module's docstring)."""
    if "MediationAgreementReached" in case["facts"]:
        return "agreed"
    if any(h["step"] == "mediate" for h in open_handoffs(case)):
        return "pending"
    ended = "MediationFailed" in case["facts"] or "ReturnedToCourt" in case["facts"] or case["closed_at"]
    return "failed" if ended else "pending"


def days_to_agreement(case: Case) -> float:
    reached = parse_time(fact(case, "MediationAgreementReached.reached_at"))
    return (reached - parse_time(case["opened_at"])).total_seconds() / 86400


def confirmation_late(case: Case, policies: PolicySet) -> bool:
    """The application for judicial confirmation came after its 30-day window (PML art. 33)."""
    applied, effective = (
        fact(case, "JudicialConfirmationRequested.applied_at"),
        fact(case, "MediationAgreementReached.effective_on"),
    )
    if not applied or not effective:
        return False
    policy = (
        policies.get(case["policy_version"]) if case.get("policy_version") in policies else policies.latest
    )
    window = policy.rule("mediation.confirmation_window").due(date.fromisoformat(effective))
    return parse_time(applied) > window


def _kpis(cases: list[Case], policies: PolicySet) -> dict[str, KPI]:
    agreed = [c for c in cases if outcome(c) == "agreed"]
    concluded = [c for c in cases if outcome(c) != "pending"]
    criminal = [c for c in cases if "DisputeTurnedCriminal" in c["facts"]]
    kpis: dict[str, KPI] = {
        "success": rate(concluded, lambda c: outcome(c) == "agreed"),
        "village_share": rate(agreed, lambda c: fact(c, "MediationAgreementReached.level") == "village"),
        "median_days": median([days_to_agreement(c) for c in agreed]),
        "confirmation": {
            **rate(agreed, lambda c: "JudicialConfirmationGranted" in c["facts"]),
            "requested": sum("JudicialConfirmationRequested" in c["facts"] for c in agreed),
            "late": [c["case_id"] for c in agreed if confirmation_late(c, policies)],
        },
        "turned_criminal": count(criminal, cases),
    }
    return with_targets(kpis, MEDIATION_KPIS)


# -- showing --------------------------------------------------------------------------------------------
def render_mediation(kpis: dict[str, Any], console: Console) -> None:
    """Print `mediation_kpis`'s result: the KPIs, then by door and by lead agency."""
    render_kpis(kpis, MEDIATION_KPIS, console, title="矛盾纠纷调解指标 mediation KPIs")
    doors = [(f"{DOOR_ZH[d]} {d}", v) for d, v in kpis["by_door"].items()]
    render_breakdown(console, "按来源渠道 by door", doors, MEDIATION_KPIS, _SHORT)
    render_breakdown(console, "按牵头机构 by lead agency", named(kpis["by_agency"]), MEDIATION_KPIS, _SHORT)
