"""The gateway's HTTP API over the real Outbox (validation, authorisation, retries), without a broker.

Only the last step is faked: a publisher that "puts on the log" by appending to a list, and can be
made to fail as an unreachable hub does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fengqiao.connectors.gateway import api, intake
from fengqiao.connectors.gateway.api import Service, create_app
from fengqiao.connectors.gateway.idempotency import AnswerStore
from fengqiao.connectors.gateway.intake import Intake
from fengqiao.connectors.gateway.keys import KeyStore
from fengqiao.connectors.gateway.limits import RateLimiter
from fengqiao.connectors.runtime import Outbox, Positions
from fengqiao.connectors.sdk import ErrorPolicy, Health
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.streams.app import agency_tasks
from fengqiao.streams.publisher import Published
from fengqiao.streams.workflows import load_context

DEMO = demo_events(1)
NOTICE = DEMO[0]  # zj-prison-2's release notice for a case in 青山县
CASE = NOTICE["subject"]
ACK = next(e for e in DEMO if e["subject"] == CASE and e["type"] == "ReleaseNoticeAcknowledged")
CE = {"Content-Type": "application/cloudevents+json"}


@dataclass
class FakeHub:
    """What the gateway sees of the hub: codec, directory, cases; no ledger."""

    codec: Codec
    directory: Any
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: Any = None
    workers: list[str] = field(default_factory=list)
    opening: frozenset[str] | None = None  # any event type may open a case

    async def case(self, case_id: str) -> dict[str, Any] | None:
        return self.cases.get(case_id)


class FakePublisher:
    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []  # (case id, event id) in publishing order
        self.down = False

    async def publish(self, env: Any, record: Any) -> Published:
        await asyncio.sleep(0.01)  # the broker and ledger round trip: lets concurrent requests interleave
        if self.down:
            raise OSError("connection refused")
        self.log.append((env.subject, env.id))
        return Published(env.id, "fengqiao.release", 0, len(self.log) - 1)


class Log:
    """Stands in for the gateway's structlog loggers: what they were told, by event name."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def info(self, event: str, **kw: Any) -> None:
        self.lines.append((event, kw))

    warning = exception = info


@dataclass
class Gateway:
    http: httpx.AsyncClient
    hub: FakeHub
    publisher: FakePublisher
    keys: KeyStore
    limiter: RateLimiter
    log: Log

    def auth(self, agency: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys.add(agency)[1]}", **CE}


@pytest.fixture
async def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    log = Log()  # the process's structlog set-up may be another test's (a CLI run's closed stream)
    monkeypatch.setattr(api, "log", log)
    monkeypatch.setattr(intake, "log", log)
    catalogue = load()
    hub = FakeHub(
        Codec(catalogue, {ev.fullname: n + 1 for n, ev in enumerate(catalogue)}), load_context().directory
    )
    outbox = Outbox("gateway", hub, ErrorPolicy(retries=0), Positions(tmp_path / "state"))  # type: ignore[arg-type]
    publisher = FakePublisher()
    outbox._publisher = publisher  # type: ignore[assignment]
    health = Health(status="running")
    keys = KeyStore(tmp_path / "keys.db")
    limiter = RateLimiter(1000.0, 1000)
    answers = AnswerStore(tmp_path / "answers.db")
    service = Service(hub, Intake(outbox, answers, health, max_batch=5), keys, limiter, 64 * 1024, health)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield Gateway(http, hub, publisher, keys, limiter, log)
    keys.close()
    answers.close()


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert body["error"]["status"] == r.status_code, body
    return body["error"]  # type: ignore[no-any-return]


def with_data(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**event, "data": {**event["data"], **fields}}


async def test_concurrent_duplicates_publish_once(gw: Gateway) -> None:
    auth = gw.auth("zj-prison-2")
    answers = await asyncio.gather(*(gw.http.post("/v1/events", json=NOTICE, headers=auth) for _ in range(6)))
    assert {r.status_code for r in answers} == {202}
    assert len({r.text for r in answers}) == 1
    assert gw.publisher.log == [(CASE, NOTICE["id"])]
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 5
    # Key order and spacing are not content: still the same event.
    same = json.dumps(dict(reversed(list(NOTICE.items()))), indent=1)
    r = await gw.http.post("/v1/events", content=same, headers=auth)
    assert r.status_code == 202 and gw.publisher.log == [(CASE, NOTICE["id"])]
    # Nor is the time a system stamps on each send: type, case and data make the event.
    r = await gw.http.post("/v1/events", json={**NOTICE, "time": "2030-01-01T00:00:00Z"}, headers=auth)
    assert r.status_code == 202 and r.json() == answers[0].json() and len(gw.publisher.log) == 1


