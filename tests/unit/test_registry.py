"""The registry's REST API (Confluent subset) through FastAPI's TestClient, and our client against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from fengqiao.schemas.catalogue import load
from fengqiao.schemas.registry import (
    CONTENT_TYPE,
    RegistryClient,
    RegistryError,
    RegistryStore,
    create_app,
)


def _schema(*extra: dict[str, Any], name: str = "Thing") -> str:
    fields = [{"name": "case_id", "type": "string"}, *extra]
    return json.dumps({"type": "record", "name": name, "namespace": "t", "fields": fields})


V1 = _schema()
V2 = _schema({"name": "note", "type": "string", "default": ""})
BAD = _schema({"name": "note", "type": "string", "default": ""}, {"name": "count", "type": "int"})


@pytest.fixture
def api() -> Iterator[TestClient]:
    with TestClient(create_app(RegistryStore())) as client:
        yield client


def _register(api: TestClient, subject: str, schema: str) -> httpx.Response:
    return api.post(
        f"/subjects/{subject}/versions",
        json={"schema": schema, "schemaType": "AVRO"},
        headers={"Content-Type": CONTENT_TYPE},
    )


def test_register_is_idempotent_and_ids_are_global(api: TestClient) -> None:
    r = _register(api, "t.Thing", V1)
    assert r.status_code == 200 and r.headers["content-type"].startswith(CONTENT_TYPE)
    first = r.json()["id"]
    # the same schema with other whitespace and key order is the same schema
    same = json.dumps(json.loads(V1), indent=4, sort_keys=True)
    assert _register(api, "t.Thing", same).json() == {"id": first}
    assert api.get("/subjects/t.Thing/versions").json() == [1]
    # another subject, same schema: same id, its own version 1
    assert _register(api, "other", V1).json() == {"id": first}
    assert sorted(api.get("/subjects").json()) == ["other", "t.Thing"]
    assert api.get(f"/schemas/ids/{first}/versions").json() == [
        {"subject": "other", "version": 1},
        {"subject": "t.Thing", "version": 1},
    ]
    second = _register(api, "t.Thing", V2).json()["id"]
    assert second != first
    # re-registering an older version returns its id and adds no version
    assert _register(api, "t.Thing", V1).json() == {"id": first}
    assert api.get("/subjects/t.Thing/versions").json() == [1, 2]


def test_get_by_id_versions_latest_and_raw(api: TestClient) -> None:
    i1 = _register(api, "t.Thing", V1).json()["id"]
    i2 = _register(api, "t.Thing", V2).json()["id"]
    assert api.get(f"/schemas/ids/{i1}").json() == {"schema": V1}
    assert api.get("/subjects/t.Thing/versions/latest").json() == {
        "subject": "t.Thing",
        "version": 2,
        "id": i2,
        "schema": V2,
    }
    assert api.get("/subjects/t.Thing/versions/1").json()["id"] == i1
    assert api.get("/subjects/t.Thing/versions/-1").json()["version"] == 2
    raw = api.get("/subjects/t.Thing/versions/2/schema")
    assert json.loads(raw.text) == json.loads(V2)
    assert api.get("/schemas/types").json() == ["AVRO"]
    assert api.get("/health").status_code == 200


def test_lookup(api: TestClient) -> None:
    sid = _register(api, "t.Thing", V1).json()["id"]
    found = api.post("/subjects/t.Thing", json={"schema": V1})
    assert found.json() == {"subject": "t.Thing", "id": sid, "version": 1, "schema": V1}
    missing = api.post("/subjects/t.Thing", json={"schema": V2})
    assert missing.status_code == 404 and missing.json()["error_code"] == 40403
    assert api.post("/subjects/nobody", json={"schema": V1}).json()["error_code"] == 40401


def test_incompatible_register_is_refused_naming_the_field(api: TestClient) -> None:
    _register(api, "t.Thing", V1)
    _register(api, "t.Thing", V2)
    r = _register(api, "t.Thing", BAD)
    assert r.status_code == 409
    body = r.json()
    assert body["error_code"] == 409
    assert "'count'" in body["message"] and "without a default" in body["message"]
    # BACKWARD_TRANSITIVE by default: both earlier versions are named
    assert "version 1" in body["message"] and "version 2" in body["message"]
    assert api.get("/subjects/t.Thing/versions").json() == [1, 2]


def test_compatibility_endpoints(api: TestClient) -> None:
    _register(api, "t.Thing", V1)
    ok = api.post("/compatibility/subjects/t.Thing/versions/latest", json={"schema": V2})
    assert ok.json() == {"is_compatible": True}
    bad = api.post("/compatibility/subjects/t.Thing/versions/1", json={"schema": BAD})
    assert bad.json() == {"is_compatible": False}
    verbose = api.post("/compatibility/subjects/t.Thing/versions?verbose=true", json={"schema": BAD})
    assert verbose.json()["is_compatible"] is False
    assert any("'count'" in m for m in verbose.json()["messages"])
    assert (
        api.post("/compatibility/subjects/t.Thing/versions/9", json={"schema": V2}).json()["error_code"]
        == 40402
    )
    assert (
        api.post("/compatibility/subjects/nobody/versions/1", json={"schema": V2}).json()["error_code"]
        == 40401
    )


def test_config_endpoints(api: TestClient) -> None:
    assert api.get("/config").json() == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}
    assert api.put("/config", json={"compatibility": "full"}).json() == {"compatibility": "FULL"}
    assert api.get("/config").json() == {"compatibilityLevel": "FULL"}
    # like Confluent: a subject without its own level answers 40408 unless defaultToGlobal
    assert api.get("/config/t.Thing").json()["error_code"] == 40408
    assert api.get("/config/t.Thing?defaultToGlobal=true").json() == {"compatibilityLevel": "FULL"}
    assert api.put("/config/t.Thing", json={"compatibility": "NONE"}).json() == {"compatibility": "NONE"}
    assert api.get("/config/t.Thing").json() == {"compatibilityLevel": "NONE"}
    # NONE lets anything in
    _register(api, "t.Thing", V1)
    assert _register(api, "t.Thing", BAD).status_code == 200
    bad_level = api.put("/config", json={"compatibility": "SOMETIMES"})
    assert bad_level.status_code == 422 and bad_level.json()["error_code"] == 42203


def test_forward_level_checks_the_other_way(api: TestClient) -> None:
    api.put("/config/t.Thing", json={"compatibility": "FORWARD"})
    _register(api, "t.Thing", V2)
    r = _register(api, "t.Thing", V1)  # drops 'note', which V2 readers can default: fine
    assert r.status_code == 200
    api.put("/config/u", json={"compatibility": "FORWARD"})
    _register(api, "u", _schema({"name": "n", "type": "int"}))
    r = _register(api, "u", V1)  # drops 'n', which the older reader requires
    assert r.status_code == 409 and "'n'" in r.json()["message"] and "removed" in r.json()["message"]


def test_errors_have_confluent_codes(api: TestClient) -> None:
    assert api.get("/subjects/nobody/versions").json()["error_code"] == 40401
    _register(api, "t.Thing", V1)
    assert api.get("/subjects/t.Thing/versions/7").json()["error_code"] == 40402
    assert api.get("/subjects/t.Thing/versions/zero").json()["error_code"] == 42202
    r = api.get("/schemas/ids/999")
    assert r.status_code == 404 and r.json()["error_code"] == 40403
    invalid = _register(api, "t.Thing", '{"type": "record", "name": "X"}')
    assert invalid.status_code == 422 and invalid.json()["error_code"] == 42201
    assert _register(api, "t.Thing", "not json").json()["error_code"] == 42201
    proto = api.post("/subjects/p/versions", json={"schema": "syntax = 'proto3';", "schemaType": "PROTOBUF"})
    assert proto.json()["error_code"] == 42201


def test_plain_json_content_type_is_accepted(api: TestClient) -> None:
    r = api.post(
        "/subjects/t.Thing/versions",
        content=json.dumps({"schema": V1}),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")


def test_store_persists_in_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    store = RegistryStore(db)
    sid = store.register("t.Thing", V1)
    store.set_compatibility("FULL", "t.Thing")
    store.close()
    again = RegistryStore(db)
    assert again.register("t.Thing", V1) == sid
    assert again.get_version("t.Thing", "latest").schema == V1
    assert again.get_compatibility("t.Thing") == "FULL"
    again.close()


def _client(api: TestClient) -> RegistryClient:
    """Our client, wired to the TestClient's transport instead of a socket."""
    client = RegistryClient("http://testserver")
    client._sync = api  # TestClient is an httpx.Client
    return client


