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

from fengqiao.schemas.labels import section
from fengqiao.streams.engine import Case, fact
from fengqiao.streams.workflows.services import service_handoff, service_of

from .engine import (
    Breakdown,
    Cases,
    KpiDefinition,
    KpiRows,
    Median,
    Params,
    Rate,
    compute,
    every,
    group,
    render,
    zh_and_key,
)

SERVICE_ZH = section("service_names")  # in the catalogue's order (公证, 法援, 仲裁, 复议, 执法, 立法)


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
    return compute(SERVICES, cases, start=start, end=end, agency=agency)


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


# -- the definition: which requests each KPI counts, over which -----------------------------------
def _forwarded(cases: Cases) -> Cases:
    return [c for c in cases if service_handoff(c) is not None]


def _overdue_ones(cases: Cases, params: Params) -> dict[str, Any]:
    """Here the exceptions are the requests that were overdue (the numerator), as for a count."""
    return {"exceptions": [c["case_id"] for c in _forwarded(cases) if overdue(c)]}


def _by_body(cases: Cases) -> list[tuple[str, Cases]]:
    """By the body forwarded to; a request the hub could not forward counts overall only."""
    return sorted(group(cases, lambda c: _body(c).get("agency_id")).items())


def _by_service(cases: Cases) -> list[tuple[str, Cases]]:
    return sorted(group(cases, lambda c: service_of(c) or "(unknown)").items(), key=_in_order)


SERVICES = KpiDefinition(
    workflow="services",
    figures=(
        Rate("closure", over=every, ok=closed),
        Median(
            "median_days",
            over=lambda cs: [c for c in cs if closed(c)],
            value=lambda c: fact(c, "ServiceRequestClosed.days_to_close"),
        ),
        Rate("overdue", over=_forwarded, ok=overdue, extra=_overdue_ones),
    ),
    breakdowns=(
        Breakdown("by_body", _by_body, name=lambda cs: _body(cs[-1]).get("name")),
        Breakdown("by_service", _by_service, row=zh_and_key(SERVICE_ZH)),
    ),
)
SERVICES_KPIS: KpiRows = SERVICES.rows


def render_services(kpis: dict[str, Any], console: Console) -> None:
    """Print `services_kpis`'s result: the KPIs, then by service body and by service type."""
    render(SERVICES, kpis, console)
