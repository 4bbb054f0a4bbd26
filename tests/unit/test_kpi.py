"""Release KPIs over case states built by the real engine (handle + tick), checked against hand counts.

Four release cases of the demo county, all released on 2026-10-20 at 10:00 Asia/Shanghai
(02:00 UTC), the timer run up to 2026-11-30:

* ``A`` key person, every step on time, resettlement plan made;
* ``B`` ordinary person, notice issued only 10 days before release (flagged late), else on time;
* ``C`` key person, nobody at the gate on release day (timer after midnight → PickupMissed),
  received the next morning (late), delivered within 24 hours, reported in time, plan made;
* ``D`` ordinary person of another township (qs-jo-2), opened 2026-09-01 00:30 Shanghai time
  (still 2026-08-31 in UTC); the office acknowledges only after the release, the person never
  reports (timer past 30 days → ContactLost), no plan.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from helpers import RELEASE
from helpers import ReleaseDriver as Driver
from rich.console import Console

from fengqiao.reporting.kpi.release import RELEASE_KPIS, involves, release_kpis, render_release
from fengqiao.streams.engine import Case, Context
from fengqiao.streams.workflows import load_context

HOME_1 = {"code": "339901001001", "name": None}  # 青山镇: qs-jo-1, police station qs-ps-1
HOME_2 = {"code": "339901002001", "name": None}  # 白石镇: qs-jo-2, police station qs-ps-1
HOME_3 = {"code": "339901003001", "name": None}  # 梅岭乡: qs-jo-3


def _day(n: int, hour: int = 2) -> datetime:
    """``n`` days after the release day, at ``hour`` UTC."""
    return RELEASE.replace(hour=hour) + timedelta(days=n)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return load_context()


@pytest.fixture(scope="module")
def cases(ctx: Context) -> dict[str, Case]:
    a = Driver(ctx, "A", "qs-jo-1")
    a.notice(datetime(2026, 9, 1, 2, tzinfo=UTC), HOME_1, key_person=True)
    a.acknowledge(datetime(2026, 9, 2, 2, tzinfo=UTC))
    a.plan(datetime(2026, 9, 11, 2, tzinfo=UTC))
    a.release()
    a.received(_day(0, hour=3))
    a.delivered(_day(0, hour=8))
    a.reported(_day(2))
    a.registered(_day(5))
    a.resettlement_plan(_day(7))

    b = Driver(ctx, "B", "qs-jo-1")
    b.notice(RELEASE - timedelta(days=10), HOME_1, key_person=False)
    b.acknowledge(RELEASE - timedelta(days=9))
    b.release()
    b.reported(_day(3))
    b.registered(_day(6))
    b.resettlement_plan(_day(8))

    c = Driver(ctx, "C", "qs-jo-1")
    c.notice(datetime(2026, 9, 1, 3, tzinfo=UTC), HOME_1, key_person=True)
    c.acknowledge(datetime(2026, 9, 2, 2, tzinfo=UTC))
    c.plan(datetime(2026, 9, 11, 2, tzinfo=UTC))
    c.release()
    assert "PickupMissed" in c.tick(_day(0, hour=16) + timedelta(minutes=1))  # 00:01 Shanghai, the next day
    c.received(_day(1, hour=1))  # the next morning: late
    c.delivered(_day(1, hour=1) + timedelta(minutes=30))  # 23.5 hours after release: on time
    c.reported(_day(5))
    c.registered(_day(6))
    c.resettlement_plan(_day(8))

    d = Driver(ctx, "D", "qs-jo-2")
    d.notice(datetime(2026, 8, 31, 16, 30, tzinfo=UTC), HOME_2, key_person=False)  # 2026-09-01 00:30 Shanghai
    assert "HandoffOverdue" in d.tick(
        datetime(2026, 9, 5, 2, tzinfo=UTC)
    )  # 3 working days: due 2026-09-04 24:00 Shanghai
    d.release()
    d.acknowledge(_day(1))  # after the release
    assert "ContactLost" in d.tick(_day(31))  # 30 days: due 2026-11-19 24:00 Shanghai

    out = {}
    for drv in (a, b, c, d):
        drv.tick(datetime(2026, 11, 30, 2, tzinfo=UTC))  # the timer has caught up with every case
        assert drv.case is not None
        out[drv.case_id] = drv.case
    return out


def _figures(result: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {key: (k["numerator"], k["denominator"]) for key, k in result["kpis"].items()}


def test_the_engine_built_the_cases_the_kpis_rely_on(cases: dict[str, Case]) -> None:
    assert cases["B"]["flags"] == {"notice_late": True}
    assert all("flags" not in cases[c] for c in "ACD")
    gate = {c: [h for h in cases[c]["handoffs"].values() if h["step"] == "gate_pickup"] for c in "AC"}
    assert [(h["state"], h["late"]) for h in gate["A"]] == [("fulfilled", False)]
    assert [(h["state"], h["late"]) for h in gate["C"]] == [("fulfilled", True)]
    assert [a["type"] for a in cases["C"]["alerts"]] == ["PickupMissed"]
    assert "ContactLost" in [a["type"] for a in cases["D"]["alerts"]]


def test_release_kpis_match_hand_counts(cases: dict[str, Case]) -> None:
    result = release_kpis(cases.values())
    assert result["cases"] == 4
    assert _figures(result) == {
        # B's notice came 10 days before release, not 30: 3 of 4 on time.
        "notice_on_time": (3, 4),
        # A, B, C acknowledged weeks before release; D only the day after: 3 of 4.
        "handover": (3, 4),
        # Key persons released: A and C; only A was met at the gate on the day: 1 of 2.
        "key_person_pickup": (1, 2),
        # A, B, C reported and were registered in time; D's limit ran out with nothing: 3 of 4.
        "report_within_limit": (3, 4),
        # D lost contact, out of 4 released.
        "contact_lost": (1, 4),
        # A, B, C have a resettlement plan, D has none: 3 of 4.
        "resettlement_coverage": (3, 4),
    }
    k = result["kpis"]
    assert k["notice_on_time"]["rate"] == 0.75 and k["notice_on_time"]["exceptions"] == ["B"]
    assert k["handover"]["exceptions"] == ["D"]
    assert k["key_person_pickup"]["rate"] == 0.5 and k["key_person_pickup"]["target"] == 1.0
    assert k["key_person_pickup"]["exceptions"] == ["C"]
    assert k["report_within_limit"]["exceptions"] == ["D"]
    assert k["contact_lost"]["exceptions"] == ["D"] and k["contact_lost"]["target"] == 0
    assert k["resettlement_coverage"]["exceptions"] == ["D"]
    json.dumps(result)  # the --json output as is


def test_a_person_still_within_the_report_limit_is_not_counted_yet(ctx: Context) -> None:
    e = Driver(ctx, "E", "qs-jo-1")
    e.notice(datetime(2026, 9, 1, 2, tzinfo=UTC), HOME_1, key_person=False)
    e.acknowledge(datetime(2026, 9, 2, 2, tzinfo=UTC))
    e.release()
    e.reported(_day(3))  # reported, but the police station has not registered the household yet
    assert e.tick(_day(20)) == []
    assert e.case is not None
    k = release_kpis([e.case])["kpis"]
    assert (k["report_within_limit"]["denominator"], k["report_within_limit"]["rate"]) == (0, None)
    assert (k["handover"]["numerator"], k["handover"]["denominator"]) == (1, 1)
    assert (k["key_person_pickup"]["denominator"], k["key_person_pickup"]["rate"]) == (0, None)
    assert (k["resettlement_coverage"]["numerator"], k["resettlement_coverage"]["denominator"]) == (0, 1)


def test_period_filter_uses_shanghai_dates(cases: dict[str, Case]) -> None:
    # A, C (2026-09-01 10:00, 11:00) and D (2026-09-01 00:30 Shanghai, 2026-08-31 UTC); B: 2026-10-10.
    first = release_kpis(cases.values(), start=date(2026, 9, 1), end=date(2026, 9, 1))
    assert first["cases"] == 3
    assert first["period"] == {"start": "2026-09-01", "end": "2026-09-01"}
    assert _figures(first)["notice_on_time"] == (3, 3)  # B, the late one, is out of the period
    assert _figures(first)["handover"] == (2, 3)  # A, C; not D
    assert release_kpis(cases.values(), end=date(2026, 8, 31))["cases"] == 0  # D is not an August case
    later = release_kpis(cases.values(), start=date(2026, 9, 2))
    assert later["cases"] == 1 and _figures(later)["notice_on_time"] == (0, 1)  # B only
    none = release_kpis(cases.values(), start=date(2027, 1, 1))
    assert none["cases"] == 0
    assert all(k["rate"] is None and k["denominator"] == 0 for k in none["kpis"].values())


def test_agency_filter(cases: dict[str, Case], ctx: Context) -> None:
    # qs-jo-2 is obliged only on D; qs-jo-1 on A, B, C; the police station qs-ps-1 registers everyone.
    assert release_kpis(cases.values(), agency="qs-jo-2")["cases"] == 1
    assert _figures(release_kpis(cases.values(), agency="qs-jo-2"))["contact_lost"] == (1, 1)
    office_1 = release_kpis(cases.values(), agency="qs-jo-1")
    assert office_1["cases"] == 3 and office_1["agency"] == "qs-jo-1"
    assert _figures(office_1)["key_person_pickup"] == (1, 2)
    assert _figures(office_1)["contact_lost"] == (0, 3)
    assert release_kpis(cases.values(), agency="qs-ps-1")["cases"] == 4
    assert release_kpis(cases.values(), agency="no-such-agency")["cases"] == 0
    # An office that disputed the residence keeps the case (its fact names it) after re-routing.
    f = Driver(ctx, "F", "qs-jo-1")
    f.notice(datetime(2026, 9, 1, 2, tzinfo=UTC), HOME_1, key_person=False)
    f.event(
        "ResidenceDisputed",
        datetime(2026, 9, 2, 2, tzinfo=UTC),
        office=f.ref("qs-jo-1"),
        suggested_residence=HOME_3,
    )
    assert f.case is not None
    assert {h["obliged"]["agency_id"] for h in f.case["handoffs"].values()} == {"qs-jo-3"}
    assert involves(f.case, "qs-jo-1") and involves(f.case, "qs-jo-3") and not involves(f.case, "qs-jo-2")
    assert release_kpis([*cases.values(), f.case], agency="qs-jo-1")["cases"] == 4


def test_render_release(cases: dict[str, Case]) -> None:
    console = Console(record=True, width=160)
    render_release(release_kpis(cases.values(), start=date(2026, 8, 1)), console)
    text = console.export_text()
    for _, zh, en, _ in RELEASE_KPIS:
        assert zh in text and en in text
    assert "75.0%" in text and "50.0%" in text and "100.0%" in text
    assert "2026-08-01" in text and "4 案件 cases" in text
