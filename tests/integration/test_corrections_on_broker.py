"""The community corrections acceptance stories end to end: real broker, the worker's agent and timer,
a moved clock.

The worker reads the hub's time from a file (`FileClock`); a test writes an instant there and the
timer turns the deadlines that passed into events within a fraction of a second. The session hub
is shared, so every test uses fresh case ids. The person lives in 东溪村 of 青山县: corrections
agency qs-jb-corrections, police station qs-ps-1, county police qs-psb, procuratorate qs-proc, court
qs-court; the other county, 白云县, has by-jb-corrections and by-psb. The variations are in
`tests/scenarios/test_corrections.py` (the same engine, without the broker).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from helpers import HubBroker, handoff, header, run_cli

from fengqiao.connectors.addressing import addressed
from fengqiao.hub import Hub
from fengqiao.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 1 September 2026, 10:00 in Beijing
DAY = timedelta(days=1)
VILLAGE = {"code": "339901001001", "name": "东溪村"}
BAIYUN = {"code": "339902001001", "name": "白云村"}
COURT = {"agency_id": "qs-court", "agency_type": "court", "name": None}
AGENCY = {"agency_id": "qs-jb-corrections", "agency_type": "judicial_bureau", "name": None}
NEW_AGENCY = {"agency_id": "by-jb-corrections", "agency_type": "judicial_bureau", "name": None}


class Broker(HubBroker):
    """The corrections topic's decisions; the agencies' events of the stories."""

    workflow = "corrections"

    def told(self, case_id: str, etype: str) -> set[str]:
        """The agencies the hub's (single) ``etype`` decision on the case is delivered to."""
        return set(self.addressed_to(case_id, etype))

    # -- the agencies' events -----------------------------------------------------------------------
    def order(self, case_id: str, t: datetime) -> None:
        effective = (t + timedelta(hours=8)).date()
        self.publish(
            case_id,
            "CommunityCorrectionOrdered",
            t,
            "qs-court",
            decision_organ=COURT,
            kind="probation",
            execution_place=VILLAGE,
            corrections_agency=None,
            effective_on=effective,
            term_start=effective,
            term_end=date(2028, 9, 1),
        )

    def receipt(self, case_id: str, t: datetime, by: dict[str, Any] = AGENCY) -> None:
        self.publish(
            case_id,
            "CorrectionDocumentsReceived",
            t,
            by["agency_id"],
            handoff_id=None,
            agency=by,
            complete=True,
            missing=[],
        )

    def reported(self, case_id: str, t: datetime, by: dict[str, Any] = AGENCY) -> None:
        self.publish(case_id, "CorrectionReported", t, by["agency_id"], agency=by)


@pytest.fixture
def broker(hub: Hub, hub_settings: Settings) -> Broker:
    b = Broker(hub, hub_settings)
    b.clock.set(T0)
    return b


def new_case(what: str) -> str:
    return f"JZ-{what}-{uuid.uuid4().hex[:8]}"


def test_one_probationer_reports_on_day_9_the_other_absconds_on_day_11_and_gives_grounds_after_a_month(
    broker: Broker,
) -> None:
    """按时报到 and 脱管: the same order for two people; one reports on day 9, the other never does."""
    reports, absconds = new_case("reports"), new_case("absconds")
    for c in (reports, absconds):
        broker.order(c, T0)
        broker.receipt(c, T0 + DAY)
    case = broker.wait(absconds, lambda x: handoff(x, "receipt").get("state") == "fulfilled")
    assert handoff(case, "report")["deadline"]["due"] == "2026-09-11T16:00:00.000Z"  # 10 days
    # The hand-over went to the agency, copied to the court, the procuratorate and the police.
    assert {"qs-jb-corrections", "qs-court", "qs-proc", "qs-psb"} <= broker.told(
        absconds, "CorrectionHandoffAssigned"
    )
    broker.reported(reports, T0 + 9 * DAY)
    broker.wait(reports, lambda x: handoff(x, "report")["state"] == "fulfilled")

    broker.clock.set(T0 + 11 * DAY)  # day 11: the 10 days ran out at 24:00 on 11 September
    case = broker.wait(absconds, lambda x: handoff(x, "search_assist").get("state") == "assigned")
    [alert] = case["alerts"]
    assert alert["type"] == "CorrectionAbsconded" and alert["detected_at"] == "2026-09-12T02:00:00.000Z"
    assert handoff(case, "search_assist")["obliged"]["agency_id"] == "qs-ps-1"  # search request to the police
    assert handoff(case, "search")["deadline"]["due"] == "2026-10-12T16:00:00.000Z"  # more than a month
    assert {"qs-ps-1", "qs-court", "qs-proc"} <= broker.told(absconds, "CorrectionAbsconded")
    on_time = broker.case(reports)
    assert on_time is not None and on_time["alerts"] == [] and on_time["status"] == "open"
    assert handoff(on_time, "report")["late"] is False

    broker.clock.set(datetime(2026, 10, 13, 2, 0, tzinfo=UTC))
    case = broker.wait(absconds, lambda x: handoff(x, "propose").get("state") == "assigned")
    grounds = case["facts"]["RevocationGroundsArisen"]
    assert (grounds["ground"], grounds["since"]) == ("unreported_over_month", "2026-09-11T16:00:00.000Z")
    assert handoff(case, "propose")["obliged"]["agency_id"] == "qs-jb-corrections"
    assert not any(a["type"] == "CorrectionAbsconded" for a in broker.case(reports)["alerts"])

    # `fengqiao kpi corrections` counts one on time, one absconder.
    r = run_cli(
        broker.settings.data_dir, "kpi", "corrections", "--json", "--from", "2026-09-01", "--to", "2026-09-01"
    )
    assert r.returncode == 0, r.stderr
    kpis = json.loads(r.stdout)["kpis"]
    assert absconds in kpis["absconders"]["exceptions"] and reports not in kpis["absconders"]["exceptions"]
    assert absconds in kpis["reported_on_time"]["exceptions"]
    assert reports not in kpis["reported_on_time"]["exceptions"]


