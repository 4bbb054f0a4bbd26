"""Failed authentication is throttled per client address, before the key check (issue 15, item 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fengqiao.connectors.gateway import api
from fengqiao.connectors.gateway.api import Service, create_app
from fengqiao.connectors.gateway.keys import KeyStore
from fengqiao.connectors.gateway.limits import AuthThrottle, RateLimiter
from fengqiao.connectors.sdk import Health


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class NoHub:
    """GET /v1/tasks asks every worker: with none, an authenticated agency gets an empty list."""

    workers: list[str] = field(default_factory=list)


class Quiet:
    def info(self, *a: Any, **kw: Any) -> None: ...

    warning = exception = info


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Service, Clock]:
    monkeypatch.setattr(api, "log", Quiet())
    clock = Clock()
    service = Service(
        NoHub(),  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # no route here publishes
        KeyStore(tmp_path / "keys.db"),
        RateLimiter(1000.0, 1000),
        64 * 1024,
        Health(status="running"),
        auth_throttle=AuthThrottle(rate=0.5, burst=3, clock=clock),
    )
    return service, clock


def client(service: Service, address: str) -> TestClient:
    return TestClient(create_app(service), client=(address, 40000))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_unknown_keys_are_throttled_per_address_with_retry_after(gateway: tuple[Service, Clock]) -> None:
    service, clock = gateway
    good = service.keys.add("qs-jo-1")[1]
    guesser, other = client(service, "10.0.0.9"), client(service, "10.0.0.7")
    for guess in ("fq_00000000_a", "fq_00000000_b", ""):  # a missing key is a failure too
        r = guesser.get("/v1/tasks", headers=bearer(guess) if guess else {})
        assert r.status_code == 401, r.text
    r = guesser.get("/v1/tasks", headers=bearer("fq_00000000_c"))
    assert r.status_code == 429 and r.json()["error"]["rule"] == "auth-rate-limited"
    assert r.headers["Retry-After"] == "2"  # one failure allowed per 2 s once the burst is spent
    # Refused before the key check: not even a good key gets through from that address now ...
    assert guesser.get("/v1/tasks", headers=bearer(good)).status_code == 429
    # ... while another address, and its good key, are untouched.
    r = other.get("/v1/tasks", headers=bearer(good))
    assert r.status_code == 200 and r.json() == {"agency": "qs-jo-1", "tasks": []}
    clock.now += 2.0
    assert guesser.get("/v1/tasks", headers=bearer(good)).status_code == 200
    # Successes take no tokens: a busy agency with a good key is never throttled by this.
    assert all(other.get("/v1/tasks", headers=bearer(good)).status_code == 200 for _ in range(10))


def test_expired_and_revoked_keys_are_refused_by_name(gateway: tuple[Service, Clock]) -> None:
    service, _ = gateway
    store = service.keys
    record, key = store.add("qs-jo-1", expires_at=datetime.now(UTC) + timedelta(days=1))
    http = client(service, "10.0.0.5")
    assert http.get("/v1/tasks", headers={"X-API-Key": key}).status_code == 200
    store.expire(record.key_id, datetime.now(UTC) - timedelta(seconds=1))
    r = http.get("/v1/tasks", headers={"X-API-Key": key})
    body = r.json()["error"]
    assert r.status_code == 401 and body["rule"] == "api-key-expired"
    assert (
        "已过期" in body["message"] and record.key_id in body["message"] and "expired at" in body["message"]
    )
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
