"""`RegistryClient`: a client of any Confluent-compatible registry (the hub's own or an external one),
sync and async, caching what it learns (ids are immutable)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ..catalogue import Catalogue
from .errors import RegistryError
from .model import CONTENT_TYPE, SchemaVersion


@dataclass(frozen=True)
class _Req:
    method: str
    path: str
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    missing_ok: bool = False  # a 404 answers None instead of raising


T = TypeVar("T")
_Op = Generator[_Req, Any, T]


def _subject(subject: str) -> str:
    return quote(subject, safe="")


class RegistryClient:
    """Client of a Confluent-compatible registry (ours or an external one).

    Every call has an async form and a ``*_sync`` form. Ids are immutable, so what is learnt is
    cached for good: ``cached_schema`` never does I/O, and ``schema_for_id`` / ``register`` only
    go to HTTP on a miss, which keeps the per-record hot path off the network.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._by_id: dict[int, str] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._async: httpx.AsyncClient | None = None
        self._sync: httpx.Client | None = None
        self._headers = {"Accept": f"{CONTENT_TYPE}, application/json", "Content-Type": CONTENT_TYPE}

    # transport
    def _fail(self, e: httpx.HTTPError) -> RegistryError:
        if isinstance(e, httpx.TimeoutException):
            return RegistryError(
                f"schema registry at {self.url} did not answer within {self.timeout}s: {e!r}"
            )
        return RegistryError(f"schema registry at {self.url} is not reachable: {e}")

    def _result(self, req: _Req, resp: httpx.Response) -> Any:
        if resp.is_success:
            return resp.json()
        if resp.status_code == 404 and req.missing_ok:
            return None
        try:
            body = resp.json()
            message, code = str(body.get("message")), body.get("error_code")
        except ValueError:
            message, code = resp.text or resp.reason_phrase, None
        raise RegistryError(
            f"schema registry {req.method} {req.path}: {message}", status=resp.status_code, error_code=code
        )

    def _send_sync(self, req: _Req) -> Any:
        if self._sync is None:
            self._sync = httpx.Client(base_url=self.url, timeout=self.timeout, headers=self._headers)
        try:
            resp = self._sync.request(req.method, req.path, json=req.body, params=req.params)
        except httpx.HTTPError as e:
            raise self._fail(e) from e
        return self._result(req, resp)

    async def _send(self, req: _Req) -> Any:
        if self._async is None:
            self._async = httpx.AsyncClient(base_url=self.url, timeout=self.timeout, headers=self._headers)
        try:
            resp = await self._async.request(req.method, req.path, json=req.body, params=req.params)
        except httpx.HTTPError as e:
            raise self._fail(e) from e
        return self._result(req, resp)

    # Each operation is written once as a generator that yields requests and gets answers back;
    # these two drive it over the sync or the async transport.
    # A RegistryError is thrown into the generator, so an operation may catch it.
    def _run_sync(self, op: _Op[T]) -> T:
        try:
            req = next(op)
            while True:
                try:
                    answer = self._send_sync(req)
                except RegistryError as e:
                    req = op.throw(e)
                else:
                    req = op.send(answer)
        except StopIteration as done:
            return done.value

    async def _run(self, op: _Op[T]) -> T:
        try:
            req = next(op)
            while True:
                try:
                    answer = await self._send(req)
                except RegistryError as e:
                    req = op.throw(e)
                else:
                    req = op.send(answer)
        except StopIteration as done:
            return done.value

    # operations
    def cached_schema(self, schema_id: int) -> str | None:
        """The schema for ``schema_id`` if already known; never does I/O."""
        return self._by_id.get(schema_id)

    def _schema_for_id(self, schema_id: int) -> _Op[str]:
        text = self._by_id.get(schema_id)
        if text is None:
            text = (yield _Req("GET", f"/schemas/ids/{int(schema_id)}"))["schema"]
            self._by_id[schema_id] = text
        return text

    def _register(self, subject: str, schema_str: str) -> _Op[int]:
        key = (subject, schema_str)
        if key in self._ids:
            return self._ids[key]
        body = {"schema": schema_str, "schemaType": "AVRO"}
        sid = int((yield _Req("POST", f"/subjects/{_subject(subject)}/versions", body))["id"])
        self._ids[key] = sid
        self._by_id.setdefault(sid, schema_str)
        return sid

    def _lookup(self, subject: str, schema_str: str) -> _Op[SchemaVersion | None]:
        body = {"schema": schema_str, "schemaType": "AVRO"}
        found = yield _Req("POST", f"/subjects/{_subject(subject)}", body, missing_ok=True)
        if found is None:
            return None
        sv = SchemaVersion(found["subject"], int(found["version"]), int(found["id"]), found["schema"])
        self._ids[(subject, schema_str)] = sv.id
        self._by_id.setdefault(sv.id, sv.schema)
        return sv

    def _latest(self, subject: str) -> _Op[SchemaVersion]:
        found = yield _Req("GET", f"/subjects/{_subject(subject)}/versions/latest")
        self._by_id.setdefault(int(found["id"]), found["schema"])
        return SchemaVersion(found["subject"], int(found["version"]), int(found["id"]), found["schema"])

    def _test(self, subject: str, schema_str: str, version: int | str | None) -> _Op[list[str]]:
        path = f"/compatibility/subjects/{_subject(subject)}/versions"
        if version is not None:
            path += f"/{version}"
        body = {"schema": schema_str, "schemaType": "AVRO"}
        found = yield _Req("POST", path, body, params={"verbose": "true"})
        if found["is_compatible"]:
            return []
        return list(found.get("messages") or ["incompatible (the registry gave no details)"])

    def _get_level(self, subject: str | None) -> _Op[str]:
        if subject is None:
            return (yield _Req("GET", "/config"))["compatibilityLevel"]
        req = _Req("GET", f"/config/{_subject(subject)}", params={"defaultToGlobal": "true"})
        return (yield req)["compatibilityLevel"]

    def _set_level(self, level: str, subject: str | None) -> _Op[str]:
        path = "/config" if subject is None else f"/config/{_subject(subject)}"
        return (yield _Req("PUT", path, {"compatibility": level.upper()}))["compatibility"]

    def _register_catalogue(self, catalogue: Catalogue) -> _Op[dict[str, int]]:
        ids: dict[str, int] = {}
        refused: list[str] = []
        for ev in catalogue:
            try:
                ids[ev.fullname] = yield from self._register(ev.fullname, ev.schema_str())
            except RegistryError as e:
                if e.status is None:  # unreachable: no point trying the others
                    raise
                refused.append(f"{ev.fullname}: {e}")
        if refused:
            raise RegistryError(f"{len(refused)} event schema(s) refused: " + " | ".join(refused))
        return ids

    def _subjects(self) -> _Op[list[str]]:
        return list((yield _Req("GET", "/subjects")))

    def _versions(self, subject: str) -> _Op[list[int]]:
        return list((yield _Req("GET", f"/subjects/{_subject(subject)}/versions")))

    # async API
    async def schema_for_id(self, schema_id: int) -> str:
        """Writer schema of ``schema_id``: from the cache, or fetched once and cached."""
        text = self._by_id.get(schema_id)
        return text if text is not None else await self._run(self._schema_for_id(schema_id))

    async def get_schema(self, schema_id: int) -> str:
        return await self.schema_for_id(schema_id)

    async def register(self, subject: str, schema_str: str) -> int:
        """Register (or find) ``schema_str`` under ``subject``; its global id."""
        return await self._run(self._register(subject, schema_str))

    async def lookup(self, subject: str, schema_str: str) -> SchemaVersion | None:
        """The version of ``subject`` holding ``schema_str``, or None if it is not registered there."""
        return await self._run(self._lookup(subject, schema_str))

    async def latest(self, subject: str) -> SchemaVersion:
        return await self._run(self._latest(subject))

    async def subjects(self) -> list[str]:
        return await self._run(self._subjects())

    async def versions(self, subject: str) -> list[int]:
        return await self._run(self._versions(subject))

    async def test_compatibility(
        self, subject: str, schema_str: str, version: int | str | None = None
    ) -> list[str]:
        """Why ``schema_str`` would be refused under ``subject`` (empty: it would not be)."""
        return await self._run(self._test(subject, schema_str, version))

    async def get_compatibility(self, subject: str | None = None) -> str:
        return await self._run(self._get_level(subject))

    async def set_compatibility(self, level: str, subject: str | None = None) -> str:
        return await self._run(self._set_level(level, subject))

    async def register_catalogue(self, catalogue: Catalogue) -> dict[str, int]:
        """Register every event under its Avro full name (RecordNameStrategy); fullname -> id."""
        return await self._run(self._register_catalogue(catalogue))

    # sync API
    def schema_for_id_sync(self, schema_id: int) -> str:
        text = self._by_id.get(schema_id)
        return text if text is not None else self._run_sync(self._schema_for_id(schema_id))

    def get_schema_sync(self, schema_id: int) -> str:
        return self.schema_for_id_sync(schema_id)

    def register_sync(self, subject: str, schema_str: str) -> int:
        return self._run_sync(self._register(subject, schema_str))

    def lookup_sync(self, subject: str, schema_str: str) -> SchemaVersion | None:
        return self._run_sync(self._lookup(subject, schema_str))

    def latest_sync(self, subject: str) -> SchemaVersion:
        return self._run_sync(self._latest(subject))

    def subjects_sync(self) -> list[str]:
        return self._run_sync(self._subjects())

    def versions_sync(self, subject: str) -> list[int]:
        return self._run_sync(self._versions(subject))

    def test_compatibility_sync(
        self, subject: str, schema_str: str, version: int | str | None = None
    ) -> list[str]:
        return self._run_sync(self._test(subject, schema_str, version))

    def get_compatibility_sync(self, subject: str | None = None) -> str:
        return self._run_sync(self._get_level(subject))

    def set_compatibility_sync(self, level: str, subject: str | None = None) -> str:
        return self._run_sync(self._set_level(level, subject))

    def register_catalogue_sync(self, catalogue: Catalogue) -> dict[str, int]:
        return self._run_sync(self._register_catalogue(catalogue))

    # lifecycle
    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self.close()

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