async def test_same_id_other_content_conflicts(gw: Gateway) -> None:
    auth = gw.auth("zj-prison-2")
    assert (await gw.http.post("/v1/events", json=NOTICE, headers=auth)).status_code == 202
    r = await gw.http.post("/v1/events", json=with_data(NOTICE, notice_number="N-2"), headers=auth)
    assert r.status_code == 409 and error(r)["rule"] == "idempotency-conflict"
    assert error(r)["fields"][0]["field"] == "id"
    # Another agency's event under the same id is another event: ids are unique per source.
    other = {**ACK, "id": NOTICE["id"]}
    gw.hub.cases[CASE] = {"case_id": CASE, "events": [{"source": "qs-jo-1"}]}
    r = await gw.http.post("/v1/events", json=other, headers=gw.auth("qs-jo-1"))
    assert r.status_code == 202, r.text


async def test_a_refusal_is_not_kept_a_fixed_event_keeps_its_id(gw: Gateway) -> None:
    auth = gw.auth("zj-prison-2")
    bad = with_data(NOTICE, person={**NOTICE["data"]["person"], "id_number": "123"})
    r = await gw.http.post("/v1/events", json=bad, headers=auth)
    assert r.status_code == 400
    assert [f["field"] for f in error(r)["fields"]] == ["data.person.id_number"]
    r = await gw.http.post("/v1/events", json=NOTICE, headers=auth)
    assert r.status_code == 202 and gw.publisher.log == [(CASE, NOTICE["id"])]


async def test_unreachable_hub_is_503_with_retry_after_and_not_kept(gw: Gateway) -> None:
    auth = gw.auth("zj-prison-2")
    gw.publisher.down = True
    r = await gw.http.post("/v1/events", json=NOTICE, headers=auth)
    assert r.status_code == 503 and error(r)["rule"] == "hub-unavailable"
    assert int(r.headers["Retry-After"]) >= 1
    gw.publisher.down = False
    r = await gw.http.post("/v1/events", json=NOTICE, headers=auth)
    assert r.status_code == 202 and "Idempotent-Replayed" not in r.headers
    assert gw.publisher.log == [(CASE, NOTICE["id"])]


async def test_authentication_and_request_checks(gw: Gateway) -> None:
    r = await gw.http.post("/v1/events", json=NOTICE, headers=CE)
    assert r.status_code == 401 and error(r)["rule"] == "api-key-required"
    r = await gw.http.post("/v1/events", json=NOTICE, headers={"X-API-Key": "fq_x_y", **CE})
    assert r.status_code == 401 and error(r)["rule"] == "api-key-unknown"
    record, key = gw.keys.add("zj-prison-2")
    gw.keys.revoke(record.key_id)
    r = await gw.http.post("/v1/events", json=NOTICE, headers={"Authorization": f"Bearer {key}", **CE})
    assert r.status_code == 401 and error(r)["rule"] == "api-key-revoked"

    auth = gw.auth("zj-prison-2")
    r = await gw.http.post(
        "/v1/events", content=json.dumps(NOTICE), headers={**auth, "Content-Type": "text/csv"}
    )
    assert r.status_code == 415 and "text/csv" in error(r)["message"]
    big = json.dumps([NOTICE] * 100)
    r = await gw.http.post("/v1/events", content=big, headers=auth)
    assert r.status_code == 413 and error(r)["rule"] == "body-too-large"
    r = await gw.http.post("/v1/events", json=[NOTICE] * 6, headers=auth)
    assert r.status_code == 413 and error(r)["rule"] == "batch-too-large"
    for body, rule in ((b"{", "invalid-json"), (b"[]", "empty-batch"), (b"7", "invalid-event")):
        r = await gw.http.post("/v1/events", content=body, headers=auth)
        assert r.status_code == 400 and error(r)["rule"] == rule
    r = await gw.http.get("/v1/nowhere", headers=auth)
    assert r.status_code == 404 and error(r)["rule"] == "not-found"
    assert gw.publisher.log == []


async def test_rate_limit_per_agency(gw: Gateway) -> None:
    gw.limiter.rate, gw.limiter.burst = 0.1, 2
    auth = gw.auth("qs-ps-1")
    codes = [(await gw.http.get("/v1/health")).status_code] + [
        (await gw.http.post("/v1/events", content=b"[]", headers=auth)).status_code for _ in range(3)
    ]
    assert codes == [200, 400, 400, 429]  # health is not limited
    r = await gw.http.post("/v1/events", content=b"[]", headers=auth)
    assert error(r)["rule"] == "rate-limited" and 1 <= int(r.headers["Retry-After"]) <= 10
    r = await gw.http.post("/v1/events", content=b"[]", headers=gw.auth("qs-jo-1"))  # its own bucket
    assert r.status_code == 400


async def test_forbidden_names_the_rule(gw: Gateway) -> None:
    r = await gw.http.post("/v1/events", json=NOTICE, headers=gw.auth("qs-jo-1"))
    assert r.status_code == 403 and error(r)["rule"] == "source-is-agency"
    r = await gw.http.post("/v1/events", json={**NOTICE, "source": "qs-jo-1"}, headers=gw.auth("qs-jo-1"))
    assert r.status_code == 403 and error(r)["rule"] == "event-type-allowed"
    assert "prison" in error(r)["message"]


