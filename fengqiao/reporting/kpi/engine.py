"""The KPI engine: each workflow's KPIs are one `KpiDefinition` (data), computed and shown here.

A definition says which cases form the cohort (the workflow's cases opened in the period, kept for
an agency by ``involves``), its figures — a `Rate` (which cases count, and which of them meet it:
the denominator and the numerator), a `Count` (target 0, e.g. people who lost contact), a `Median`,
or a `Measure` for a figure of its own shape — and its breakdowns (the same figures per door,
agency, route...). The labels (names, short column titles, table titles) come from the zh-CN
catalogue, ``kpis.<workflow>`` in ``schemas/labels_zh.yaml``. `compute` and `render` do the rest
for every workflow; `fengqiao kpi WORKFLOW` is one command over them.

A KPI is computed from case state alone (no I/O, no clock) and carries the counts behind it:

    {"numerator": 3, "denominator": 4, "rate": 0.75, "target": None, "exceptions": ["XS-2"]}

``rate`` is None when the denominator is 0. A *count* has the same keys, its ``exceptions`` being
the cases counted. A *median* has ``value`` instead of a rate.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from fengqiao.schemas.envelope import parse_time
from fengqiao.schemas.labels import section
from fengqiao.streams.calendar import local_date
from fengqiao.streams.engine import Case, mappings

KPI = dict[str, Any]
# (key, Chinese label, English label, target): the order the tables show them in.
KpiRows = tuple[tuple[str, str, str, float | int | None], ...]
Cases = list[Case]
Params = Mapping[str, Any]  # what a definition's figures need besides the cases (mediation: the policies)
TABLE = section("kpi_table")  # the KPI tables' column titles and captions


def every(cases: Cases) -> Cases:
    """The whole group: a figure taken over every case of it."""
    return cases


# -- a workflow's KPIs as data --------------------------------------------------------------------------
@dataclass(frozen=True)
class Rate:
    """The cases of ``over(cases)`` that are ``ok`` (numerator) over ``over(cases)`` (denominator); the
    exceptions are those that are not. ``extra`` adds keys beside the counts (or replaces some)."""

    key: str
    over: Callable[[Cases], Cases]
    ok: Callable[[Case], bool]
    target: float | None = None
    extra: Callable[[Cases, Params], dict[str, Any]] | None = None

    def measure(self, cases: Cases, params: Params) -> KPI:
        k = rate(self.over(cases), self.ok)
        if self.extra is not None:
            k.update(self.extra(cases, params))
        return k


@dataclass(frozen=True)
class Count:
    """How many cases of ``among(cases)`` are ``found``, among ``of(cases)`` (the denominator); the
    exceptions are the cases found. A count's target is 0."""

    key: str
    found: Callable[[Case], bool]
    of: Callable[[Cases], Cases] = every
    among: Callable[[Cases], Cases] = every
    target: int | None = 0

    def measure(self, cases: Cases, params: Params) -> KPI:
        return count([c for c in self.among(cases) if self.found(c)], self.of(cases))


@dataclass(frozen=True)
class Median:
    """The median of ``value`` over ``over(cases)``, rounded to 2 places."""

    key: str
    over: Callable[[Cases], Cases]
    value: Callable[[Case], float]
    target: float | None = None

    def measure(self, cases: Cases, params: Params) -> KPI:
        return median([self.value(c) for c in self.over(cases)])


@dataclass(frozen=True)
class Measure:
    """A figure of its own shape (legal aid's days to assignment: a median with its mean and the late)."""

    key: str
    compute: Callable[[Cases, Params], KPI]
    target: float | None = None

    def measure(self, cases: Cases, params: Params) -> KPI:
        return self.compute(cases, params)


Figure = Rate | Count | Median | Measure


@dataclass(frozen=True)
class Breakdown:
    """The figures again per group: ``groups`` splits the cohort into ``(key, cases)`` in the order
    shown; ``name`` gives a group's name in the result (agencies); ``row`` its label in the table
    (default: "name (id)"). Its title is ``kpis.<workflow>.breakdowns.<key>`` in the catalogue."""

    key: str
    groups: Callable[[Cases], Iterable[tuple[str, Cases]]]
    name: Callable[[Cases], str | None] | None = None
    row: Callable[[str, dict[str, Any]], str] | None = None


