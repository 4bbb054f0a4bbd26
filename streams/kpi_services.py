"""一所六站点 KPIs (workflows.md §5), computed from case state alone: no I/O, no clock.

Every figure comes from what the log put on the case (facts, handoffs), so the board, the KPIs and
a replay agree. A rate carries the counts behind it, as the release KPIs do (`streams/kpi.py`):

    {"numerator": 3, "denominator": 4, "rate": 0.75, "target": None, "exceptions": ["FW-2"]}

The cohort is the service requests received at a judicial office in the period, by Asia/Shanghai
date. Each request has one handoff to the body it was forwarded to (see
`streams/workflows/services.py`).

* closure rate (办结率): requests closed back to the first office (ServiceRequestClosed) / requests;
* median days to close (办结天数中位数): calendar days from the receipt at the office to the body's
  answer (``days_to_close`` of ServiceRequestClosed), closed requests;
* overdue share (逾期率): requests whose body let a deadline pass — the acceptance or the decision,
  found overdue by the timer or answered late — / requests forwarded.

``by_body`` splits them by the service body the request was forwarded to (a request the hub could
not forward counts overall only), ``by_service`` by service type.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table

from .engine import Case, fact
from .kpi import _opened_in, _percent, _rate
from .kpi_mediation import _agencies
from .workflows.services import service_handoff, service_of

KPI = dict[str, Any]
SERVICE_ZH = {
    "notary": "公证协办",
    "legal_aid": "法律援助代办",
    "arbitration": "仲裁联系",
    "reconsideration": "行政复议咨询",
    "enforcement_feedback": "行政执法意见收集",
    "legislative_opinion": "立法民意采集",
}
# (key, Chinese label, English label, target): the order the tables show them in.
SERVICES_KPIS: tuple[tuple[str, str, str, float | int | None], ...] = (
    ("closure", "办结率", "closure rate", None),
    ("median_days", "办结天数中位数", "median days to close", None),
    ("overdue", "逾期率", "overdue share", None),
)
_TARGETS = {key: target for key, _, _, target in SERVICES_KPIS}
_SHORT = {"closure": "办结 closed", "median_days": "中位天数 days", "overdue": "逾期 overdue"}


def services_kpis(
    cases: Iterable[Case],
    *,
    start: date | None = None,
    end: date | None = None,
    agency: str | None = None,
) -> dict[str, Any]:
    """The §5 KPIs over requests received in [start, end] (Asia/Shanghai dates, both inclusive),
    overall, by service body and by service type.

    ``agency`` keeps the requests that name it anywhere (the first office, the body, a superior it
    was escalated to) or that it published to. Returns ``{"period", "agency", "cases", "kpis",
    "by_body", "by_service"}``; ``kpis`` keyed and ordered as `SERVICES_KPIS`.
    """
    cohort = [
        c
        for c in cases
        if c.get("workflow") == "services"
        and _opened_in(c, start, end)
        and (agency is None or agency in _agencies(c))
    ]
    bodies: dict[str, list[Case]] = {}
    names: dict[str, str | None] = {}
    services: dict[str, list[Case]] = {}
    for c in cohort:
        services.setdefault(service_of(c) or "(unknown)", []).append(c)
        h = service_handoff(c)
        if h is not None:
            body = h["obliged"]
            bodies.setdefault(body["agency_id"], []).append(c)
            names[body["agency_id"]] = body.get("name")
    return {
        "period": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "agency": agency,
        "cases": len(cohort),
        "kpis": _kpis(cohort),
        "by_body": {
            b: {"name": names[b], "cases": len(cs), "kpis": _kpis(cs)} for b, cs in sorted(bodies.items())
        },
        "by_service": {
            s: {"cases": len(cs), "kpis": _kpis(cs)} for s, cs in sorted(services.items(), key=_in_order)
        },
    }


def _in_order(item: tuple[str, Any]) -> int:
    """Service types in the catalogue's order (公证, 法援, 仲裁, 复议, 执法, 立法)."""
    return list(SERVICE_ZH).index(item[0]) if item[0] in SERVICE_ZH else len(SERVICE_ZH)


def closed(case: Case) -> bool:
    return fact(case, "ServiceRequestClosed") is not None


def overdue(case: Case) -> bool:
    """The body let a deadline pass: found overdue (the receipt or the disposition), or answered late."""
    h = service_handoff(case)
    return h is not None and bool(h.get("overdue_at") or h.get("receipt_overdue_at") or h.get("late"))


def _kpis(cases: list[Case]) -> dict[str, KPI]:
    done = [c for c in cases if closed(c)]
    days = [fact(c, "ServiceRequestClosed.days_to_close") for c in done]
    forwarded = [c for c in cases if service_handoff(c) is not None]
    late = _rate(forwarded, overdue)
    kpis: dict[str, KPI] = {
        "closure": _rate(cases, closed),
        "median_days": {
            "value": round(float(statistics.median(days)), 2) if days else None,
            "denominator": len(days),
            "exceptions": [],
        },
        # Here the exceptions are the requests that were overdue (the numerator), as for a count.
        "overdue": {**late, "exceptions": [c["case_id"] for c in forwarded if overdue(c)]},
    }
    for key, k in kpis.items():
        k["target"] = _TARGETS[key]
    return kpis


# -- showing --------------------------------------------------------------------------------------------
def _cell(key: str, k: KPI) -> str:
    if key == "median_days":
        return "—" if k["value"] is None else f"{k['value']:.1f}"
    return f"{_percent(k['rate'])} ({k['numerator']}/{k['denominator']})"


def render_services(kpis: dict[str, Any], console: Console) -> None:
    """Print `services_kpis`'s result: the KPIs, then by service body and by service type."""
    period = kpis.get("period") or {}
    first, last = period.get("start"), period.get("end")
    dates = f"{first or '…'} – {last or '…'}" if first or last else "全部日期 all dates"
    scope = [dates, f"{kpis.get('cases', 0)} 申请 requests"]
    if kpis.get("agency"):
        scope.append(f"机构 agency {kpis['agency']}")
    t = Table(
        "KPI",
        "分子 numerator",
        "分母 denominator",
        "比率/数值 rate/value",
        "目标 target",
        title="一所六站点指标 six-service KPIs",
        caption=" · ".join(scope),
    )
    for key, zh, en, target in SERVICES_KPIS:
        k = kpis["kpis"][key]
        if key == "median_days":
            t.add_row(f"{zh} {en}", "—", str(k["denominator"]), _cell(key, k), "—")
            continue
        t.add_row(
            f"{zh} {en}",
            str(k["numerator"]),
            str(k["denominator"]),
            _percent(k["rate"]),
            "—" if target is None else str(target),
        )
    console.print(t)
    _breakdown(
        console,
        "按办理机构 by service body",
        [(f"{v['name'] or b} ({b})", v) for b, v in kpis["by_body"].items()],
    )
    _breakdown(
        console,
        "按服务类别 by service",
        [(f"{SERVICE_ZH.get(s, s)} {s}", v) for s, v in kpis["by_service"].items()],
    )


def _breakdown(console: Console, title: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    if not rows:
        return
    t = Table("", "申请 requests", *(_SHORT[key] for key, *_ in SERVICES_KPIS), title=title)
    for label, v in rows:
        t.add_row(label, str(v["cases"]), *(_cell(key, v["kpis"][key]) for key, *_ in SERVICES_KPIS))
    console.print(t)