async def test_batch_is_all_or_nothing_and_keeps_each_case_in_order(gw: Gateway) -> None:
    auth = gw.auth("zj-prison-2")
    a = [e for e in DEMO if e["source"] == "zj-prison-2" and e["subject"] == CASE]
    b = [e for e in DEMO if e["source"] == "zj-prison-2" and e["subject"] != CASE][:2]
    bad = with_data(b[0], residence={"code": "12", "name": "?"})
    refused = await gw.http.post("/v1/events", json=[*a, bad], headers=auth)
    assert refused.status_code == 400 and gw.publisher.log == []
    body = refused.json()
    assert body["error"]["rule"] == "batch-refused"
    assert [x["status"] for x in body["results"]] == [424] * len(a) + [400]
    assert body["results"][-1]["error"]["fields"][0]["field"] == "data.residence.code"

    batch = [a[0], b[0], a[1], b[1], a[0]]  # the last one repeats the first
    r = await gw.http.post("/v1/events", json=batch, headers=auth)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 5
    assert [x["index"] for x in r.json()["results"]] == [0, 1, 2, 3, 4]
    assert r.json()["results"][4]["accepted"] == r.json()["results"][0]["accepted"]
    assert len(gw.publisher.log) == 4
    assert [e for c, e in gw.publisher.log if c == CASE] == [a[0]["id"], a[1]["id"]]
    again = await gw.http.post("/v1/events", json=batch, headers=auth)
    assert again.json() == r.json() and len(gw.publisher.log) == 4


async def test_case_read_is_for_parties_and_the_area_and_is_logged(gw: Gateway) -> None:
    gw.hub.cases[CASE] = {
        "case_id": CASE,
        "workflow": "release",
        "status": "open",
        "version": 1,
        "opened_at": NOTICE["time"],
        "events": [{"id": NOTICE["id"], "type": "ReleaseNoticeIssued", "source": "zj-prison-2"}],
        "facts": {"ReleaseNoticeIssued": NOTICE["data"]},
    }
    for agency, status in (
        ("zj-prison-2", 200),
        ("qs-jo-1", 200),
        ("qs-jb", 200),
        ("by-jo-1", 403),
        ("qs-jo-2", 403),
    ):
        r = await gw.http.get(f"/v1/cases/{CASE}", headers=gw.auth(agency))
        assert r.status_code == status, (agency, r.text)
    assert error(r)["rule"] == "own-jurisdiction"
    assert [(e, kw["agency"]) for e, kw in gw.log.lines if e == "case.read"] == [
        ("case.read", "zj-prison-2"),
        ("case.read", "qs-jo-1"),
        ("case.read", "qs-jb"),
    ]
    r = await gw.http.get("/v1/cases/NOPE", headers=gw.auth("qs-jo-1"))
    assert r.status_code == 404 and error(r)["rule"] == "case-unknown"


def test_agency_tasks_are_open_handoffs_obliged_or_escalated() -> None:
    def handoff(hid: str, state: str, obliged: str, due: str | None, escalated: tuple[str, ...] = ()) -> Any:
        return {
            "id": hid,
            "step": hid.split("/")[1],
            "task": "签收",
            "state": state,
            "obliged": {"agency_id": obliged},
            "escalated_to": [{"agency_id": a} for a in escalated],
            "deadline": {"due": due, "rule_id": f"release.{hid.split('/')[1]}"} if due else None,
            "rule_id": f"release.{hid.split('/')[1]}" if due else None,
        }

    case = {
        "case_id": "C1",
        "workflow": "release",
        "handoffs": {
            h["id"]: h
            for h in (
                handoff("C1/report/1", "assigned", "qs-jo-1", "2026-12-02T16:00:00.000Z"),
                handoff("C1/acknowledge/1", "escalated", "qs-jo-1", "2026-11-27T16:00:00.000Z", ("qs-jb",)),
                handoff("C1/plan/1", "acknowledged", "qs-jo-1", None),
                handoff("C1/escort/1", "fulfilled", "qs-jo-1", "2026-11-01T16:00:00.000Z"),
                handoff("C1/register/1", "assigned", "qs-ps-1", "2026-11-20T16:00:00.000Z"),
            )
        },
    }
    office = agency_tasks([case], "qs-jo-1")
    assert [t["handoff_id"] for t in office] == ["C1/acknowledge/1", "C1/report/1", "C1/plan/1"]
    assert {t["role"] for t in office} == {"obliged"}
    [bureau] = agency_tasks([case], "qs-jb")
    assert bureau["handoff_id"] == "C1/acknowledge/1" and bureau["role"] == "escalated_to"
    assert bureau["rule"] == "release.acknowledge" and bureau["obliged"] == "qs-jo-1"
    assert agency_tasks([case], "by-jo-1") == []
