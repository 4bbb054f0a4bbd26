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
from fengqiao.schemas.labels import section
from fengqiao.streams.engine import Case, fact, open_handoffs
from fengqiao.streams.policy import PolicySet, default_policy_set
from fengqiao.streams.workflows.mediation import door

from .engine import (
    Breakdown,
    Cases,
    Count,
    KpiDefinition,
    KpiRows,
    Median,
    Params,
    Rate,
    compute,
    group,
    render,
    zh_and_key,
)

DOORS = ("court_pre_filing", "court_post_filing", "police", "petition", "own_intake")
DOOR_ZH = section("enums", "DisputeDoor")  # the doors' names are the schema's (诉前委派, 警调对接, ...)


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
    return compute(MEDIATION, cases, start=start, end=end, agency=agency, policies=policies)


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


# -- the definition: which cases each KPI counts, over which --------------------------------------
def _agreed(cases: Cases) -> Cases:
    return [c for c in cases if outcome(c) == "agreed"]


def _concluded(cases: Cases) -> Cases:
    return [c for c in cases if outcome(c) != "pending"]


def _confirmations(cases: Cases, params: Params) -> dict[str, Any]:
    """Beside the rate: how many agreements asked for confirmation, and which asked after the window."""
    agreed = _agreed(cases)
    return {
        "requested": sum("JudicialConfirmationRequested" in c["facts"] for c in agreed),
        "late": [c["case_id"] for c in agreed if confirmation_late(c, params["policies"])],
    }


def _by_door(cases: Cases) -> list[tuple[str, Cases]]:
    return [(d, [c for c in cases if door(c) == d]) for d in DOORS]


def _by_lead(cases: Cases) -> list[tuple[str, Cases]]:
    return sorted(group(cases, lambda c: lead(c)[0]).items())


MEDIATION = KpiDefinition(
    workflow="mediation",
    figures=(
        Rate("success", over=_concluded, ok=lambda c: outcome(c) == "agreed"),
        Rate(
            "village_share",
            over=_agreed,
            ok=lambda c: fact(c, "MediationAgreementReached.level") == "village",
        ),
        Median("median_days", over=_agreed, value=days_to_agreement),
        Rate(
            "confirmation",
            over=_agreed,
            ok=lambda c: "JudicialConfirmationGranted" in c["facts"],
            extra=_confirmations,
        ),
        Count("turned_criminal", found=lambda c: "DisputeTurnedCriminal" in c["facts"]),
    ),
    breakdowns=(
        Breakdown("by_door", _by_door, row=zh_and_key(DOOR_ZH)),
        Breakdown("by_agency", _by_lead, name=lambda cs: lead(cs[0])[1]),
    ),
    params={"policies": default_policy_set},  # the confirmation window is a rule of the policy
)
MEDIATION_KPIS: KpiRows = MEDIATION.rows


def render_mediation(kpis: dict[str, Any], console: Console) -> None:
    """Print `mediation_kpis`'s result: the KPIs, then by door and by lead agency."""
    render(MEDIATION, kpis, console)
