"""The HTTP gateway against the real hub: the gateway `Hub.start` runs, real HTTP, the real broker.

Agency systems POST CloudEvents with their API key; every refusal names its rule (and each invalid
field); a 202 means the ledger holds the event; a resend is answered the same and stored once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from fengqiao.cli.gateway import gateway_app
from fengqiao.connectors.gateway import HttpGateway
from fengqiao.connectors.gateway.keys import KeyStore
from fengqiao.connectors.gateway.url_file import read_url
from fengqiao.connectors.runtime import HubLink, context_for, run_connector
from fengqiao.connectors.sdk import ConnectorContext
from fengqiao.hub import Hub
from fengqiao.scenario import demo_events
from fengqiao.settings import Settings
from fengqiao.streams.ledger import Ledger

pytestmark = pytest.mark.integration

DEMO_CASE = demo_events(1)[0]["subject"]  # the first release case: notice, acknowledgement, ...


def release_story(case_id: str) -> list[dict[str, Any]]:
    """The demo's first release case (prison zj-prison-2, office qs-jo-1 in 青山县) as ``case_id``."""
    events = [e for e in demo_events(1) if e["subject"] == DEMO_CASE]
    return json.loads(json.dumps(events, ensure_ascii=False).replace(DEMO_CASE, case_id))  # type: ignore[no-any-return]


def notice(case_id: str) -> dict[str, Any]:
    return release_story(case_id)[0]


def acknowledgement(case_id: str) -> dict[str, Any]:
    [ack] = [e for e in release_story(case_id) if e["type"] == "ReleaseNoticeAcknowledged"]
    return ack


