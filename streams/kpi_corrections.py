"""Community corrections KPIs (workflows.md §3), computed from case state alone: no I/O, no clock.

Every figure comes from what the log put on the case (facts, handoffs), so the board, the KPIs and
a replay agree. A rate carries the counts behind it, as the release KPIs do (`streams/kpi.py`):

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
from rich.table import Table

from .engine import Case
from .kpi import _opened_in, _percent, _rate
from .kpi_mediation import _agencies

KPI = dict[str, Any]
# (key, Chinese label, English label, target): the order the tables show them in.
CORRECTIONS_KPIS: tuple[tuple[str, str, str, float | int | None], ...] = (
    ("reported_on_time", "按时报到率", "on-time reporting rate", None),
    ("absconders", "脱管人数", "absconders", 0),
    ("investigations_on_time", "调查评估按时率", "investigations on time", None),
)
_TARGETS = {key: target for key, _, _, target in CORRECTIONS_KPIS}
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
    cohort = [
        c
        for c in cases
        if c.get("workflow") == "corrections"
        and _opened_in(c, start, end)
        and (agency is None or agency in _agencies(c))
    ]
    by_agency: dict[str, list[Case]] = {}
    for c in cohort:
        by_agency.setdefault(first_agency(c)[0], []).append(c)
    return {
        "period": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "agency": agency,
        "cases": len(cohort),
        "kpis": _kpis(cohort),
        "by_agency": {
            a: {"name": first_agency(cs[0])[1], "cases": len(cs), "kpis": _kpis(cs)}
            for a, cs in sorted(by_agency.items())
        },
    }


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
    gone = [c for c in ordered if absconded(c)]
    kpis: dict[str, KPI] = {
        "reported_on_time": _rate(reporting, lambda c: on_time(_first(c, "report"))),
        "absconders": {
            "numerator": len(gone),
            "denominator": len(ordered),
            "rate": len(gone) / len(ordered) if ordered else None,
            "exceptions": [c["case_id"] for c in gone],
        },
        "investigations_on_time": _rate(investigated, lambda c: on_time(_first(c, "investigation"))),
    }
    for key, k in kpis.items():
        k["target"] = _TARGETS[key]
    return kpis


# -- showing --------------------------------------------------------------------------------------------
def _cell(key: str, k: KPI) -> str:
    if key == "absconders":
        return str(k["numerator"])
    return f"{_percent(k['rate'])} ({k['numerator']}/{k['denominator']})"


def render_corrections(kpis: dict[str, Any], console: Console) -> None:
    """Print `corrections_kpis`'s result: the KPIs, then by corrections agency."""
    period = kpis.get("period") or {}
    first, last = period.get("start"), period.get("end")
    dates = f"{first or '…'} – {last or '…'}" if first or last else "全部日期 all dates"
    scope = [dates, f"{kpis.get('cases', 0)} 案件 cases"]
    if kpis.get("agency"):
        scope.append(f"机构 agency {kpis['agency']}")
    t = Table(
        "KPI",
        "分子 numerator",
        "分母 denominator",
        "比率 rate",
        "目标 target",
        title="社区矫正指标 community corrections KPIs",
        caption=" · ".join(scope),
    )
    for key, zh, en, target in CORRECTIONS_KPIS:
        k = kpis["kpis"][key]
        t.add_row(
            f"{zh} {en}",
            str(k["numerator"]),
            str(k["denominator"]),
            _percent(k["rate"]),
            "—" if target is None else str(target),
            style="red" if target == 0 and k["numerator"] > 0 else None,
        )
    console.print(t)
    if not kpis["by_agency"]:
        return
    t = Table(
        "", "案件 cases", *(_SHORT[key] for key, *_ in CORRECTIONS_KPIS), title="按社区矫正机构 by agency"
    )
    for a, v in kpis["by_agency"].items():
        t.add_row(
            f"{v['name'] or a} ({a})",
            str(v["cases"]),
            *(_cell(key, v["kpis"][key]) for key, *_ in CORRECTIONS_KPIS),
        )
    console.print(t)
