"""The gateway's reads of personal fields: in clear (and in the read log) for an agency the directory
lets see them, masked for one that may read the case but not see them, never logged then."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fengqiao.connectors.gateway.api import Service, create_app
from fengqiao.connectors.gateway.idempotency import AnswerStore
from fengqiao.connectors.gateway.intake import Intake
from fengqiao.connectors.gateway.keys import KeyStore
from fengqiao.connectors.gateway.limits import RateLimiter
from fengqiao.connectors.personal_view import PersonalView
from fengqiao.connectors.runtime import Outbox, Positions
from fengqiao.connectors.sdk import ErrorPolicy, Health
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.settings import Settings
from fengqiao.streams.personal.access import ReadLog
from fengqiao.streams.personal.protection import Protection
from fengqiao.streams.workflows import load_context

NOTICE = demo_events(1)[0]
CASE = NOTICE["subject"]
PERSON = NOTICE["data"]["person"]


class FakeHub:
    def __init__(self, codec: Codec, directory: Any) -> None:
        self.codec, self.directory, self.cases = codec, directory, {}
        self.ledger, self.workers, self.opening = None, [], None

    async def case(self, case_id: str) -> dict[str, Any] | None:
        return self.cases.get(case_id)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, KeyStore, ReadLog]]:
    catalogue = load()
    settings = Settings(data_dir=tmp_path)
    protection = Protection.from_settings(settings, catalogue)
    directory = load_context().directory
    hub = FakeHub(Codec(catalogue, {ev.fullname: n + 1 for n, ev in enumerate(catalogue)}), directory)
    sealed = protection.sealer.seal(NOTICE["type"], CASE, NOTICE["data"])
    assert PERSON["name"] not in str(sealed) and PERSON["id_number"] not in str(sealed)
    hub.cases[CASE] = {
        "case_id": CASE,
        "workflow": "release",
        "status": "open",
        "version": 1,
        "events": [{"id": NOTICE["id"], "type": NOTICE["type"], "source": "zj-prison-2"}],
        "facts": {NOTICE["type"]: sealed},
    }
    outbox = Outbox("gateway", hub, ErrorPolicy(retries=0), Positions(tmp_path / "state"))  # type: ignore[arg-type]
    health = Health(status="running")
    keys = KeyStore(tmp_path / "keys.db")
    answers = AnswerStore(tmp_path / "answers.db")
    service = Service(
        hub,  # type: ignore[arg-type]
        Intake(outbox, answers, health, max_batch=5),
        keys,
        RateLimiter(1000.0, 1000),
        64 * 1024,
        health,
        personal=PersonalView(protection.revealer, directory),
    )
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http, keys, ReadLog(settings.ledger_url)
    keys.close()
    answers.close()
    protection.close()


async def test_case_in_clear_for_a_judicial_office_masked_for_a_reader_without_the_duty(env: Any) -> None:
    http, keys, reads = env
    record, key = keys.add("qs-jo-1")
    r = await http.get(f"/v1/cases/{CASE}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    person = r.json()["facts"][NOTICE["type"]]["person"]
    assert person["name"] == PERSON["name"] and person["id_number"] == PERSON["id_number"]
    logged = list(reads.reads(agency="qs-jo-1"))
    assert len(logged) == 1 and logged[0].entry == "gateway:/v1/cases" and logged[0].case_id == CASE
    assert logged[0].key_id == record.key_id and "person.id_number" in logged[0].fields

    directory = load_context().directory
    for other in ("qs-xf", "qs-proc", "qs-psb"):
        assert not directory.sees_personal(other)
        _, key = keys.add(other)
        r = await http.get(f"/v1/cases/{CASE}", headers={"Authorization": f"Bearer {key}"})
        if r.status_code == 403:
            continue
        text = r.text
        assert PERSON["name"] not in text and PERSON["id_number"] not in text, other
        shown = r.json()["facts"][NOTICE["type"]]["person"]
        assert shown["id_number"] == PERSON["id_number"][:4] + "*" * 10 + PERSON["id_number"][-4:]
        assert list(reads.reads(agency=other)) == []
        break
    else:
        pytest.fail("no agency reads the case without seeing personal data")


async def test_tasks_in_clear_for_the_office_logged_per_case(
    env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fengqiao.connectors.gateway import api

    http, keys, reads = env
    transport: Any = http._transport
    sealed = transport.app.state.service.hub.cases[CASE]["facts"][NOTICE["type"]]["person"]

    async def tasks(workers: list[str], agency: str) -> list[dict[str, Any]]:
        task = {
            "case_id": CASE,
            "workflow": "release",
            "handoff_id": f"{CASE}/acknowledge",
            "step": "acknowledge",
        }
        return [
            {
                **task,
                "task": "签收",
                "state": "assigned",
                "role": "obliged",
                "obliged": agency,
                "person": sealed,
            }
        ]

    monkeypatch.setattr(api, "_tasks", tasks)
    record, key = keys.add("qs-jo-1")
    r = await http.get("/v1/tasks", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    assert r.json()["tasks"][0]["person"]["id_number"] == PERSON["id_number"]
    (read,) = reads.reads(agency="qs-jo-1")
    assert (read.entry, read.case_id, read.key_id) == ("gateway:/v1/tasks", CASE, record.key_id)
    _, key = keys.add("qs-xf")
    r = await http.get("/v1/tasks", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and PERSON["name"] not in r.text
    assert list(reads.reads(agency="qs-xf")) == []