class Agencies:
    """API keys of the demo agencies, made in the hub's key store as `fengqiao gateway keys add` does."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._keys: dict[str, str] = {}

    def key(self, agency: str) -> str:
        if agency not in self._keys:
            r = CliRunner().invoke(
                gateway_app, ["keys", "add", agency, "--data-dir", str(self.settings.data_dir)]
            )
            assert r.exit_code == 0, r.output
            self._keys[agency] = r.stdout.strip()
        return self._keys[agency]

    def auth(self, agency: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(agency)}"}


CE = {"Content-Type": "application/cloudevents+json"}


@pytest.fixture(scope="module")
def agencies(hub_settings: Settings) -> Agencies:
    return Agencies(hub_settings)


@pytest.fixture
async def gateway(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    assert hub.gateway_url, "the hub started no gateway"
    async with httpx.AsyncClient(base_url=hub.gateway_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def ledger(hub: Hub, hub_settings: Settings) -> Any:
    led = Ledger(hub_settings.ledger_url)
    yield led
    led.close()


def records_of(ledger: Ledger, case_id: str, event_id: str) -> int:
    return sum(r.event_id == event_id for r in ledger.read(case_id=case_id))


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body["error"]) == {"status", "rule", "message", "fields"}, body
    assert body["error"]["status"] == r.status_code
    return body["error"]  # type: ignore[no-any-return]


async def test_runtime_file_names_the_gateway(
    hub: Hub, hub_settings: Settings, gateway: httpx.AsyncClient
) -> None:
    assert json.loads(hub_settings.runtime_file.read_text())["gateway"] == hub.gateway_url
    r = await gateway.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "running"
    spec = (await gateway.get("/openapi.json")).json()
    assert "/v1/events" in spec["paths"]


async def test_accepted_means_in_the_ledger_and_a_resend_is_one_event(
    gateway: httpx.AsyncClient, agencies: Agencies, ledger: Ledger
) -> None:
    case_id = "GW-DUP-1"
    event = notice(case_id)
    prison = agencies.auth("zj-prison-2")
    first = await gateway.post("/v1/events", json=event, headers={**prison, **CE})
    assert first.status_code == 202, first.text
    assert ledger.find_event(event["id"]) is not None  # durable before the answer
    assert first.json() | {"offset": 0} == {
        "status": "accepted",
        "id": event["id"],
        "source": "zj-prison-2",
        "type": "ReleaseNoticeIssued",
        "subject": case_id,
        "topic": "fengqiao.release",
        "partition": first.json()["partition"],
        "offset": 0,
    }
    # The same event again, also several at once: the same answer, nothing published.
    again = await asyncio.gather(
        *(gateway.post("/v1/events", json=event, headers={**prison, **CE}) for _ in range(4))
    )
    assert [(r.status_code, r.json()) for r in again] == [(202, first.json())] * 4
    assert all(r.headers.get("Idempotent-Replayed") == "true" for r in again)
    # A later event of the case is on the same partition: once the ledger has it, it has anything
    # published before it there — so one record of the notice means the resends published nothing.
    later = await gateway.post(
        "/v1/events", json=acknowledgement(case_id), headers={**agencies.auth("qs-jo-1"), **CE}
    )
    assert later.status_code == 202, later.text
    assert later.json()["partition"] == first.json()["partition"]
    assert records_of(ledger, case_id, event["id"]) == 1


async def test_same_id_other_content_is_a_conflict(
    gateway: httpx.AsyncClient, agencies: Agencies, ledger: Ledger
) -> None:
    event = notice("GW-CONFLICT-1")
    prison = {**agencies.auth("zj-prison-2"), **CE}
    assert (await gateway.post("/v1/events", json=event, headers=prison)).status_code == 202
    changed = {**event, "data": {**event["data"], "notice_number": "another notice"}}
    r = await gateway.post("/v1/events", json=changed, headers=prison)
    assert r.status_code == 409
    e = error(r)
    assert e["rule"] == "idempotency-conflict" and event["id"] in e["message"]
    assert records_of(ledger, "GW-CONFLICT-1", event["id"]) == 1


async def test_invalid_event_names_each_field(
    gateway: httpx.AsyncClient, agencies: Agencies, ledger: Ledger
) -> None:
    event = notice("GW-BAD-1")
    event["data"]["person"]["id_number"] = "123"
    event["data"]["residence"]["code"] = "33990"
    del event["specversion"]
    r = await gateway.post("/v1/events", json=event, headers={**agencies.auth("zj-prison-2"), **CE})
    assert r.status_code == 400
    e = error(r)
    assert e["rule"] == "invalid-event"
    assert [f["field"] for f in e["fields"]] == ["specversion"]  # the envelope first
    event["specversion"] = "1.0"
    r = await gateway.post("/v1/events", json=event, headers={**agencies.auth("zj-prison-2"), **CE})
    e = error(r)
    assert {f["field"] for f in e["fields"]} == {"data.person.id_number", "data.residence.code"}, e
    assert all(f["reason"] for f in e["fields"])
    assert ledger.find_event(event["id"]) is None
    # Not JSON at all, and a body that is no CloudEvent.
    r = await gateway.post("/v1/events", content=b'{"id": ', headers={**agencies.auth("zj-prison-2"), **CE})
    assert r.status_code == 400 and error(r)["rule"] == "invalid-json"
    r = await gateway.post("/v1/events", json="hello", headers={**agencies.auth("zj-prison-2"), **CE})
    assert r.status_code == 400 and error(r)["rule"] == "invalid-event"


async def test_each_key_rule_refuses_with_401(
    gateway: httpx.AsyncClient, agencies: Agencies, hub_settings: Settings
) -> None:
    event = notice("GW-KEY-1")
    r = await gateway.post("/v1/events", json=event, headers=CE)
    assert r.status_code == 401 and error(r)["rule"] == "api-key-required"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = await gateway.post("/v1/events", json=event, headers={"Authorization": "Bearer fq_nope_nope", **CE})
    assert r.status_code == 401 and error(r)["rule"] == "api-key-unknown"
    # A key of its own, revoked with the CLI: refused at once; X-API-Key works the same as Bearer.
    cli = CliRunner()
    made = cli.invoke(gateway_app, ["keys", "add", "zj-prison-2", "--data-dir", str(hub_settings.data_dir)])
    key = made.stdout.strip()
    r = await gateway.get("/v1/tasks", headers={"X-API-Key": key})
    assert r.status_code == 200, r.text
    key_id = key.split("_")[1]
    listed = cli.invoke(gateway_app, ["keys", "list", "--data-dir", str(hub_settings.data_dir)])
    assert key_id in listed.stdout and key not in listed.stdout
    revoked = cli.invoke(gateway_app, ["keys", "revoke", key_id, "--data-dir", str(hub_settings.data_dir)])
    assert revoked.exit_code == 0, revoked.output
    r = await gateway.post("/v1/events", json=event, headers={"X-API-Key": key, **CE})
    assert r.status_code == 401 and error(r)["rule"] == "api-key-revoked"


async def test_403_names_the_rule(gateway: httpx.AsyncClient, agencies: Agencies, ledger: Ledger) -> None:
    case_id = "GW-AUTHZ-1"
    prison = agencies.auth("zj-prison-2")
    assert (
        await gateway.post("/v1/events", json=notice(case_id), headers={**prison, **CE})
    ).status_code == 202
    # Until the worker has the case, an event naming its sender would open a case of its own.
    await _eventually(gateway, f"/v1/cases/{case_id}", prison, lambda r: r.status_code == 200)
    # A judicial office may not issue a prison's release notice.
    forged = notice("GW-AUTHZ-2") | {"source": "qs-jo-1"}
    r = await gateway.post("/v1/events", json=forged, headers={**agencies.auth("qs-jo-1"), **CE})
    assert r.status_code == 403 and error(r)["rule"] == "event-type-allowed"
    # Nobody speaks for another agency.
    r = await gateway.post(
        "/v1/events", json=notice("GW-AUTHZ-3"), headers={**agencies.auth("qs-jo-1"), **CE}
    )
    assert r.status_code == 403 and error(r)["rule"] == "source-is-agency"
    # 白云县's office may not acknowledge a 青山县 case.
    ack = acknowledgement(case_id)
    ack = json.loads(json.dumps(ack).replace("qs-jo-1", "by-jo-1"))
    r = await gateway.post("/v1/events", json=ack, headers={**agencies.auth("by-jo-1"), **CE})
    assert r.status_code == 403, r.text
    e = error(r)
    assert e["rule"] == "own-jurisdiction" and "339901001001" in e["message"]
    assert ledger.find_event(ack["id"]) is None


async def test_content_type_must_be_json(gateway: httpx.AsyncClient, agencies: Agencies) -> None:
    body = json.dumps(notice("GW-CT-1")).encode()
    for ctype in ("text/plain", "application/x-www-form-urlencoded"):
        r = await gateway.post(
            "/v1/events", content=body, headers={**agencies.auth("zj-prison-2"), "Content-Type": ctype}
        )
        assert r.status_code == 415 and error(r)["rule"] == "unsupported-media-type"


async def test_batch_all_or_nothing(gateway: httpx.AsyncClient, agencies: Agencies, ledger: Ledger) -> None:
    prison = {**agencies.auth("zj-prison-2"), "Content-Type": "application/cloudevents-batch+json"}
    good = [notice("GW-BATCH-1"), notice("GW-BATCH-2")]
    bad = notice("GW-BATCH-3")
    bad["data"]["person"]["id_number"] = "123"
    r = await gateway.post("/v1/events", json=[*good, bad], headers=prison)
    assert r.status_code == 400
    body = r.json()
    assert body["error"]["rule"] == "batch-refused"
    assert [(x["index"], x["status"]) for x in body["results"]] == [(0, 424), (1, 424), (2, 400)]
    assert body["results"][2]["error"]["fields"][0]["field"] == "data.person.id_number"
    assert all(ledger.find_event(e["id"]) is None for e in good)  # nothing of it published

    r = await gateway.post("/v1/events", json=good, headers=prison)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2
    assert [x["accepted"]["id"] for x in r.json()["results"]] == [e["id"] for e in good]
    assert all(ledger.find_event(e["id"]) is not None for e in good)
    # The same batch again: the same answer.
    again = await gateway.post("/v1/events", json=good, headers=prison)
    assert (again.status_code, again.json()) == (202, r.json())


async def test_case_for_its_own_agencies_only(gateway: httpx.AsyncClient, agencies: Agencies) -> None:
    case_id = "GW-CASE-1"
    r = await gateway.post("/v1/events", json=notice(case_id), headers={**agencies.auth("zj-prison-2"), **CE})
    assert r.status_code == 202
    own = await _eventually(
        gateway, f"/v1/cases/{case_id}", agencies.auth("qs-jo-1"), lambda r: r.status_code == 200
    )
    assert own.json()["case_id"] == case_id and own.json()["workflow"] == "release"
    other = await gateway.get(f"/v1/cases/{case_id}", headers=agencies.auth("by-jo-1"))
    assert other.status_code == 403
    assert error(other)["rule"] == "own-jurisdiction"
    unknown = await gateway.get("/v1/cases/GW-NO-SUCH-CASE", headers=agencies.auth("qs-jo-1"))
    assert unknown.status_code == 404 and error(unknown)["rule"] == "case-unknown"


async def test_tasks_after_a_release_notice(gateway: httpx.AsyncClient, agencies: Agencies) -> None:
    case_id = "GW-TASK-1"
    r = await gateway.post("/v1/events", json=notice(case_id), headers={**agencies.auth("zj-prison-2"), **CE})
    assert r.status_code == 202

    def has_ack(r: httpx.Response) -> bool:
        return any(t["case_id"] == case_id and t["step"] == "acknowledge" for t in r.json()["tasks"])

    office = await _eventually(gateway, "/v1/tasks", agencies.auth("qs-jo-1"), has_ack)
    body = office.json()
    assert body["agency"] == "qs-jo-1"
    [task] = [t for t in body["tasks"] if t["case_id"] == case_id and t["step"] == "acknowledge"]
    assert task["workflow"] == "release" and task["role"] == "obliged" and task["obliged"] == "qs-jo-1"
    assert task["rule"] == "release.acknowledge" and task["deadline"] and task["task"]
    assert task["state"] in ("assigned", "acknowledged", "overdue", "escalated")
    deadlines = [t["deadline"] for t in body["tasks"] if t["deadline"]]
    assert deadlines == sorted(deadlines)
    elsewhere = await gateway.get("/v1/tasks", headers=agencies.auth("by-jo-1"))
    assert all(t["case_id"] != case_id for t in elsewhere.json()["tasks"])


async def _eventually(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], ok: Any, timeout: float = 120.0
) -> httpx.Response:
    """GET until ``ok(response)``: the worker folds an accepted event a moment after the ledger has it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await http.get(path, headers=headers)
        if ok(r) or loop.time() > deadline:
            return r
        await asyncio.sleep(0.1)


