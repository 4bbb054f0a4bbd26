"""Legal aid KPIs over case states built by the real engine, checked against hand counts.

Two sets of cases:

* the demo scenario's seven legal aid cases (`fengqiao.scenario.LEGAL_AID_VARIANTS`), played as the
  demo plays them: the hub's clock held at the first event while agencies publish, then moved on 47
  days so the timer decides what passed. By hand (days after the case starts):

  ====  ========  ==============================================================  ======  ==========  ========
  case  route     what happens                                                    lawyer  decided     eligible
  ====  ========  ==============================================================  ======  ==========  ========
  0001  notified  court's notice day 0, lawyer day 4 (3-day clock: late)          4 days  —           —
  0002  applied   on the register (低保): exempt; granted day 2, lawyer day 3     1 day   day 2       granted
  0003  applied   not listed: check → low_income day 2; granted day 5, lawyer 7   2 days  day 5       granted
  0004  applied   detained, forwarded day 0.8; check → 低保; granted 4, lawyer 5  1 day   day 4-ish   granted
  0005  applied   check → none; refused day 6; objection upheld; granted 12, l.13  1 day   day 6       no
  0006  notified  procuratorate's notice, no lawyer: overdue, escalated           —       —           —
  0007  applied   on the register (特困): exempt; refused day 9 (late)            —       day 9 late  refused
  ====  ========  ==============================================================  ======  ==========  ========

  days to assignment: 4, 1, 2, 1, 1 → median 1.0, mean 1.8, late: 0001;
  decisions within 7 days: 4 of 5 settled (0007 late);
  grant rate for eligible applicants: 3 of 4 (0002, 0003, 0004 granted; 0007 refused; 0005 not
  eligible: civil affairs found no hardship); exempt: 2 (0002, 0007).
  By route: notified 2 cases (median 4.0 days), applied 5 (median 1.0).

* three cases of their own (`cases` fixture), for the period filter and the edges:

  ==  =====================  ===============================================  ============================
  id  opened                 what happens                                     counts
  ==  =====================  ===============================================  ============================
  A   notice, Tue 1 Sep      lawyer the next day                              1.0 day, on time
  B   application, Thu 3 Sep not listed; civil affairs: none; refused day 2   in time; not eligible
  C   application, Thu 3 Sep on the register; never decided (overdue 20 Sep)  late; eligible, undecided
  ==  =====================  ===============================================  ============================

  days 1.0 (1 case); decisions within 7 days 1/2 (C); grant rate for eligible applicants 0/0.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from helpers import EngineDriver, demo_cases, rate
from rich.console import Console

from fengqiao.reporting.kpi.legal_aid import LEGAL_AID_KPIS, legal_aid_kpis, render_legal_aid
from fengqiao.scenario import LEGAL_AID_VARIANTS
from fengqiao.streams.engine import Case, Context
from fengqiao.streams.workflows import load_context

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday, 10:00 in Beijing
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
VILLAGE = {"code": "339901001001", "name": None}


def fy(n: int) -> str:
    return f"FY-2026-{n:04d}"


@pytest.fixture(scope="module")
def ctx() -> Context:
    return load_context()


@pytest.fixture(scope="module")
def demo(ctx: Context) -> dict[str, Case]:
    """The demo's legal aid cases, as `fengqiao demo` leaves them."""
    return demo_cases(ctx, NOW, prefix="FY-")


class Driver(EngineDriver):
    """One case driven like the worker does: agency events through `handle`, timer decisions folded."""

    workflow = "legal_aid"

    def apply(self, at: datetime, id_number: str) -> None:
        applicant = {"person_id": "P-1", "name": "李秀英", "id_number": id_number, "phone": None}
        self.event(
            "LegalAidApplied",
            at,
            "qs-jo-1",
            received_by=self.ref("qs-jo-1"),
            applicant=applicant,
            residence=VILLAGE,
            detained=False,
            exempt_from_means_test=False,
            legal_aid_centre=None,
            received_at=at,
        )


@pytest.fixture(scope="module")
def cases(ctx: Context) -> dict[str, Case]:
    day = timedelta(days=1)
    a = Driver(ctx, "A")
    a.event(
        "LegalAidNotified",
        T0,
        "qs-court",
        notifier=a.ref("qs-court"),
        legal_aid_centre=None,
        custody_facility=None,
        place=VILLAGE,
        notified_at=T0,
    )
    centre = a.ref("qs-jb-legalaid")
    a.event("LawyerAssigned", T0 + day, "qs-jb-legalaid", centre=centre, notifier=None, assigned_at=T0 + day)

    b = Driver(ctx, "B")
    b.apply(T0 + 2 * day, "330102199311220082")
    b.event(
        "HardshipStatusReported",
        T0 + 3 * day,
        "qs-ca",
        civil_affairs=b.ref("qs-ca"),
        status="none",
        handoff_id=None,
        checked_at=T0 + 3 * day,
    )
    b.event("LegalAidDenied", T0 + 4 * day, "qs-jb-legalaid", centre=centre, decided_at=T0 + 4 * day)

    c = Driver(ctx, "C")
    c.apply(T0 + 2 * day, "330102198503120049")
    for x in (a, b, c):
        x.tick(datetime(2026, 9, 20, 2, tzinfo=UTC))
    return {x.case_id: x.case for x in (a, b, c) if x.case is not None}


