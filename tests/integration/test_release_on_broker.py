"""The release stories again, end to end: real broker, the worker's Faust agent and timer, a moved clock.

The worker reads the hub's time from a file (`FileClock`); a test writes an instant there and the
timer turns the deadlines that passed into events within a fraction of a second.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import HubBroker, release_event

from fengqiao.hub import Hub
from fengqiao.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
RELEASE = datetime(2026, 10, 13, 1, 0, tzinfo=UTC)
HOME = {"code": "339901001001", "name": "东溪村"}


class Broker(HubBroker):
    workflow = "release"


def states(case: dict[str, Any]) -> dict[str, str]:
    return {h["id"].split("/", 1)[1]: h["state"] for h in case["handoffs"].values()}


def alerts(case: dict[str, Any]) -> list[str]:
    return [a["type"] for a in case["alerts"]]


def notice(case_id: str, *, key: bool, issued: datetime = T0) -> tuple[Any, dict[str, Any]]:
    return release_event(
        "ReleaseNoticeIssued",
        case_id,
        issued,
        "zj-prison-2",
        key_person=key,
        residence=HOME,
        expected_release_date=RELEASE.date(),
    )


@pytest.fixture
def broker(hub: Hub, hub_settings: Settings) -> Broker:
    b = Broker(hub, hub_settings)
    b.clock.set(T0)
    return b


def test_on_time_key_person_and_a_missed_pick_up(broker: Broker, hub_settings: Settings) -> None:
    ok, missed = "BRK-ONTIME", "BRK-MISSED"
    broker.send(notice(ok, key=True), notice(missed, key=True))
    for c in (ok, missed):
        broker.send(
            release_event("ReleaseNoticeAcknowledged", c, T0 + timedelta(days=1), "qs-jo-1"),
            release_event("PickupPlanned", c, T0 + timedelta(days=20), "qs-jo-1"),
        )
    broker.clock.set(RELEASE)
    broker.send(
        release_event("PersonReleased", ok, RELEASE, "zj-prison-2", released_at=RELEASE),
        release_event("PersonReleased", missed, RELEASE, "zj-prison-2", released_at=RELEASE),
        release_event("PersonReceived", ok, RELEASE + timedelta(minutes=20), "qs-jo-1"),
        release_event("PersonDelivered", ok, RELEASE + timedelta(hours=4), "qs-jo-1"),
        release_event("PersonReported", ok, RELEASE + timedelta(days=2), "qs-jo-1"),
        release_event("HouseholdRegistered", ok, RELEASE + timedelta(days=5), "qs-ps-1"),
    )
    broker.wait(ok, lambda c: states(c).get("report/2") == "fulfilled")
    broker.clock.set(RELEASE + timedelta(days=1))  # the release day is over
    gone = broker.wait(
        missed, lambda c: "PickupMissed" in alerts(c) and states(c)["gate_pickup/1"] == "escalated"
    )
    [alert] = [a for a in gone["alerts"] if a["type"] == "PickupMissed"]
    assert {a["agency_id"] for a in alert["alerted"]} == {"qs-jb", "qs-ps-1"}
    assert states(gone)["gate_pickup/1"] == "escalated"
    # One timer pass looked at every case: the on-time one has nothing to report.
    fine = broker.case(ok)
    assert fine["alerts"] == [] and fine["status"] == "open"
    assert {k: v for k, v in states(fine).items() if k != "resettlement/1"} == {
        "acknowledge/1": "fulfilled",
        "pickup_plan/1": "fulfilled",
        "escort/1": "fulfilled",
        "gate_pickup/1": "fulfilled",
        "delivery/1": "fulfilled",
        "report/1": "fulfilled",
        "report/2": "fulfilled",
    }

    # `fengqiao case show` tells staff, per handoff, the deadline, the rule and source that set it,
    # and whether it was met.
    env = {**os.environ, "FENGQIAO_DATA_DIR": str(hub_settings.data_dir), "COLUMNS": "250"}
    r = subprocess.run(
        [sys.executable, "-m", "fengqiao.cli", "case", "show", ok],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    for text in ("release.pickup", "release.delivery", "2026-10-13 24:00", "local practice", "按时 met"):
        assert text in r.stdout, text


def test_late_notice_contact_lost_and_release_before_acknowledgement(broker: Broker) -> None:
    late, lost = "BRK-LATE", "BRK-LOST"
    broker.send(notice(late, key=False, issued=RELEASE - timedelta(days=10)), notice(lost, key=False))
    assert broker.wait(late, lambda c: bool(c["handoffs"])).get("flags") == {"notice_late": True}
    # Released before the office acknowledged; registered by the police, never reported.
    broker.clock.set(RELEASE)
    broker.send(
        release_event("PersonReleased", lost, RELEASE, "zj-prison-2", released_at=RELEASE),
        release_event("HouseholdRegistered", lost, RELEASE + timedelta(days=3), "qs-ps-1"),
    )
    # The acknowledgement's 3 working days passed in September: the timer escalates it.
    broker.wait(
        lost, lambda c: states(c).get("report/2") == "fulfilled" and states(c)["acknowledge/1"] == "escalated"
    )
    broker.send(release_event("ReleaseNoticeAcknowledged", lost, RELEASE + timedelta(days=4), "qs-jo-1"))
    case = broker.wait(lost, lambda c: states(c)["acknowledge/1"] == "fulfilled")
    assert case["handoffs"][f"{lost}/acknowledge/1"]["late"] is True
    broker.clock.set(RELEASE + timedelta(days=31))
    # The timer's findings are folded one by one as they come back: wait for the last of them.
    broker.wait(lost, lambda c: "ContactLost" in alerts(c) and states(c)["report/1"] == "escalated")


def test_residence_dispute_re_routes_and_duplicates_have_one_effect(broker: Broker) -> None:
    case_id = "BRK-MOVE"
    first = notice(case_id, key=False)
    dispute = release_event(
        "ResidenceDisputed",
        case_id,
        T0 + timedelta(hours=5),
        "qs-jo-1",
        suggested_residence={"code": "339901002001", "name": "白石村"},
        handoff_id=None,
    )
    broker.send(first, first, dispute, dispute)  # each sent twice
    case = broker.wait(
        case_id, lambda c: c["handoffs"][f"{case_id}/acknowledge/1"]["obliged"]["agency_id"] == "qs-jo-2"
    )
    agency_events = [e for e in case["events"] if e["source"] != "fengqiao-hub"]
    assert [e["type"] for e in agency_events] == ["ReleaseNoticeIssued", "ResidenceDisputed"]
    assert sum(e["type"] == "ReleaseHandoffReassigned" for e in case["events"]) == 1
