"""What every workflow's KPIs share: the cohort, the shape of a figure, and the rich tables.

A KPI is computed from case state alone (no I/O, no clock) and carries the counts behind it:

    {"numerator": 3, "denominator": 4, "rate": 0.75, "target": None, "exceptions": ["XS-2"]}

``rate`` is None when the denominator is 0. A *count* (target 0, e.g. people who lost contact) has
the same keys, its ``exceptions`` being the cases counted. A *median* has ``value`` instead of a
rate. Each workflow's module (`release.py`, `mediation.py`, ...) declares its KPIs as
``(key, Chinese label, English label, target)`` rows and builds on these functions.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from fengqiao.schemas.envelope import parse_time
from fengqiao.streams.calendar import local_date
from fengqiao.streams.engine import Case, mappings

KPI = dict[str, Any]
# (key, Chinese label, English label, target): the order the tables show them in.
KpiRows = tuple[tuple[str, str, str, float | int | None], ...]


# -- the cohort -----------------------------------------------------------------------------------------
def opened_in(case: Case, start: date | None, end: date | None) -> bool:
    """Whether the case was opened in [start, end], by Asia/Shanghai date (both inclusive)."""
    if not case.get("opened_at"):
        return False
    day = local_date(parse_time(case["opened_at"]))
    return (start is None or day >= start) and (end is None or day <= end)


def names_agency(case: Case, agency: str) -> bool:
    """Whether the case names ``agency`` anywhere (facts, handoffs) or it published to the case."""
    return agency in agencies_named(case)


def agencies_named(case: Case) -> set[str]:
    found = {e["source"] for e in case["events"]}
    found |= {
        d["agency_id"]
        for d in mappings([case["facts"], case["handoffs"]])
        if isinstance(d.get("agency_id"), str)
    }
    return found


def cohort(
    cases: Iterable[Case],
    workflow: str,
    start: date | None,
    end: date | None,
    agency: str | None,
    involves: Callable[[Case, str], bool] = names_agency,
) -> list[Case]:
    """The ``workflow``'s cases opened in [start, end], kept only where ``involves(case, agency)``."""
    return [
        c
        for c in cases
        if c.get("workflow") == workflow
        and opened_in(c, start, end)
        and (agency is None or involves(c, agency))
    ]


def group(cases: Iterable[Case], key: Callable[[Case], str | None]) -> dict[str, list[Case]]:
    """The cases by ``key`` (in the order first seen); a case whose key is None is left out."""
    groups: dict[str, list[Case]] = {}
    for c in cases:
        k = key(c)
        if k is not None:
            groups.setdefault(k, []).append(c)
    return groups


def result(
    members: list[Case],
    start: date | None,
    end: date | None,
    agency: str | None,
    kpis: dict[str, KPI],
    **breakdowns: dict[str, Any],
) -> dict[str, Any]:
    """``{"period", "agency", "cases", "kpis", **breakdowns}``: what every ``*_kpis`` returns."""
    return {
        "period": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "agency": agency,
        "cases": len(members),
        "kpis": kpis,
        **breakdowns,
    }


