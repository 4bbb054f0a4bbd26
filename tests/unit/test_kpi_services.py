"""一所六站点 KPIs over case states built by the real engine, checked against hand counts.

Two sets of requests, all taken in at 青山镇司法所 (qs-jo-1) for an applicant of 东溪村:

* five requests (`cases` fixture), for the split by body, the holiday and a late receipt. By hand
  (days to close: calendar days from the receipt at the office to the body's answer):

  ==  =================  =========================================================  =====  =======
  id  service (body)     what happens                                               days   overdue
  ==  =================  =========================================================  =====  =======
  A   notary             in Mon 28 Sep, accepted 29 Sep, certificate Fri 23 Oct:    25     no
      (qs-notary)        15 working days across National Day end Mon 26 Oct
  B   notary             in Tue 1 Sep, accepted 2 Sep, due Tue 22 Sep (Sun 20 Sep   23     yes
      (qs-notary)        worked), certificate Thu 24 Sep: late
  C   arbitration        in Tue 1 Sep, not accepted by Sun 6 Sep: overdue,          49     yes
      (qs-arb)           escalated to qs-jb; accepted 8 Sep, award Tue 20 Oct
  D   reconsideration    in Tue 1 Sep, not accepted (不予受理) Thu 3 Sep              2      no
      (qs-recon)
  E   legislative        in Tue 1 Sep, acknowledged 2 Sep, the consultation         open   no
      (qs-legis)         closes 30 Oct: still open on 20 October
  ==  =================  =========================================================  =====  =======

  closure 4/5 (E open); median of 2, 23, 25, 49 = (23 + 25) / 2 = 24.0 days; overdue 2/5 (B, C).
  qs-notary: closure 2/2, median 24.0, overdue 1/2; qs-arb 1/1, 49.0, 1/1; qs-recon 1/1, 2.0, 0/1;
  qs-legis 0/1, none, 0/1.

* the demo scenario's four requests (`fengqiao.scenario.SERVICES_VARIANTS`), played as the demo plays
  them: the hub's clock held at the first event while agencies publish, then moved on 47 days:

  ====  ====================  ====================================================  =====  =======
  case  service (body)        what happens                                          days   overdue
  ====  ====================  ====================================================  =====  =======
  0001  notary (qs-notary)    accepted day 1, certificate day 9                     9      no
  0002  arbitration (qs-arb)  never accepted: overdue, escalated                    open   yes
  0003  reconsideration       not accepted day 3                                    3      no
        (qs-recon)
  0004  enforcement feedback  accepted day 1, answered day 40 (30 days from the     40     yes
        (qs-enforce)          acceptance): late
  ====  ====================  ====================================================  =====  =======

  closure 3/4 (0002 open); median of 3, 9, 40 = 9.0 days; overdue 2/4 (0002, 0004).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from helpers import EngineDriver, demo_cases, rate
from rich.console import Console

from fengqiao.reporting.kpi.services import SERVICES_KPIS, overdue, render_services, services_kpis
from fengqiao.streams.directory import to_ref
from fengqiao.streams.engine import Case, Context
from fengqiao.streams.workflows import load_context

VILLAGE = {"code": "339901001001", "name": "东溪村"}
BODIES = {
    "notary": "qs-notary",
    "arbitration": "qs-arb",
    "reconsideration": "qs-recon",
    "legislative_opinion": "qs-legis",
}


@pytest.fixture(scope="module")
def ctx() -> Context:
    return load_context()


def at(month: int, day: int) -> datetime:
    """10:00 in Beijing on a day of 2026."""
    return datetime(2026, month, day, 2, 0, tzinfo=UTC)


class Driver(EngineDriver):
    """One request driven like the worker does: agency events through `handle`, timer decisions folded."""

    workflow = "services"

    def __init__(self, ctx: Context, case_id: str, service: str) -> None:
        super().__init__(ctx, case_id)
        self.service, self.body = service, BODIES[service]

    def receive(self, t: datetime) -> None:
        office = to_ref(self.ctx.directory.get("qs-jo-1"))
        self.event(
            "ServiceRequestReceived",
            t,
            "qs-jo-1",
            office=office,
            service=self.service,
            residence=VILLAGE,
            received_at=t,
        )

    def accept(self, t: datetime, decision_due: date | None = None) -> None:
        body = to_ref(self.ctx.directory.get(self.body))
        self.event(
            "ServiceRequestAccepted",
            t,
            self.body,
            handoff_id=None,
            body=body,
            decision_due=decision_due,
            accepted_at=t,
        )

    def complete(self, t: datetime) -> None:
        self.event(
            "ServiceRequestCompleted",
            t,
            self.body,
            body=to_ref(self.ctx.directory.get(self.body)),
            completed_at=t,
        )

    def reject(self, t: datetime) -> None:
        body = to_ref(self.ctx.directory.get(self.body))
        self.event("ServiceRequestRejected", t, self.body, body=body, stage="not_accepted", rejected_at=t)


@pytest.fixture(scope="module")
def cases(ctx: Context) -> dict[str, Case]:
    a = Driver(ctx, "A", "notary")
    a.receive(at(9, 28))
    a.accept(at(9, 29))
    a.complete(at(10, 23))

    b = Driver(ctx, "B", "notary")
    b.receive(at(9, 1))
    b.accept(at(9, 2))
    b.complete(at(9, 24))

    c = Driver(ctx, "C", "arbitration")
    c.receive(at(9, 1))
    c.tick(at(9, 7))  # the 5 days to accept ran out on Sun 6 Sep
    c.accept(at(9, 8))
    c.complete(at(10, 20))

    d = Driver(ctx, "D", "reconsideration")
    d.receive(at(9, 1))
    d.reject(at(9, 3))

    e = Driver(ctx, "E", "legislative_opinion")
    e.receive(at(9, 1))
    e.accept(at(9, 2), decision_due=date(2026, 10, 30))
    for x in (a, b, c, d, e):
        x.tick(at(10, 24))
    return {x.case_id: x.case for x in (a, b, c, d, e) if x.case is not None}


def test_the_five_requests_by_hand(cases: dict[str, Case]) -> None:
    closed = {
        cid: (c["facts"].get("ServiceRequestClosed") or {}).get("days_to_close") for cid, c in cases.items()
    }
    assert closed == {"A": 25, "B": 23, "C": 49, "D": 2, "E": None}
    assert {cid: overdue(c) for cid, c in cases.items()} == {
        "A": False,
        "B": True,
        "C": True,
        "D": False,
        "E": False,
    }
    escalated = cases["C"]["handoffs"]["C/arbitration/1"]["escalated_to"]
    assert [x["agency_id"] for x in escalated] == ["qs-jb"]


def test_kpis_match_the_hand_counts(cases: dict[str, Case]) -> None:
    k = services_kpis(cases.values())
    assert k["cases"] == 5 and list(k["kpis"]) == [key for key, *_ in SERVICES_KPIS]
    kpis = k["kpis"]
    assert rate(kpis["closure"]) == (4, 5) and kpis["closure"]["exceptions"] == ["E"]
    assert kpis["median_days"]["value"] == 24.0 and kpis["median_days"]["denominator"] == 4
    assert rate(kpis["overdue"]) == (2, 5) and kpis["overdue"]["exceptions"] == ["B", "C"]
    assert kpis["overdue"]["rate"] == 0.4


def test_overdue_share_and_the_rest_per_body(cases: dict[str, Case]) -> None:
    by_body = services_kpis(cases.values())["by_body"]
    assert list(by_body) == ["qs-arb", "qs-legis", "qs-notary", "qs-recon"]
    figures = {
        b: (
            v["cases"],
            rate(v["kpis"]["closure"]),
            v["kpis"]["median_days"]["value"],
            rate(v["kpis"]["overdue"]),
        )
        for b, v in by_body.items()
    }
    assert figures == {
        "qs-notary": (2, (2, 2), 24.0, (1, 2)),
        "qs-arb": (1, (1, 1), 49.0, (1, 1)),
        "qs-recon": (1, (1, 1), 2.0, (0, 1)),
        "qs-legis": (1, (0, 1), None, (0, 1)),
    }
    assert by_body["qs-notary"]["name"] == "青山县公证处"
    by_service = services_kpis(cases.values())["by_service"]
    assert list(by_service) == ["notary", "arbitration", "reconsideration", "legislative_opinion"]


def test_period_and_agency_filters(cases: dict[str, Case]) -> None:
    september_first = services_kpis(cases.values(), start=date(2026, 9, 1), end=date(2026, 9, 1))
    assert september_first["cases"] == 4  # A came in on 28 September
    assert rate(september_first["kpis"]["closure"]) == (3, 4)
    assert services_kpis(cases.values(), agency="qs-jb")["cases"] == 1  # C, escalated to the bureau
    assert services_kpis(cases.values(), agency="qs-jo-1")["cases"] == 5  # the first office of all


def test_the_demo_scenarios_services_kpis_match_the_hand_counts(ctx: Context) -> None:
    demo = demo_cases(ctx, datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    k = services_kpis(demo.values())
    kpis = k["kpis"]
    assert k["cases"] == 4
    assert rate(kpis["closure"]) == (3, 4) and kpis["closure"]["exceptions"] == ["FW-2026-0002"]
    assert kpis["median_days"]["value"] == 9.0 and kpis["median_days"]["denominator"] == 3
    assert rate(kpis["overdue"]) == (2, 4)
    assert kpis["overdue"]["exceptions"] == ["FW-2026-0002", "FW-2026-0004"]
    figures = {
        b: (rate(v["kpis"]["closure"]), v["kpis"]["median_days"]["value"], rate(v["kpis"]["overdue"]))
        for b, v in k["by_body"].items()
    }
    assert figures == {
        "qs-arb": ((0, 1), None, (1, 1)),
        "qs-enforce": ((1, 1), 40.0, (1, 1)),
        "qs-notary": ((1, 1), 9.0, (0, 1)),
        "qs-recon": ((1, 1), 3.0, (0, 1)),
    }
    # What the demo shows: the arbitration request escalated to the county bureau, the others closed.
    arb = demo["FW-2026-0002"]["handoffs"]["FW-2026-0002/arbitration/1"]
    assert arb["state"] == "escalated" and [x["agency_id"] for x in arb["escalated_to"]] == ["qs-jb"]
    outcomes = {cid: (c["facts"].get("ServiceRequestClosed") or {}).get("outcome") for cid, c in demo.items()}
    assert {cid: o for cid, o in outcomes.items() if cid.startswith("FW-")} == {
        "FW-2026-0001": "completed",
        "FW-2026-0002": None,
        "FW-2026-0003": "rejected",
        "FW-2026-0004": "completed",
    }


def test_render_shows_every_kpi_and_the_breakdowns(cases: dict[str, Case]) -> None:
    console = Console(record=True, width=220)
    render_services(services_kpis(cases.values()), console)
    text = console.export_text()
    for _, zh, en, _ in SERVICES_KPIS:
        assert zh in text and en in text
    for label in (
        "80.0%",
        "24.0",
        "40.0%",
        "按办理机构 by service body",
        "青山县公证处 (qs-notary)",
        "公证协办 notary",
    ):
        assert label in text, label
    json.dumps(services_kpis(cases.values()))  # the --json output is plain JSON