@dataclass(frozen=True)
class KpiDefinition:
    """One workflow's KPIs: its cohort (``workflow``, ``involves``), figures, breakdowns, the last
    column of its table (each figure's target, or its exceptions), and the ``params`` it computes
    when not given (a callable each)."""

    workflow: str
    figures: tuple[Figure, ...]
    breakdowns: tuple[Breakdown, ...] = ()
    involves: Callable[[Case, str], bool] | None = None  # default: names_agency
    last: Literal["target", "exceptions"] = "target"
    params: Mapping[str, Callable[[], Any]] = field(default_factory=dict)

    @property
    def labels(self) -> Mapping[str, Any]:
        return section("kpis", self.workflow)

    @property
    def rows(self) -> KpiRows:
        """``(key, Chinese label, English label, target)`` per figure, in the definition's order."""
        names = self.labels["figures"]
        return tuple((f.key, names[f.key]["zh"], names[f.key]["en"], f.target) for f in self.figures)

    @property
    def short(self) -> dict[str, str]:
        """Each figure's column title in the breakdown tables."""
        return {key: v["short"] for key, v in self.labels["figures"].items() if "short" in v}

    @property
    def noun(self) -> str:
        return str(self.labels.get("noun") or TABLE["cases"])


def compute(
    definition: KpiDefinition,
    cases: Iterable[Case],
    *,
    start: date | None = None,
    end: date | None = None,
    agency: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The definition's KPIs over its cohort (cases opened in [start, end], Asia/Shanghai dates, both
    inclusive; ``agency``: only the cases it is involved in), overall and per breakdown:
    ``{"period", "agency", "cases", "kpis", **breakdowns}``, ``kpis`` keyed and ordered as its figures."""
    full = {k: v for k, v in params.items() if v is not None}
    for key, make in definition.params.items():
        if key not in full:
            full[key] = make()
    members = cohort(cases, definition.workflow, start, end, agency, definition.involves or names_agency)

    def kpis_of(group: Cases) -> dict[str, KPI]:
        return figures(definition, group, full)

    parts = {b.key: breakdown(b.groups(members), kpis_of, b.name) for b in definition.breakdowns}
    return result(members, start, end, agency, kpis_of(members), **parts)


def figures(definition: KpiDefinition, cases: Cases, params: Params) -> dict[str, KPI]:
    """Every figure of the definition over ``cases``, each with its target."""
    kpis = {f.key: f.measure(cases, params) for f in definition.figures}
    for f in definition.figures:
        kpis[f.key]["target"] = f.target
    return kpis


def render(definition: KpiDefinition, kpis: dict[str, Any], console: Console) -> None:
    """`compute`'s result as tables: the KPIs, then each breakdown."""
    labels = definition.labels
    rows, noun = definition.rows, definition.noun
    render_kpis(kpis, rows, console, title=labels["title"], noun=noun, last=definition.last)
    for b in definition.breakdowns:
        groups = kpis[b.key]
        lines = named(groups) if b.row is None else [(b.row(g, v), v) for g, v in groups.items()]
        render_breakdown(console, labels["breakdowns"][b.key], lines, rows, definition.short, noun)


def zh_and_key(names: Mapping[str, str]) -> Callable[[str, dict[str, Any]], str]:
    """A breakdown's row label "中文 key" (the key alone twice where the catalogue has no name)."""
    return lambda key, _: f"{names.get(key, key)} {key}"


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
    noun: str = TABLE["cases"],
    last: Literal["target", "exceptions"] = "target",
) -> None:
    """The KPIs as a table, labels in Chinese and English, a missed target in red; the last column is the
    target, or the exceptions (``last="exceptions"``). The caption says the period, how many cases, the
    agency."""
    period = figures.get("period") or {}
    first, final = period.get("start"), period.get("end")
    dates = f"{first or '…'} – {final or '…'}" if first or final else TABLE["all_dates"]
    scope = [dates, f"{figures.get('cases', 0)} {noun}"]
    if figures.get("agency"):
        scope.append(f"{TABLE['agency']} {figures['agency']}")
    kpis = figures["kpis"]
    t = Table(
        "KPI",
        TABLE["numerator"],
        TABLE["denominator"],
        TABLE["rate_or_value"] if any("value" in kpis[key] for key, *_ in rows) else TABLE["rate"],
        TABLE["exceptions"] if last == "exceptions" else TABLE["target"],
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
                value += f" ({TABLE['mean']} {'—' if k['mean'] is None else format(k['mean'], '.1f')})"
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
    noun: str = TABLE["cases"],
) -> None:
    """One line a group (label, its ``{"cases", "kpis"}``), a column a KPI headed by its ``short`` label."""
    if not rows:
        return
    t = Table("", noun, *(short[key] for key, *_ in kpi_rows), title=title)
    for label, v in rows:
        t.add_row(label, str(v["cases"]), *(cell(v["kpis"][key]) for key, *_ in kpi_rows))
    console.print(t)