def breakdown(
    groups: Iterable[tuple[str, list[Case]]],
    kpis_of: Callable[[list[Case]], dict[str, KPI]],
    name_of: Callable[[list[Case]], str | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each non-empty group's ``{"name"?, "cases", "kpis"}``, in the order given."""
    return {
        g: ({"name": name_of(cs)} if name_of else {}) | {"cases": len(cs), "kpis": kpis_of(cs)}
        for g, cs in groups
        if cs
    }


# -- the figures ----------------------------------------------------------------------------------------
def rate(cases: list[Case], ok: Callable[[Case], bool]) -> KPI:
    """The cases that are ``ok`` over ``cases``; the exceptions are those that are not."""
    hits = [ok(c) for c in cases]
    return {
        "numerator": sum(hits),
        "denominator": len(cases),
        "rate": sum(hits) / len(cases) if cases else None,
        "exceptions": [c["case_id"] for c, hit in zip(cases, hits, strict=True) if not hit],
    }


def count(found: list[Case], of: list[Case]) -> KPI:
    """How many cases were ``found`` (e.g. lost contact) among ``of``; the exceptions are those found."""
    return {
        "numerator": len(found),
        "denominator": len(of),
        "rate": len(found) / len(of) if of else None,
        "exceptions": [c["case_id"] for c in found],
    }


def median_value(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(float(statistics.median(values)), 2) if values else None


def median(values: list[float]) -> KPI:
    return {"value": median_value(values), "denominator": len(values), "exceptions": []}


def with_targets(kpis: dict[str, KPI], rows: KpiRows) -> dict[str, KPI]:
    targets = {key: target for key, _, _, target in rows}
    for key, k in kpis.items():
        k["target"] = targets[key]
    return kpis


# -- showing --------------------------------------------------------------------------------------------
def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def cell(k: KPI) -> str:
    """A KPI in one cell of a breakdown: a median's value, a count, or a rate with its counts."""
    if "value" in k:
        return "—" if k["value"] is None else f"{k['value']:.1f}"
    if k.get("target") == 0:
        return str(k["numerator"])
    return f"{percent(k['rate'])} ({k['numerator']}/{k['denominator']})"


def _missed(k: KPI, target: float | None) -> bool:
    """A count above its target of 0, or a rate below its target of 100%."""
    over = target == 0 and k["numerator"] > 0
    return over or (target == 1.0 and k["rate"] is not None and k["rate"] < 1.0)


def render_kpis(
    figures: dict[str, Any],
    rows: KpiRows,
    console: Console,
    *,
    title: str,
    noun: str = "案件 cases",
    last: Literal["target", "exceptions"] = "target",
) -> None:
    """The KPIs as a table, labels in Chinese and English, a missed target in red; the last column is the
    target, or the exceptions (``last="exceptions"``). The caption says the period, how many cases, the
    agency."""
    period = figures.get("period") or {}
    first, final = period.get("start"), period.get("end")
    dates = f"{first or '…'} – {final or '…'}" if first or final else "全部日期 all dates"
    scope = [dates, f"{figures.get('cases', 0)} {noun}"]
    if figures.get("agency"):
        scope.append(f"机构 agency {figures['agency']}")
    kpis = figures["kpis"]
    t = Table(
        "KPI",
        "分子 numerator",
        "分母 denominator",
        "比率/数值 rate/value" if any("value" in kpis[key] for key, *_ in rows) else "比率 rate",
        "例外 exceptions" if last == "exceptions" else "目标 target",
        title=title,
        caption=" · ".join(scope),
    )
    for key, zh, en, target in rows:
        k = kpis[key]
        if last == "exceptions":
            end_cell = ", ".join(k["exceptions"]) or "—"
        else:
            end_cell = "—" if target is None else (str(target) if target == 0 else percent(target))
        if "value" in k:
            value = cell(k)
            if "mean" in k:
                value += f" (均值 mean {'—' if k['mean'] is None else format(k['mean'], '.1f')})"
            t.add_row(f"{zh} {en}", "—", str(k["denominator"]), value, end_cell)
            continue
        t.add_row(
            f"{zh} {en}",
            str(k["numerator"]),
            str(k["denominator"]),
            percent(k["rate"]),
            end_cell,
            style="red" if _missed(k, target) else None,
        )
    console.print(t)


def named(groups: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """A breakdown by agency as rows labelled "name (id)" (the id alone where the name is unknown)."""
    return [(f"{v['name'] or a} ({a})", v) for a, v in groups.items()]


def render_breakdown(
    console: Console,
    title: str,
    rows: list[tuple[str, dict[str, Any]]],
    kpi_rows: KpiRows,
    short: dict[str, str],
    noun: str = "案件 cases",
) -> None:
    """One line a group (label, its ``{"cases", "kpis"}``), a column a KPI headed by its ``short`` label."""
    if not rows:
        return
    t = Table("", noun, *(short[key] for key, *_ in kpi_rows), title=title)
    for label, v in rows:
        t.add_row(label, str(v["cases"]), *(cell(v["kpis"][key]) for key, *_ in kpi_rows))
    console.print(t)
