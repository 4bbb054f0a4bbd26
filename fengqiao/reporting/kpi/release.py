"""Release hand-over KPIs (workflows.md §1), computed from case state alone: no I/O, no clock.

Every figure comes from what the log put on the case (facts, handoffs, alerts, flags), so the
board, the KPIs and a replay agree. Each KPI carries the counts behind it (`engine.py`):

    {"numerator": 3, "denominator": 4, "rate": 0.75, "target": None, "exceptions": ["XS-2"]}

``rate`` is None when the denominator is 0; ``exceptions`` are the case ids that fall short (in
the denominator but not the numerator; for ``contact_lost``, the cases that lost contact).

The cohort is the release cases opened (ReleaseNoticeIssued received) in the period, by
Asia/Shanghai date; a case still awaiting its notice is not counted. Every KPI is taken over it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from rich.console import Console

from fengqiao.schemas.envelope import parse_time
from fengqiao.streams.engine import Case, fact

from .engine import Cases, Count, KpiDefinition, KpiRows, Rate, compute, every, render


def release_kpis(
    cases: Iterable[Case], *, start: date | None = None, end: date | None = None, agency: str | None = None
) -> dict[str, Any]:
    """The §1 KPIs over release cases opened in [start, end] (Asia/Shanghai dates, both inclusive).

    ``agency`` keeps the cases where it is the obliged agency of a handoff (as the case stands now),
    or the ``office`` of one of the case's facts (e.g. the office that disputed the residence).
    Returns ``{"period", "agency", "cases", "kpis"}``, ``kpis`` keyed and ordered as `RELEASE_KPIS`.
    """
    return compute(RELEASE, cases, start=start, end=end, agency=agency)


def involves(case: Case, agency: str) -> bool:
    """Whether ``agency`` is obliged by one of the case's handoffs or is the office of one of its facts."""
    if any((h.get("obliged") or {}).get("agency_id") == agency for h in case["handoffs"].values()):
        return True
    return any(
        isinstance(r, dict) and isinstance(r.get("office"), dict) and r["office"].get("agency_id") == agency
        for r in case["facts"].values()
    )


def render_release(kpis: dict[str, Any], console: Console) -> None:
    """Print `release_kpis`'s result as a table, labels in Chinese and English."""
    render(RELEASE, kpis, console)


# -- the per-case tests ---------------------------------------------------------------------------------
def _handoffs(case: Case, step: str) -> list[dict[str, Any]]:
    return [h for h in case["handoffs"].values() if h["step"] == step]


def _released_at(case: Case) -> datetime | None:
    at = fact(case, "PersonReleased.released_at")
    return parse_time(at) if at else None


def _acknowledged_before_release(case: Case) -> bool:
    """An acknowledge handoff fulfilled before the release (any time, while the person is not yet out)."""
    done = [
        parse_time(h["fulfilled_at"])
        for h in _handoffs(case, "acknowledge")
        if h["state"] == "fulfilled" and h["fulfilled_at"]
    ]
    released = _released_at(case)
    return bool(done) and (released is None or min(done) < released)


def _picked_up(case: Case) -> bool:
    return any(h["state"] == "fulfilled" and h["late"] is False for h in _handoffs(case, "gate_pickup"))


def _report_settled(case: Case) -> bool:
    """The report limit has run out (a report handoff went overdue or was met late) or every report is in."""
    report = _handoffs(case, "report")
    return bool(report) and (
        all(h["state"] == "fulfilled" for h in report) or any(h["overdue_at"] or h["late"] for h in report)
    )


def _reported_in_time(case: Case) -> bool:
    return all(h["state"] == "fulfilled" and h["late"] is False for h in _handoffs(case, "report"))


# -- the definition: which cases each KPI counts, over which --------------------------------------
def _released(cases: Cases) -> Cases:
    return [c for c in cases if _released_at(c) is not None]


def _key_released(cases: Cases) -> Cases:
    return [c for c in _released(cases) if fact(c, "ReleaseNoticeIssued.key_person") is True]


def _with_acknowledge(cases: Cases) -> Cases:
    return [c for c in cases if _handoffs(c, "acknowledge")]


def _report_due(cases: Cases) -> Cases:
    return [c for c in _released(cases) if _report_settled(c)]


def _lost_contact(case: Case) -> bool:
    return any(a.get("type") == "ContactLost" for a in case["alerts"])


RELEASE = KpiDefinition(
    workflow="release",
    involves=involves,
    figures=(
        Rate("notice_on_time", over=every, ok=lambda c: not c.get("flags", {}).get("notice_late")),
        Rate("handover", over=_with_acknowledge, ok=_acknowledged_before_release),
        Rate("key_person_pickup", over=_key_released, ok=_picked_up, target=1.0),
        Rate("report_within_limit", over=_report_due, ok=_reported_in_time),
        Count("contact_lost", found=_lost_contact, of=_released),
        Rate("resettlement_coverage", over=_released, ok=lambda c: "ResettlementPlanCreated" in c["facts"]),
    ),
)
RELEASE_KPIS: KpiRows = RELEASE.rows  # (key, Chinese label, English label, target), in the table's order