def test_the_demo_scenarios_legal_aid_kpis_match_the_hand_counts(demo: dict[str, Case]) -> None:
    assert sorted(demo) == [fy(n) for n in range(1, len(LEGAL_AID_VARIANTS) + 1)] and len(demo) == 7
    k = legal_aid_kpis(demo.values())
    assert k["cases"] == 7 and list(k["kpis"]) == [key for key, *_ in LEGAL_AID_KPIS]
    days = k["kpis"]["days_to_assignment"]
    assert (days["value"], days["mean"], days["denominator"]) == (1.0, 1.8, 5)
    assert days["late"] == [fy(1)] == days["exceptions"]
    decided = k["kpis"]["decided_within_7_days"]
    assert rate(decided) == (4, 5) and decided["rate"] == 0.8 and decided["exceptions"] == [fy(7)]
    granted = k["kpis"]["grant_rate_eligible"]
    assert rate(granted) == (3, 4) and granted["rate"] == 0.75 and granted["exceptions"] == [fy(7)]
    assert granted["exempt"] == 2
    by_route = {r: (v["cases"], v["kpis"]["days_to_assignment"]["value"]) for r, v in k["by_route"].items()}
    assert by_route == {"notified": (2, 4.0), "applied": (5, 1.0)}
    assert rate(k["by_route"]["notified"]["kpis"]["decided_within_7_days"]) == (0, 0)


def test_what_the_demo_shows_on_its_legal_aid_cases(demo: dict[str, Case]) -> None:
    def handoff(n: int, step: str) -> dict[str, Any]:
        return demo[fy(n)]["handoffs"][f"{fy(n)}/{step}/1"]

    def state(n: int, step: str) -> str:
        return handoff(n, step)["state"]

    assert (state(1, "assign_notified"), state(6, "assign_notified")) == ("fulfilled", "escalated")
    assert [a["agency_id"] for a in handoff(6, "assign_notified")["escalated_to"]] == ["qs-jb"]
    assert demo[fy(2)]["status"] == "closed" and "HardshipCheckRequested" not in demo[fy(2)]["facts"]
    assert demo[fy(3)]["facts"]["HardshipCheckRequested"]["obliged"]["agency_id"] == "qs-ca"
    assert state(4, "forward") == "fulfilled" and handoff(4, "forward")["late"] is False
    assert state(5, "objection") == "fulfilled" and state(5, "assign_granted") == "fulfilled"
    assert demo[fy(7)]["facts"]["MeansTestExemptionDecided"]["register_status"] == "extreme_poverty"


def test_kpis_of_the_edge_cases(cases: dict[str, Case]) -> None:
    k = legal_aid_kpis(cases.values())
    assert k["cases"] == 3
    days = k["kpis"]["days_to_assignment"]
    assert (days["value"], days["denominator"], days["late"]) == (1.0, 1, [])
    assert rate(k["kpis"]["decided_within_7_days"]) == (1, 2)
    assert k["kpis"]["decided_within_7_days"]["exceptions"] == ["C"]
    granted = k["kpis"]["grant_rate_eligible"]
    assert rate(granted) == (0, 0) and granted["rate"] is None and granted["exempt"] == 1


def test_period_and_agency_filters(cases: dict[str, Case], demo: dict[str, Case]) -> None:
    first_day = legal_aid_kpis(cases.values(), start=date(2026, 9, 1), end=date(2026, 9, 1))
    assert first_day["cases"] == 1 and first_day["period"] == {"start": "2026-09-01", "end": "2026-09-01"}
    assert legal_aid_kpis(cases.values(), start=date(2026, 9, 2))["cases"] == 2
    assert legal_aid_kpis(demo.values(), agency="qs-proc")["cases"] == 1  # the procuratorate's notice
    civil = legal_aid_kpis(demo.values(), agency="qs-ca")  # asked to check: 0003, 0004, 0005
    assert civil["cases"] == 3 and civil["agency"] == "qs-ca"


def test_render_shows_every_kpi_and_the_routes(demo: dict[str, Case]) -> None:
    console = Console(record=True, width=220)
    render_legal_aid(legal_aid_kpis(demo.values()), console)
    text = console.export_text()
    for _, zh, en, _ in LEGAL_AID_KPIS:
        assert zh in text and en in text
    for label in ("80.0%", "75.0%", "1.0 (均值 mean 1.8)", "按来源 by route", "通知辩护 notified", fy(7)):
        assert label in text, label
    json.dumps(legal_aid_kpis(demo.values()))  # the --json output is plain JSON
