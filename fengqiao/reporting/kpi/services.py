"""一所六站点 KPIs (workflows.md §5), computed from case state alone: no I/O, no clock.

Every figure comes from what the log put on the case (facts, handoffs), so the board, the KPIs and
a replay agree. A rate carries the counts behind it (`engine.py`):

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

from collections.abc import Iterable
from datetime import date
from typing import Any

from rich.console import Console

from fengqiao.streams.engine import Case, fact
from fengqiao.streams.workflows.services import service_handoff, service_of

from .engine import (
    KPI,
    KpiRows,
    breakdown,
    cohort,
    group,
    median,
    named,
    rate,
    render_breakdown,
    render_kpis,
    result,
    with_targets,
)

SERVICE_ZH = {
    "notary": "公证协办",
    "legal_aid": "法律援助代办",
    "arbitration": "仲裁联系",
    "reconsideration": "行政复议咨询",
    "enforcement_feedback": "行政执法意见收集",
    "legislative_opinion": "立法民意采集",
}
SERVICES_KPIS: KpiRows = (
    ("closure", "办结率", "closure rate", None),
    ("median_days", "办结天数中位数", "median days to close", None),
    ("overdue", "逾期率", "overdue share", None),
)
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
    members = cohort(cases, "services", start, end, agency)
    bodies = group(members, lambda c: _body(c).get("agency_id"))  # a request not forwarded: overall only
    services = group(members, lambda c: service_of(c) or "(unknown)")
    by_body = breakdown(sorted(bodies.items()), _kpis, lambda cs: _body(cs[-1]).get("name"))
    by_service = breakdown(sorted(services.items(), key=_in_order), _kpis)
    return result(members, start, end, agency, _kpis(members), by_body=by_body, by_service=by_service)


def _body(case: Case) -> dict[str, Any]:
    """The service body the request was forwarded to, as its handoff names it; {} if not forwarded."""
    h = service_handoff(case)
    return h["obliged"] if h is not None else {}


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
    forwarded = [c for c in cases if service_handoff(c) is not None]
    late = rate(forwarded, overdue)
    kpis: dict[str, KPI] = {
        "closure": rate(cases, closed),
        "median_days": median([fact(c, "ServiceRequestClosed.days_to_close") for c in done]),
        # Here the exceptions are the requests that were overdue (the numerator), as for a count.
        "overdue": {**late, "exceptions": [c["case_id"] for c in forwarded if overdue(c)]},
    }
    return with_targets(kpis, SERVICES_KPIS)


# -- showing --------------------------------------------------------------------------------------------
def render_services(kpis: dict[str, Any], console: Console) -> None:
    """Print `services_kpis`'s result: the KPIs, then by service body and by service type."""
    render_kpis(kpis, SERVICES_KPIS, console, title="一所六站点指标 six-service KPIs", noun="申请 requests")
    services = [(f"{SERVICE_ZH.get(s, s)} {s}", v) for s, v in kpis["by_service"].items()]
    for title, rows in (
        ("按办理机构 by service body", named(kpis["by_body"])),
        ("按服务类别 by service", services),
    ):
        render_breakdown(console, title, rows, SERVICES_KPIS, _SHORT, noun="申请 requests")
