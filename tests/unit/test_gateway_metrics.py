"""The gateway's GET /metrics: Prometheus text, with no key, counting what the gateway answered.

The counters are the process's own (the default registry), so the test compares a scrape before and
after rather than absolute values.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_gateway_api import CE, NOTICE, FakeHub, FakePublisher, Log

from fengqiao.connectors.gateway import api, intake
from fengqiao.connectors.gateway.api import Service, create_app
from fengqiao.connectors.gateway.idempotency import AnswerStore
from fengqiao.connectors.gateway.intake import Intake
from fengqiao.connectors.gateway.keys import KeyStore
from fengqiao.connectors.gateway.limits import RateLimiter
from fengqiao.connectors.runtime import Outbox, Positions
from fengqiao.connectors.sdk import ErrorPolicy, Health
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.streams.workflows import load_context


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_metrics_count_an_accepted_and_a_refused_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Log()
    monkeypatch.setattr(api, "log", log)
    monkeypatch.setattr(intake, "log", log)
    catalogue = load()
    hub = FakeHub(
        Codec(catalogue, {ev.fullname: n + 1 for n, ev in enumerate(catalogue)}), load_context().directory
    )
    outbox = Outbox("gateway", hub, ErrorPolicy(retries=0), Positions(tmp_path / "state"))  # type: ignore[arg-type]
    outbox._publisher = FakePublisher()  # type: ignore[assignment]
    keys = KeyStore(tmp_path / "keys.db")
    answers = AnswerStore(tmp_path / "answers.db")
    health = Health(status="running")
    service = Service(
        hub,  # type: ignore[arg-type]
        Intake(outbox, answers, health, max_batch=5),
        keys,
        RateLimiter(1000.0, 1000),
        64 * 1024,
        health,
    )
    accepted = ("fengqiao_gateway_events_accepted_total", ())
    no_key = ("fengqiao_gateway_refusals_total", (("rule", "api-key-required"),))
    with TestClient(create_app(service)) as client:
        before = samples(client)
        auth = {"Authorization": f"Bearer {keys.add('zj-prison-2')[1]}", **CE}
        assert client.post("/v1/events", json=NOTICE, headers=CE).status_code == 401
        assert client.post("/v1/events", json=NOTICE, headers=auth).status_code == 202
        after = samples(client)
    keys.close()
    answers.close()
    assert after[accepted] == before.get(accepted, 0) + 1
    assert after[no_key] == before.get(no_key, 0) + 1
    # The ledger's append latency is declared in the same process (the hub runs the archiver).
    assert ("fengqiao_ledger_append_seconds_count", ()) in after
