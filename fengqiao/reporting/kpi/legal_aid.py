"""Legal aid KPIs (workflows.md §4), computed from case state alone: no I/O, no clock.

Every figure comes from what the log put on the case (facts, handoffs), so the board, the KPIs and
a replay agree. A rate carries the counts behind it, as the release KPIs do (`release.py`).

The cohort is the legal aid cases opened (notice, application, or a detained person's application
through the facility) in the period, by Asia/Shanghai date. Two routes: ``notified`` (通知辩护, a
case organ's notice) and ``applied`` (申请).

* days to assignment (指派律师用时): from the event that starts the 3-day assignment clock — the
  notice, or the grant of aid — to the first lawyer assigned; the median over the cases with a
  lawyer, with the mean and the cases assigned late (past their 3 days) as exceptions;
* decisions within 7 days (7日内作出决定率): applications decided (granted or refused) by their
  7-day deadline / applications whose decision is settled (made, or overdue);
* grant rate for eligible applicants (符合经济困难条件的申请人给予援助率): granted / eligible
  applicants decided, eligible meaning exempt from the means test (on civil affairs' assistance
  register, MeansTestExemptionDecided) or in hardship by civil affairs' check (HardshipStatusReported
  other than ``none``); a grant after an upheld objection counts. Exceptions: eligible and refused.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import date
from typing import Any

from rich.console import Console

from fengqiao.schemas.envelope import parse_time
from fengqiao.schemas.labels import section
from fengqiao.streams.engine import Case, fact
from fengqiao.streams.workflows.legal_aid import ON_REGISTER, route

from .engine import (
    KPI,
    Breakdown,
    Cases,
    KpiDefinition,
    KpiRows,
    Measure,
    Params,
    Rate,
    compute,
    median_value,
    render,
    zh_and_key,
)

ROUTES = section("legal_aid_routes")  # notified 通知辩护, applied 申请: the order of the breakdown
ASSIGN_STEPS = ("assign_notified", "assign_granted")


def legal_aid_kpis(
    cases: Iterable[Case], *, start: date | None = None, end: date | None = None, agency: str | None = None
) -> dict[str, Any]:
    """The §4 KPIs over legal aid cases opened in [start, end] (Asia/Shanghai dates, both inclusive),
    overall and by route.

    ``agency`` keeps the cases that name it anywhere (notifier, centre, office, facility, obliged)
    or that it published to. Returns ``{"period", "agency", "cases", "kpis", "by_route"}``; ``kpis``
    keyed and ordered as `LEGAL_AID_KPIS`.
    """
    return compute(LEGAL_AID, cases, start=start, end=end, agency=agency)


# -- the per-case tests ---------------------------------------------------------------------------------
def assignment(case: Case) -> dict[str, Any] | None:
    """The case's first fulfilled assignment handoff (a lawyer assigned), if any."""
    done = [h for h in case["handoffs"].values() if h["step"] in ASSIGN_STEPS and h["state"] == "fulfilled"]
    return min(done, key=lambda h: h["fulfilled_at"]) if done else None


def days_to_assignment(case: Case) -> float | None:
    """Days from the notice, or the grant, to the first lawyer assigned; None without one."""
    h = assignment(case)
    started = (
        fact(case, "LegalAidNotified.notified_at")
        if h is not None and h["step"] == "assign_notified"
        else fact(case, "LegalAidGranted.decided_at")
    )
    if h is None or not started:
        return None
    return (parse_time(h["fulfilled_at"]) - parse_time(started)).total_seconds() / 86400


def decision_settled(case: Case) -> bool:
    """The application's decision was made, or its 7 days ran out (the decide handoff went overdue)."""
    decide = [h for h in case["handoffs"].values() if h["step"] == "decide"]
    return any(h["state"] == "fulfilled" or h["overdue_at"] for h in decide)


def decided_in_time(case: Case) -> bool:
    decide = [h for h in case["handoffs"].values() if h["step"] == "decide"]
    return bool(decide) and all(h["state"] == "fulfilled" and h["late"] is False for h in decide)


def eligible(case: Case) -> bool:
    """Exempt from the means test (the register), or in hardship by civil affairs' check."""
    return fact(case, "MeansTestExemptionDecided.exempt") is True or (
        fact(case, "HardshipStatusReported.status") in ON_REGISTER
    )


def granted(case: Case) -> bool:
    return "LegalAidGranted" in case["facts"]


def decided(case: Case) -> bool:
    return granted(case) or "LegalAidDenied" in case["facts"]


# -- the definition: which cases each KPI counts, over which --------------------------------------
def _days_to_assignment(cases: Cases, params: Params) -> KPI:
    """The median days over the cases with a lawyer, with the mean; those assigned late are the exceptions."""
    days = {c["case_id"]: d for c in cases if (d := days_to_assignment(c)) is not None}
    late = [c["case_id"] for c in cases if (h := assignment(c)) is not None and h["late"]]
    return {
        "value": median_value(days.values()),
        "mean": round(statistics.fmean(days.values()), 2) if days else None,
        "denominator": len(days),
        "late": late,
        "exceptions": late,
    }


def _applications(cases: Cases) -> Cases:
    return [c for c in cases if route(c) == "applied"]


def _decision_due(cases: Cases) -> Cases:
    return [c for c in _applications(cases) if decision_settled(c)]


def _eligible_decided(cases: Cases) -> Cases:
    return [c for c in _applications(cases) if eligible(c) and decided(c)]


def _exempt(cases: Cases, params: Params) -> dict[str, Any]:
    """How many applicants the assistance register exempted from the means test."""
    return {"exempt": sum(fact(c, "MeansTestExemptionDecided.exempt") is True for c in _applications(cases))}


def _by_route(cases: Cases) -> list[tuple[str, Cases]]:
    return [(r, [c for c in cases if route(c) == r]) for r in ROUTES]


LEGAL_AID = KpiDefinition(
    workflow="legal_aid",
    figures=(
        Measure("days_to_assignment", _days_to_assignment),
        Rate("decided_within_7_days", over=_decision_due, ok=decided_in_time),
        Rate("grant_rate_eligible", over=_eligible_decided, ok=granted, extra=_exempt),
    ),
    breakdowns=(Breakdown("by_route", _by_route, row=zh_and_key(ROUTES)),),
    last="exceptions",  # no figure here has a target: the last column lists the exceptions instead
)
LEGAL_AID_KPIS: KpiRows = LEGAL_AID.rows


def render_legal_aid(kpis: dict[str, Any], console: Console) -> None:
    """Print `legal_aid_kpis`'s result: the KPIs (the last column their exceptions), then by route."""
    render(LEGAL_AID, kpis, console)
