"""一所六站点 end to end: real broker, the worker's agent and timer, a moved clock.

The two acceptance stories of issue 7: a notary request through 青山镇司法所 certified within 15
working days across 2026's National Day holiday and closed back to the office, and an arbitration
request left unaccepted, found overdue and escalated to the commission's superior (the county
bureau qs-jb: the commission has no parent in the directory). Every variation is told on the pure
engine in tests/scenarios/test_services.py; the KPIs' hand counts are in tests/unit/test_kpi_services.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from helpers import HubBroker, handoff, header, run_cli

from fengqiao.connectors.addressing import addressed
from fengqiao.hub import Hub
from fengqiao.settings import Settings

pytestmark = pytest.mark.integration

VILLAGE = {"code": "339901001001", "name": "东溪村"}
OFFICE = {"agency_id": "qs-jo-1", "agency_type": "judicial_office", "name": None}


def at(month: int, day: int) -> datetime:
    """10:00 in Beijing on a day of 2026."""
    return datetime(2026, month, day, 2, 0, tzinfo=UTC)


class Broker(HubBroker):
    """The services topic's decisions; the agencies' events of the stories."""

    workflow = "services"

    # -- the agencies' events -----------------------------------------------------------------------
    def receive(self, case_id: str, service: str, t: datetime) -> None:
        self.publish(
            case_id,
            "ServiceRequestReceived",
            t,
            "qs-jo-1",
            office=OFFICE,
            service=service,
            residence=VILLAGE,
            subject="申请办理亲属关系公证" if service == "notary" else "追索劳动报酬",
            received_at=t,
        )

    def body_event(self, case_id: str, etype: str, t: datetime, body: str, **fields: Any) -> None:
        ref = {"agency_id": body, "agency_type": "service_body", "name": None}
        self.publish(case_id, etype, t, body, body=ref, **fields)


@pytest.fixture
def broker(hub: Hub, hub_settings: Settings) -> Broker:
    return Broker(hub, hub_settings)


def new_case(service: str) -> str:
    return f"FW-{service}-{uuid.uuid4().hex[:8]}"


def test_a_notary_request_is_certified_within_15_working_days_across_national_day_and_closed(
    broker: Broker,
) -> None:
    c = new_case("notary")
    broker.clock.set(at(9, 28))  # Monday 28 September
    broker.receive(c, "notary", at(9, 28))
    case = broker.wait(c, lambda x: handoff(x, "notary").get("state") == "assigned")
    assert handoff(case, "notary")["obliged"]["agency_id"] == "qs-notary"
    assert handoff(case, "notary")["deadline"] is None  # no acceptance limit: received, not accepted

    broker.clock.set(at(9, 29))
    broker.body_event(
        c, "ServiceRequestAccepted", at(9, 29), "qs-notary", handoff_id=None, accepted_at=at(9, 29)
    )
    case = broker.wait(c, lambda x: handoff(x, "notary")["state"] == "acknowledged")
    # 15 working days from Tue 29 Sep: the holiday 1–7 Oct skipped, Sat 10 Oct worked → Mon 26 Oct.
    assert handoff(case, "notary")["deadline"]["due"] == "2026-10-26T16:00:00.000Z"

    broker.clock.set(at(10, 23))  # past a count of weekdays alone (Tue 20 Oct), within the law's
    broker.body_event(
        c,
        "ServiceRequestCompleted",
        at(10, 23),
        "qs-notary",
        document_number="(2026)浙青证字第88号",
        completed_at=at(10, 23),
    )
    case = broker.wait(c, lambda x: x["status"] == "closed")
    assert handoff(case, "notary")["state"] == "fulfilled" and handoff(case, "notary")["late"] is False
    assert not any(e["type"] in ("HandoffOverdue", "HandoffEscalated") for e in case["events"])
    closed = case["facts"]["ServiceRequestClosed"]
    assert (closed["obliged"]["agency_id"], closed["outcome"], closed["days_to_close"]) == (
        "qs-jo-1",
        "completed",
        25,
    )
    [(msg, record)] = broker.decisions(c, "ServiceRequestClosed")
    # The loop closes at the office asked first: the answer is delivered to it.
    assert "qs-jo-1" in addressed("ServiceRequestClosed", "hub", header(msg, "ce_source"), record).agencies


def test_an_arbitration_request_left_overdue_is_escalated_to_the_bodys_superior(broker: Broker) -> None:
    c = new_case("arbitration")
    broker.clock.set(at(9, 1))  # Tuesday 1 September
    broker.receive(c, "arbitration", at(9, 1))
    case = broker.wait(c, lambda x: handoff(x, "arbitration").get("state") == "assigned")
    h = handoff(case, "arbitration")
    assert h["obliged"]["agency_id"] == "qs-arb"
    assert (h["deadline"]["rule_id"], h["deadline"]["due"]) == (
        "services.arbitration.accept",
        "2026-09-06T16:00:00.000Z",  # 5 days: Sunday 6 September, 24:00 in Beijing
    )

    broker.clock.set(at(9, 7))  # the commission never accepted
    case = broker.wait(c, lambda x: handoff(x, "arbitration")["state"] == "escalated")
    h = handoff(case, "arbitration")
    assert h["overdue_at"] and [a["agency_id"] for a in h["escalated_to"]] == ["qs-jb"]
    assert case["status"] == "overdue"
    [(msg, record)] = broker.decisions(c, "HandoffEscalated")
    assert "qs-jb" in addressed("HandoffEscalated", "hub", header(msg, "ce_source"), record).agencies

    # `fengqiao kpi services` counts it open and overdue at the arbitration commission.
    r = run_cli(
        broker.settings.data_dir, "kpi", "services", "--json", "--from", "2026-09-01", "--to", "2026-09-01"
    )
    assert r.returncode == 0, r.stderr
    kpis = json.loads(r.stdout)
    assert c in kpis["kpis"]["closure"]["exceptions"] and c in kpis["kpis"]["overdue"]["exceptions"]
    assert c in kpis["by_body"]["qs-arb"]["kpis"]["overdue"]["exceptions"]
