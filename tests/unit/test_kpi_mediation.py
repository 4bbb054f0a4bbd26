"""Mediation KPIs over case states built by the real engine, checked against hand counts.

Two sets of cases:

* the demo scenario's six mediation cases (`fengqiao.scenario.MEDIATION_VARIANTS`), played as the
  demo plays them: the hub's clock held at the first event while agencies publish, then moved on 47
  days so the timer decides what passed. By hand (days from the referral or registration):

  ====  =================  ======================================================  =========
  case  door               what happens                                            outcome
  ====  =================  ======================================================  =========
  0001  court_pre_filing   signed, extended, agreed (township) day 10, confirmed   agreed 10
  0002  police             joint session, station never accepts, month runs out    pending
  0003  own_intake         village fails day 5, township agrees day 9              agreed 9
  0004  court_post_filing  fails day 6: back to the court                          failed
  0005  petition           agreed in the township day 7                            agreed 7
  0006  police             agreed in the village day 3                             agreed 3
  ====  =================  ======================================================  =========

  success 4/5; village share 1/4 (0006); median of 3, 7, 9, 10 = 8.0 days; confirmed 1/4
  (0001); turned criminal 0/6.

* four cases of two offices (`cases` fixture), for the split by lead agency, a late judicial
  confirmation request and a dispute turned criminal:

  ==  =========  =======  ================================================================  ========
  id  door       office   what happens                                                      outcome
  ==  =========  =======  ================================================================  ========
  A   police     qs-jo-2  agreed in the village day 4; confirmation asked day 40 (late)    agreed 4
                          and granted
  B   own        qs-jo-1  fails in the village day 3 (township mediating); turned criminal  pending
  C   court pre  qs-jo-1  signed day 1, agreed day 20; confirmation asked day 25, granted   agreed 20
  D   petition   qs-jo-2  fails in the township, then at the county: nowhere left to go     failed
  ==  =========  =======  ================================================================  ========

  success 2/3; village share 1/2; median (4 + 20) / 2 = 12.0; confirmed 2/2 with A late;
  turned criminal 1/4 (B). qs-jo-1: B and C; qs-jo-2: A and D.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from helpers import EngineDriver, demo_cases, rate
from rich.console import Console

from fengqiao.reporting.kpi.mediation import MEDIATION_KPIS, mediation_kpis, outcome, render_mediation
from fengqiao.streams.engine import Case, Context
from fengqiao.streams.workflows import load_context

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday, 10:00 in Beijing
CALM = {"violence": False, "threats": False, "weapons": False, "party_count": 2, "repeated_calls": 0}
QINGSHAN = {"code": "339901001001", "name": None}  # qs-jo-1
BAISHI = {"code": "339901002001", "name": None}  # qs-jo-2


@pytest.fixture(scope="module")
def ctx() -> Context:
    return load_context()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Driver(EngineDriver):
    """One dispute driven like the worker does: agency events through `handle`, timer decisions folded."""

    workflow = "mediation"

    def refer(self, at: datetime, source: str, door: str, place: dict[str, Any]) -> None:
        self.event(
            "DisputeReferred",
            at,
            source,
            referrer=self.ref(source),
            door=door,
            dispute_place=place,
            amount_fen=300_000,
            risk=CALM,
            simplified_procedure=False,
        )

    def register(self, at: datetime, office: str, place: dict[str, Any]) -> None:
        self.event(
            "DisputeRegistered",
            at,
            office,
            office=self.ref(office),
            committee=place,
            dispute_place=place,
            amount_fen=300_000,
            risk=CALM,
        )

    def agree(self, at: datetime, by: str, level: str) -> None:
        self.event(
            "MediationAgreementReached",
            at,
            by,
            mediated_by=self.ref(by),
            level=level,
            effective_on=at.date(),
            reached_at=at,
        )

    def fail(self, at: datetime, by: str, level: str) -> None:
        self.event("MediationFailed", at, by, mediated_by=self.ref(by), level=level, reason="no_agreement")

    def confirm(self, asked: datetime, granted: datetime) -> None:
        court = self.ref("qs-tribunal-1")
        self.event("JudicialConfirmationRequested", asked, "qs-tribunal-1", court=court, applied_at=asked)
        self.event("JudicialConfirmationGranted", granted, "qs-tribunal-1", court=court, decided_at=granted)


@pytest.fixture(scope="module")
def cases(ctx: Context) -> dict[str, Case]:
    a = Driver(ctx, "A")
    a.refer(day(0), "qs-ps-1", "police", BAISHI)
    a.agree(day(4), "qs-jo-2", "village")
    a.confirm(asked=day(40), granted=day(45))  # the window closed on day 34 (30 days from day 4)

    b = Driver(ctx, "B")
    b.register(day(0), "qs-jo-1", QINGSHAN)
    b.fail(day(3), "qs-jo-1", "village")  # → the township, still mediating
    b.event(
        "DisputeTurnedCriminal",
        day(6),
        "qs-ps-1",
        reported_by=b.ref("qs-ps-1"),
        criminal_case_number="青公刑〔2026〕88号",
        occurred_at=day(6),
    )

    c = Driver(ctx, "C")
    c.refer(day(0), "qs-court", "court_pre_filing", QINGSHAN)
    c.register(day(1), "qs-jo-1", QINGSHAN)  # the signing: 30 days from here
    c.agree(day(20), "qs-jo-1", "township")
    c.confirm(asked=day(25), granted=day(30))

    d = Driver(ctx, "D")
    d.refer(day(2), "qs-xf", "petition", BAISHI)  # opened Thursday 3 September
    d.fail(day(5), "qs-jo-2", "township")  # → the county bureau
    d.fail(day(9), "qs-jb", "county")  # the last level: mediation has failed
    for x in (a, b, c, d):
        x.tick(day(20))
    return {x.case_id: x.case for x in (a, b, c, d) if x.case is not None}


def test_the_four_outcomes_by_hand(cases: dict[str, Case]) -> None:
    assert {cid: outcome(c) for cid, c in cases.items()} == {
        "A": "agreed",
        "B": "pending",
        "C": "agreed",
        "D": "failed",
    }


def test_kpis_match_the_hand_counts(cases: dict[str, Case]) -> None:
    k = mediation_kpis(cases.values())
    assert k["cases"] == 4 and list(k["kpis"]) == [key for key, *_ in MEDIATION_KPIS]
    kpis = k["kpis"]
    assert rate(kpis["success"]) == (2, 3) and kpis["success"]["exceptions"] == ["D"]
    assert rate(kpis["village_share"]) == (1, 2) and kpis["village_share"]["rate"] == 0.5
    assert kpis["median_days"]["value"] == 12.0 and kpis["median_days"]["denominator"] == 2
    assert rate(kpis["confirmation"]) == (2, 2)
    assert kpis["confirmation"]["requested"] == 2 and kpis["confirmation"]["late"] == ["A"]
    assert rate(kpis["turned_criminal"]) == (1, 4) and kpis["turned_criminal"]["exceptions"] == ["B"]
    assert kpis["turned_criminal"]["target"] == 0


def test_kpis_by_door_and_by_lead_agency(cases: dict[str, Case]) -> None:
    k = mediation_kpis(cases.values())
    assert {d: v["cases"] for d, v in k["by_door"].items()} == {
        "court_pre_filing": 1,
        "police": 1,
        "petition": 1,
        "own_intake": 1,
    }
    assert rate(k["by_door"]["petition"]["kpis"]["success"]) == (0, 1)
    assert k["by_door"]["court_pre_filing"]["kpis"]["median_days"]["value"] == 20.0
    jo1, jo2 = k["by_agency"]["qs-jo-1"], k["by_agency"]["qs-jo-2"]
    assert (jo1["name"], jo1["cases"], jo2["cases"]) == ("青山镇司法所", 2, 2)
    assert rate(jo1["kpis"]["success"]) == (1, 1) and rate(jo2["kpis"]["success"]) == (1, 2)
    assert rate(jo1["kpis"]["village_share"]) == (0, 1) and rate(jo2["kpis"]["village_share"]) == (1, 1)
    assert jo1["kpis"]["median_days"]["value"] == 20.0 and jo2["kpis"]["median_days"]["value"] == 4.0
    assert rate(jo1["kpis"]["turned_criminal"]) == (1, 2) and rate(jo2["kpis"]["turned_criminal"]) == (0, 2)


def test_period_and_agency_filters(cases: dict[str, Case]) -> None:
    first_two_days = mediation_kpis(cases.values(), start=date(2026, 9, 1), end=date(2026, 9, 2))
    assert first_two_days["cases"] == 3  # D opened on 3 September
    assert rate(first_two_days["kpis"]["success"]) == (2, 2)
    court = mediation_kpis(cases.values(), agency="qs-court")
    assert court["cases"] == 1 and court["agency"] == "qs-court"
    assert mediation_kpis(cases.values(), agency="qs-ps-1")["cases"] == 2  # A's referrer, B's criminal case


def test_the_demo_scenarios_mediation_kpis_match_the_hand_counts(ctx: Context) -> None:
    cases = demo_cases(ctx, datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    k = mediation_kpis(cases.values())
    kpis = k["kpis"]
    assert k["cases"] == 6
    assert rate(kpis["success"]) == (4, 5) and kpis["success"]["exceptions"] == ["TJ-2026-0004"]
    assert rate(kpis["village_share"]) == (1, 4)
    assert kpis["median_days"]["value"] == 8.0
    assert rate(kpis["confirmation"]) == (1, 4) and kpis["confirmation"]["late"] == []
    assert rate(kpis["turned_criminal"]) == (0, 6)
    by_door = {d: (v["cases"], rate(v["kpis"]["success"])) for d, v in k["by_door"].items()}
    assert by_door == {
        "court_pre_filing": (1, (1, 1)),
        "court_post_filing": (1, (0, 1)),
        "police": (2, (1, 1)),
        "petition": (1, (1, 1)),
        "own_intake": (1, (1, 1)),
    }
    assert k["by_door"]["police"]["kpis"]["median_days"]["value"] == 3.0
    assert list(k["by_agency"]) == ["qs-jo-1"]
    # What the demo shows: the joint session's missing acceptance escalated, the dispute escalated.
    joint = cases["TJ-2026-0002"]
    station = next(h for h in joint["handoffs"].values() if h["obliged"]["agency_id"] == "qs-ps-1")
    assert (station["step"], station["state"]) == ("joint_accept", "escalated")
    assert [e["type"] for e in cases["TJ-2026-0003"]["alerts"]] == ["EscalationRiskAlerted"]


def test_render_shows_every_kpi_and_the_breakdowns(cases: dict[str, Case]) -> None:
    console = Console(record=True, width=220)
    render_mediation(mediation_kpis(cases.values()), console)
    text = console.export_text()
    for _, zh, en, _ in MEDIATION_KPIS:
        assert zh in text and en in text
    for label in ("66.7%", "12.0", "按来源渠道 by door", "青山镇司法所 (qs-jo-1)", "访调对接 petition"):
        assert label in text, label
    json.dumps(mediation_kpis(cases.values()))  # the --json output is plain JSON
