"""Community corrections KPIs (workflows.md §3), computed from case state alone: no I/O, no clock.

Every figure comes from what the log put on the case (facts, handoffs), so the board, the KPIs and
a replay agree. A rate carries the counts behind it (`engine.py`):

    {"numerator": 3, "denominator": 4, "rate": 0.75, "target": None, "exceptions": ["JZ-2"]}

The cohort is the corrections cases opened (an investigation commissioned, or a correction ordered)
in the period, by Asia/Shanghai date.

* on-time reporting rate (按时报到率): people who reported within 10 days of the judgment taking
  effect (the ``report`` handoff fulfilled, not late) / people whose reporting is settled (reported,
  or the 10 days ran out). A person whose 10 days are still running is not counted yet;
* absconders (脱管人数, target 0): people the hub declared absconded (CorrectionAbsconded: never
  reported, out of contact, or unreported after a change of place) / people ordered;
* investigations on time (调查评估按时率): pre-sentence investigations reported within their working
  days / investigations settled (reported, or overdue). One made moot by the order is not counted.

``by_agency`` splits them by the corrections agency first given the case (of the residence or the
place of execution), so a person who moved counts where the correction began.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from rich.console import Console

from fengqiao.streams.engine import Case

from .engine import (
    KPI,
    KpiRows,
    breakdown,
    cohort,
    count,
    group,
    named,
    rate,
    render_breakdown,
    render_kpis,
    result,
    with_targets,
)

CORRECTIONS_KPIS: KpiRows = (
    ("reported_on_time", "按时报到率", "on-time reporting rate", None),
    ("absconders", "脱管人数", "absconders", 0),
    ("investigations_on_time", "调查评估按时率", "investigations on time", None),
)
_SHORT = {
    "reported_on_time": "按时报到 on time",
    "absconders": "脱管 absconded",
    "investigations_on_time": "调查评估 investigations",
}


def corrections_kpis(
    cases: Iterable[Case], *, start: date | None = None, end: date | None = None, agency: str | None = None
) -> dict[str, Any]:
    """The §3 KPIs over corrections cases opened in [start, end] (Asia/Shanghai dates, both inclusive),
    overall and by corrections agency.

    ``agency`` keeps the cases that name it anywhere (obliged, informed, decision organ) or that it
    published to. Returns ``{"period", "agency", "cases", "kpis", "by_agency"}``; ``kpis`` keyed and
    ordered as `CORRECTIONS_KPIS`.
    """
    members = cohort(cases, "corrections", start, end, agency)
    firsts = sorted(group(members, lambda c: first_agency(c)[0]).items())
    by_agency = breakdown(firsts, _kpis, lambda cs: first_agency(cs[0])[1])
    return result(members, start, end, agency, _kpis(members), by_agency=by_agency)


def _first(case: Case, step: str) -> dict[str, Any] | None:
    return case["handoffs"].get(f"{case['case_id']}/{step}/1")


def first_agency(case: Case) -> tuple[str, str | None]:
    """(id, name) of the corrections agency first given the case: of the order, else of the investigation."""
    h = _first(case, "report") or _first(case, "investigation") or {}
    obliged = h.get("obliged") or {}
    return obliged.get("agency_id") or "(unassigned)", obliged.get("name")


def settled(h: dict[str, Any] | None) -> bool:
    """Met, or its deadline passed: the handoff counts. Cancelled (moot) or still running: it does not."""
    return h is not None and (h["state"] == "fulfilled" or bool(h["overdue_at"]))


def on_time(h: dict[str, Any] | None) -> bool:
    return h is not None and h["state"] == "fulfilled" and h["late"] is False


def absconded(case: Case) -> bool:
    return any(e["type"] == "CorrectionAbsconded" for e in case["events"])


def _kpis(cases: list[Case]) -> dict[str, KPI]:
    ordered = [c for c in cases if _first(c, "report") is not None]
    reporting = [c for c in ordered if settled(_first(c, "report"))]
    investigated = [c for c in cases if settled(_first(c, "investigation"))]
    kpis: dict[str, KPI] = {
        "reported_on_time": rate(reporting, lambda c: on_time(_first(c, "report"))),
        "absconders": count([c for c in ordered if absconded(c)], ordered),
        "investigations_on_time": rate(investigated, lambda c: on_time(_first(c, "investigation"))),
    }
    return with_targets(kpis, CORRECTIONS_KPIS)


# -- showing --------------------------------------------------------------------------------------------
def render_corrections(kpis: dict[str, Any], console: Console) -> None:
    """Print `corrections_kpis`'s result: the KPIs, then by corrections agency."""
    render_kpis(kpis, CORRECTIONS_KPIS, console, title="社区矫正指标 community corrections KPIs")
    render_breakdown(console, "按社区矫正机构 by agency", named(kpis["by_agency"]), CORRECTIONS_KPIS, _SHORT)
