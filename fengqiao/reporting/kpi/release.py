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

from .engine import KPI, KpiRows, cohort, count, rate, render_kpis, result, with_targets

# (key, Chinese label, English label, target): the order the table shows them in.
RELEASE_KPIS: KpiRows = (
    ("notice_on_time", "通知书按时率", "notice on time", None),
    ("handover", "衔接率", "hand-over", None),
    ("key_person_pickup", "重点对象接回率", "key-person pick-up", 1.0),
    ("report_within_limit", "30日内报到率", "report within limit", None),
    ("contact_lost", "脱管人数", "contact lost", 0),
    ("resettlement_coverage", "帮教覆盖率", "resettlement coverage", None),
)


def release_kpis(
    cases: Iterable[Case], *, start: date | None = None, end: date | None = None, agency: str | None = None
) -> dict[str, Any]:
    """The §1 KPIs over release cases opened in [start, end] (Asia/Shanghai dates, both inclusive).

    ``agency`` keeps the cases where it is the obliged agency of a handoff (as the case stands now),
    or the ``office`` of one of the case's facts (e.g. the office that disputed the residence).
    Returns ``{"period", "agency", "cases", "kpis"}``, ``kpis`` keyed and ordered as `RELEASE_KPIS`.
    """
    members = cohort(cases, "release", start, end, agency, involves)
    released = [c for c in members if _released_at(c) is not None]
    key_released = [c for c in released if fact(c, "ReleaseNoticeIssued.key_person") is True]
    with_ack = [c for c in members if _handoffs(c, "acknowledge")]
    report_due = [c for c in released if _report_settled(c)]
    lost = [c for c in members if any(a.get("type") == "ContactLost" for a in c["alerts"])]
    kpis: dict[str, KPI] = {
        "notice_on_time": rate(members, lambda c: not c.get("flags", {}).get("notice_late")),
        "handover": rate(with_ack, _acknowledged_before_release),
        "key_person_pickup": rate(key_released, _picked_up),
        "report_within_limit": rate(report_due, _reported_in_time),
        "contact_lost": count(lost, released),
        "resettlement_coverage": rate(released, lambda c: "ResettlementPlanCreated" in c["facts"]),
    }
    return result(members, start, end, agency, with_targets(kpis, RELEASE_KPIS))


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
    render_kpis(kpis, RELEASE_KPIS, console, title="刑满释放衔接指标 release hand-over KPIs")


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