# -- limits: a gateway of the test's own, with a tiny body limit and rate ------------------------------
@pytest.fixture
async def tight(hub: Hub, hub_settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, KeyStore]]:
    link = await HubLink.connect(hub_settings)
    config = HttpGateway.Config(
        port=0,
        max_body_bytes=1024,
        rate_per_s=0.01,
        burst=3,
        keys_db=tmp_path / "keys.db",
        url_file=tmp_path / "url",
    )
    ctx = ConnectorContext("gateway-tight", tmp_path / "state", hub_settings, link)
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_connector(HttpGateway, config, ctx, stop, started=started))
    await asyncio.wait({task, asyncio.ensure_future(started.wait())}, return_when=asyncio.FIRST_COMPLETED)
    assert not task.done(), task.result()
    keys = KeyStore(tmp_path / "keys.db")
    try:
        yield read_url(tmp_path / "url") or "", keys
    finally:
        stop.set()
        await task
        keys.close()
        link.close()


async def test_too_large_and_too_many(tight: tuple[str, KeyStore]) -> None:
    url, keys = tight
    headers = {"Authorization": f"Bearer {keys.add('zj-prison-2')[1]}", **CE}
    big = json.dumps([notice(f"GW-BIG-{i}") for i in range(3)]).encode()  # a batch of 3
    assert len(big) > 1024
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.post("/v1/events", content=big, headers=headers)  # Content-Length says it
        assert r.status_code == 413 and error(r)["rule"] == "body-too-large"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
            for i in range(0, len(big), 256):
                yield big[i : i + 256]

        r = await http.post("/v1/events", content=chunks(), headers=headers)
        assert "content-length" not in r.request.headers
        assert r.status_code == 413 and error(r)["rule"] == "body-too-large"
        # The bucket held 3 requests and refills one per 100 s: the fourth is over the rate.
        r = await http.post("/v1/events", content=b"[]", headers=headers)
        assert r.status_code == 400 and error(r)["rule"] == "empty-batch"
        r = await http.post("/v1/events", content=b"[]", headers=headers)
        assert r.status_code == 429
        assert error(r)["rule"] == "rate-limited"
        assert int(r.headers["Retry-After"]) >= 1


