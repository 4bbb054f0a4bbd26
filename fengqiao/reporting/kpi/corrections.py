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

from .engine import Breakdown, Cases, Count, KpiDefinition, KpiRows, Rate, compute, group, render


def corrections_kpis(
    cases: Iterable[Case], *, start: date | None = None, end: date | None = None, agency: str | None = None
) -> dict[str, Any]:
    """The §3 KPIs over corrections cases opened in [start, end] (Asia/Shanghai dates, both inclusive),
    overall and by corrections agency.

    ``agency`` keeps the cases that name it anywhere (obliged, informed, decision organ) or that it
    published to. Returns ``{"period", "agency", "cases", "kpis", "by_agency"}``; ``kpis`` keyed and
    ordered as `CORRECTIONS_KPIS`.
    """
    return compute(CORRECTIONS, cases, start=start, end=end, agency=agency)


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


# -- the definition: which cases each KPI counts, over which --------------------------------------
def _ordered(cases: Cases) -> Cases:
    """The people ordered into community corrections (a report handoff), not only investigated."""
    return [c for c in cases if _first(c, "report") is not None]


def _reporting(cases: Cases) -> Cases:
    return [c for c in _ordered(cases) if settled(_first(c, "report"))]


def _investigated(cases: Cases) -> Cases:
    return [c for c in cases if settled(_first(c, "investigation"))]


def _by_first_agency(cases: Cases) -> list[tuple[str, Cases]]:
    return sorted(group(cases, lambda c: first_agency(c)[0]).items())


CORRECTIONS = KpiDefinition(
    workflow="corrections",
    figures=(
        Rate("reported_on_time", over=_reporting, ok=lambda c: on_time(_first(c, "report"))),
        Count("absconders", found=absconded, of=_ordered, among=_ordered),
        Rate("investigations_on_time", over=_investigated, ok=lambda c: on_time(_first(c, "investigation"))),
    ),
    breakdowns=(Breakdown("by_agency", _by_first_agency, name=lambda cs: first_agency(cs[0])[1]),),
)
CORRECTIONS_KPIS: KpiRows = CORRECTIONS.rows


def render_corrections(kpis: dict[str, Any], console: Console) -> None:
    """Print `corrections_kpis`'s result: the KPIs, then by corrections agency."""
    render(CORRECTIONS, kpis, console)
