"""Community corrections KPIs over case states built by the real engine, checked against hand counts.

Two sets of cases:

* the demo scenario's five corrections cases (`fengqiao.scenario.CORRECTIONS_VARIANTS`), played as
  the demo plays them: the hub's clock held at the first event while agencies publish, then moved on
  47 days so the timer decides what passed (twice: a decision's own deadline may also have passed).
  By hand (days from the case's start; an order takes effect the day it is sent):

  ====  ==========================================================  ======  =========  =============
  case  what happens                                                order   reported   investigation
  ====  ==========================================================  ======  =========  =============
  0001  investigation reported day 6; ordered day 14, reports 23    yes     day 9: ok  on time
  0002  ordered, never reports: absconded, grounds after a month    yes     never      —
  0003  ordered, reports day 3, place changed to 白云县 day 40        yes     day 3: ok  —
  0004  ordered, reports day 2, revocation ruled late, custody      yes     day 2: ok  —
  0005  fast-track investigation never reported                     no      —          overdue
  ====  ==========================================================  ======  =========  =============

  reported on time 3/4 (0002 not); absconders 1/4 (0002); investigations on time 1/2 (0005 not).
  Every case began with 青山县社区矫正管理局 (0003 counts where it began).

* six cases of two agencies (`cases` fixture), decided on 11 October 2026 (day 40 from T0, Tuesday 1
  September 2026):

  ==  =======================================================================  =================
  id  what happens                                                              agency first given
  ==  =======================================================================  =================
  A   ordered day 0, reports day 9                                              qs-jb-corrections
  B   ordered day 0, never reports: absconded                                   qs-jb-corrections
  C   investigation day 0 reported day 20 (due 15 Sep: late); ordered day 22,   qs-jb-corrections
      reports day 35 (due 3 Oct: late)
  D   lives in 白云县: ordered day 2, reports day 5                             by-jb-corrections
  E   fast-track investigation Fri day 3, reported Sun day 5 (due 11 Sep)       qs-jb-corrections
  F   ordered day 35: the 10 days still running on day 40                       qs-jb-corrections
  ==  =======================================================================  =================

  reported on time 2/4 (B, C not; F not yet counted); absconders 1/5 (B); investigations on time 1/2
  (C not). qs-jb-corrections: 1/3, 1/4, 1/2; by-jb-corrections: 1/1, 0/1, none.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from helpers import EngineDriver, demo_cases, rate
from rich.console import Console

from fengqiao.reporting.kpi.corrections import CORRECTIONS_KPIS, corrections_kpis, render_corrections
from fengqiao.streams.engine import Case, Context
from fengqiao.streams.workflows import load_context

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday, 10:00 in Beijing
QINGSHAN = {"code": "339901001001", "name": None}
BAIYUN = {"code": "339902001001", "name": None}


@pytest.fixture(scope="module")
def ctx() -> Context:
    return load_context()


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


class Driver(EngineDriver):
    """One person's correction driven like the worker does: agency events through `handle`, the timer's
    decisions folded."""

    workflow = "corrections"

    def order(self, at: datetime, place: dict[str, Any] = QINGSHAN) -> None:
        effective = (at + timedelta(hours=8)).date()
        self.event(
            "CommunityCorrectionOrdered",
            at,
            "qs-court",
            decision_organ=self.ref("qs-court"),
            kind="probation",
            execution_place=place,
            corrections_agency=None,
            effective_on=effective,
            term_start=effective,
            term_end=date(2028, 9, 1),
            documents_sent_at=None,
        )

    def report(self, at: datetime, agency: str = "qs-jb-corrections") -> None:
        self.event("CorrectionReported", at, agency, agency=self.ref(agency), reported_at=at)

    def investigate(self, asked: datetime, reported: datetime, fast_track: bool = False) -> None:
        court = self.ref("qs-court")
        self.event(
            "InvestigationRequested",
            asked,
            "qs-court",
            court=court,
            residence=QINGSHAN,
            fast_track=fast_track,
            requested_at=asked,
        )
        agency = self.ref("qs-jb-corrections")
        self.event(
            "InvestigationReported",
            reported,
            "qs-jb-corrections",
            handoff_id=None,
            agency=agency,
            suitable=True,
        )


@pytest.fixture(scope="module")
def cases(ctx: Context) -> dict[str, Case]:
    a = Driver(ctx, "A")
    a.order(day(0))
    a.report(day(9))

    b = Driver(ctx, "B")
    b.order(day(0))

    c = Driver(ctx, "C")
    c.investigate(day(0), day(20))  # 10 working days from Tue 1 Sep: Tue 15 Sep
    c.order(day(22))
    c.report(day(35))  # due 24:00 on 3 October

    d = Driver(ctx, "D")
    d.order(day(2), place=BAIYUN)
    d.report(day(5), agency="by-jb-corrections")

    e = Driver(ctx, "E")
    e.investigate(day(3), day(5), fast_track=True)

    f = Driver(ctx, "F")
    f.order(day(35))
    for x in (a, b, c, d, e, f):
        x.tick(day(40))
    return {x.case_id: x.case for x in (a, b, c, d, e, f) if x.case is not None}


def test_kpis_match_the_hand_counts(cases: dict[str, Case]) -> None:
    k = corrections_kpis(cases.values())
    assert k["cases"] == 6 and list(k["kpis"]) == [key for key, *_ in CORRECTIONS_KPIS]
    kpis = k["kpis"]
    assert rate(kpis["reported_on_time"]) == (2, 4) and kpis["reported_on_time"]["exceptions"] == ["B", "C"]
    assert rate(kpis["absconders"]) == (1, 5) and kpis["absconders"]["exceptions"] == ["B"]
    assert kpis["absconders"]["target"] == 0
    assert rate(kpis["investigations_on_time"]) == (1, 2)
    assert kpis["investigations_on_time"]["exceptions"] == ["C"]


def test_kpis_by_the_agency_first_given_the_case(cases: dict[str, Case]) -> None:
    k = corrections_kpis(cases.values())
    qs, by = k["by_agency"]["qs-jb-corrections"], k["by_agency"]["by-jb-corrections"]
    assert (qs["name"], qs["cases"], by["name"], by["cases"]) == (
        "青山县社区矫正管理局",
        5,
        "白云县社区矫正管理局",
        1,
    )
    assert rate(qs["kpis"]["reported_on_time"]) == (1, 3) and rate(by["kpis"]["reported_on_time"]) == (1, 1)
    assert rate(qs["kpis"]["absconders"]) == (1, 4) and rate(by["kpis"]["absconders"]) == (0, 1)
    assert rate(qs["kpis"]["investigations_on_time"]) == (1, 2)
    assert by["kpis"]["investigations_on_time"]["rate"] is None


def test_period_and_agency_filters(cases: dict[str, Case]) -> None:
    first_day = corrections_kpis(cases.values(), start=date(2026, 9, 1), end=date(2026, 9, 1))
    assert first_day["cases"] == 3  # A, B, C; D, E and F opened later
    assert rate(first_day["kpis"]["reported_on_time"]) == (1, 3)
    assert corrections_kpis(cases.values(), agency="by-jb-corrections")["cases"] == 1
    police = corrections_kpis(cases.values(), agency="qs-ps-1")  # asked to help search for B
    assert police["cases"] == 1 and police["kpis"]["absconders"]["exceptions"] == ["B"]


def test_the_demo_scenarios_corrections_kpis_match_the_hand_counts(ctx: Context) -> None:
    # Then the clock jumps to now; the worker's timer passes again and again.
    cases = demo_cases(ctx, datetime(2026, 11, 20, 2, 0, tzinfo=UTC), prefix="JZ-", passes=2)
    k = corrections_kpis(cases.values())
    kpis = k["kpis"]
    assert k["cases"] == 5
    assert rate(kpis["reported_on_time"]) == (3, 4)
    assert kpis["reported_on_time"]["exceptions"] == ["JZ-2026-0002"]
    assert rate(kpis["absconders"]) == (1, 4) and kpis["absconders"]["exceptions"] == ["JZ-2026-0002"]
    assert rate(kpis["investigations_on_time"]) == (1, 2)
    assert kpis["investigations_on_time"]["exceptions"] == ["JZ-2026-0005"]
    assert list(k["by_agency"]) == ["qs-jb-corrections"]
    # What the demo shows besides: revocation grounds, a handoff to 白云县, a ruling made late.
    assert "RevocationGroundsArisen" in cases["JZ-2026-0002"]["facts"]
    moved = cases["JZ-2026-0003"]["handoffs"]["JZ-2026-0003/transfer/1"]
    assert (moved["obliged"]["agency_id"], moved["state"]) == ("by-jb-corrections", "assigned")
    ruling = cases["JZ-2026-0004"]["handoffs"]["JZ-2026-0004/revocation_ruling/1"]
    assert ruling["late"] is True and cases["JZ-2026-0004"]["status"] == "closed"


def test_render_shows_every_kpi_and_the_breakdown(cases: dict[str, Case]) -> None:
    console = Console(record=True, width=220)
    render_corrections(corrections_kpis(cases.values()), console)
    text = console.export_text()
    for _, zh, en, _ in CORRECTIONS_KPIS:
        assert zh in text and en in text
    for label in ("50.0%", "20.0%", "按社区矫正机构 by agency", "白云县社区矫正管理局 (by-jb-corrections)"):
        assert label in text, label
    json.dumps(corrections_kpis(cases.values()))  # the --json output is plain JSON