def test_client_register_catalogue_and_cache(api: TestClient) -> None:
    client = _client(api)
    catalogue = load()
    ids = client.register_catalogue_sync(catalogue)
    assert set(ids) == {ev.fullname for ev in catalogue}
    assert set(api.get("/subjects").json()) == set(ids)
    ev = next(iter(catalogue))
    assert client.cached_schema(ids[ev.fullname]) == ev.schema_str()
    found = client.lookup_sync(ev.fullname, ev.schema_str())
    assert found is not None and found.id == ids[ev.fullname]
    assert client.lookup_sync(ev.fullname, V1) is None
    # a second registration and an id lookup are answered from memory: no HTTP at all
    client._sync = None
    client.url = "http://127.0.0.1:9"  # nothing listens there
    assert client.register_catalogue_sync(catalogue) == ids
    assert client.schema_for_id_sync(ids[ev.fullname]) == ev.schema_str()


def test_client_errors(api: TestClient) -> None:
    client = _client(api)
    client.register_sync("t.Thing", V1)
    with pytest.raises(RegistryError) as refused:
        client.register_sync("t.Thing", BAD)
    assert refused.value.error_code == 409 and "'count'" in str(refused.value)
    with pytest.raises(RegistryError) as missing:
        client.get_schema_sync(12345)
    assert missing.value.error_code == 40403
    assert client.test_compatibility_sync("t.Thing", V2) == []
    assert any("'count'" in m for m in client.test_compatibility_sync("t.Thing", BAD))
    assert client.get_compatibility_sync("t.Thing") == "BACKWARD_TRANSITIVE"

    down = RegistryClient("http://127.0.0.1:9", timeout=2)
    with pytest.raises(RegistryError, match=r"schema registry at http://127.0.0.1:9 is not reachable"):
        down.get_schema_sync(1)
    down.close()