# -- the conformance harness: what `fengqiao connectors test http-gateway` drives ------------------------
async def test_conformance_harness_feeds_through_a_restart(
    hub: Hub, hub_settings: Settings, tmp_path: Path, ledger: Ledger
) -> None:
    harness = HttpGateway.conformance(tmp_path / "kit")
    config = HttpGateway.parse_config(harness.config())
    link = await HubLink.connect(hub_settings)
    ctx = context_for("gateway-kit", hub_settings, link)
    story = release_story("GW-KIT-1")[:3]  # prison's notice, the office's acknowledgement and plan

    def run(stop: asyncio.Event) -> asyncio.Task[Any]:
        return asyncio.create_task(run_connector(HttpGateway, config, ctx, stop, started=None))

    await harness.open()
    try:
        stop = asyncio.Event()
        task = run(stop)
        await harness.feed(story[:2])
        stop.set()
        await task  # stopped in the middle of the stream: started again, on another free port
        stop = asyncio.Event()
        task = run(stop)
        await harness.feed(story)  # the first two again, and the rest
        bad = {**story[0], "id": "GW-KIT-1-bad"}
        bad["data"] = {**bad["data"], "person": {**bad["data"]["person"], "id_number": "1"}}
        await harness.feed_invalid(bad)
        stop.set()
        await task
    finally:
        await harness.close()
        link.close()
    [refusal] = await harness.refusals()
    assert "data.person.id_number" in refusal and "invalid-event" in refusal
    assert [records_of(ledger, "GW-KIT-1", e["id"]) for e in story] == [1, 1, 1]
    assert ledger.find_event("GW-KIT-1-bad") is None