def test_a_change_of_execution_place_is_handed_to_the_agency_of_the_other_county(broker: Broker) -> None:
    """变更执行地: 青山县's agency approves a move to 白云县; 白云县's agency takes the person over."""
    c = new_case("moves")
    broker.order(c, T0)
    broker.receipt(c, T0 + DAY)
    broker.reported(c, T0 + 3 * DAY)
    moved = datetime(2026, 10, 9, 2, 0, tzinfo=UTC)
    broker.publish(
        c,
        "ExecutionPlaceChanged",
        moved,
        "qs-jb-corrections",
        agency=AGENCY,
        new_place=BAIYUN,
        new_agency=None,
        effective_on=date(2026, 10, 9),
    )
    case = broker.wait(c, lambda x: handoff(x, "transfer").get("state") == "assigned")
    assert handoff(case, "transfer")["obliged"]["agency_id"] == "by-jb-corrections"
    assert handoff(case, "terminate", 2)["obliged"]["agency_id"] == "by-jb-corrections"
    assert handoff(case, "terminate")["state"] == "cancelled"
    [(msg, handed)] = [
        (m, r) for m, r in broker.decisions(c, "CorrectionHandoffAssigned", want=2) if r["step"] == "transfer"
    ]
    assert handed["previous_agency"]["agency_id"] == "qs-jb-corrections"
    told = addressed("CorrectionHandoffAssigned", "hub", header(msg, "ce_source"), handed).agencies
    assert {"by-jb-corrections", "qs-jb-corrections", "qs-court", "by-psb"} <= set(told)

    broker.receipt(c, moved + DAY, by=NEW_AGENCY)
    broker.reported(c, moved + 3 * DAY, by=NEW_AGENCY)
    case = broker.wait(c, lambda x: handoff(x, "transfer")["state"] == "fulfilled")
    transfer = handoff(case, "transfer")
    assert transfer["acknowledged_at"] is not None and transfer["late"] is False
    assert case["status"] == "open" and case["alerts"] == []


def test_a_revocation_ruled_late_is_overdue_to_the_court(broker: Broker) -> None:
    """提请撤销: the court's 30 days run out; the court and the procuratorate are told; the late ruling."""
    c = new_case("revoked")
    broker.order(c, T0)
    broker.receipt(c, T0 + DAY)
    broker.reported(c, T0 + 2 * DAY)
    broker.publish(
        c,
        "RevocationProposed",
        datetime(2026, 9, 10, 2, 0, tzinfo=UTC),
        "qs-jb-corrections",
        agency=AGENCY,
        court=COURT,
        kind="probation",
        arrest_requested=False,
    )
    case = broker.wait(c, lambda x: handoff(x, "revocation_ruling").get("state") == "assigned")
    assert handoff(case, "revocation_ruling")["deadline"]["due"] == "2026-10-10T16:00:00.000Z"

    broker.clock.set(datetime(2026, 10, 11, 2, 0, tzinfo=UTC))
    case = broker.wait(c, lambda x: handoff(x, "revocation_ruling")["state"] == "escalated")
    ruling = handoff(case, "revocation_ruling")
    assert ruling["overdue_at"] and [a["agency_id"] for a in ruling["escalated_to"]] == [
        "qs-court",
        "qs-proc",
    ]
    assert case["status"] == "overdue"

    broker.publish(
        c,
        "RevocationDecided",
        datetime(2026, 10, 14, 2, 0, tzinfo=UTC),
        "qs-court",
        court=COURT,
        revoked=True,
        custody_required=True,
    )
    case = broker.wait(c, lambda x: handoff(x, "custody").get("state") == "assigned")
    assert handoff(case, "revocation_ruling")["state"] == "fulfilled"
    assert handoff(case, "revocation_ruling")["late"] is True
    assert handoff(case, "custody")["obliged"]["agency_id"] == "qs-psb"
