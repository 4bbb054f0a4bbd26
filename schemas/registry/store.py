"""The hub's own schema registry: the Confluent Schema Registry REST subset clients use, and a client.

DESIGN principle 2: values are Avro in the Confluent wire format, so any Kafka tool can read them.
With no external registry configured the hub serves this one in-process (``serve``); with one
configured, ``RegistryClient`` talks to it the same way. Ids are global and immutable, subjects
follow RecordNameStrategy (subject = the event's Avro full name), and the default compatibility
level is BACKWARD_TRANSITIVE: the newest schema must read every record ever written.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import httpx
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..catalogue import Catalogue
from ..compat import SchemaError, check, parse_schema
from ..stores import SchemaStore

__all__ = [
    "COMPATIBILITY_LEVELS",
    "CONTENT_TYPE",
    "DEFAULT_COMPATIBILITY",
    "RegistryClient",
    "RegistryError",
    "RegistryServer",
    "RegistryStore",
    "SchemaVersion",
    "StoreError",
    "create_app",
    "serve",
    "stop",
]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
DEFAULT_COMPATIBILITY = "BACKWARD_TRANSITIVE"
COMPATIBILITY_LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
_GLOBAL = ""  # the config row of the global level (a subject cannot be empty)


# --- errors, with Confluent's HTTP status and error_code ------------------------------------------
class StoreError(Exception):
    """A request the registry refuses; ``status`` and ``error_code`` are Confluent's."""

    status = 500
    error_code = 50001

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SubjectNotFound(StoreError):
    status, error_code = 404, 40401


class VersionNotFound(StoreError):
    status, error_code = 404, 40402


class SchemaNotFound(StoreError):
    status, error_code = 404, 40403


class SubjectConfigNotFound(StoreError):
    status, error_code = 404, 40408


class InvalidSchema(StoreError):
    status, error_code = 422, 42201


class InvalidVersion(StoreError):
    status, error_code = 422, 42202


class InvalidCompatibilityLevel(StoreError):
    status, error_code = 422, 42203


class IncompatibleSchema(StoreError):
    status, error_code = 409, 409


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a subject, in Confluent's JSON shape by ``to_json``."""

    subject: str
    version: int
    id: int
    schema: str

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "version": self.version, "id": self.id, "schema": self.schema}


# --- the store ---------------------------------------------------------------------------------------
_meta = sa.MetaData()
_schemas = sa.Table(
    "schemas",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schema", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
)
_versions = sa.Table(
    "subject_versions",
    _meta,
    sa.Column("subject", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("schema_id", sa.Integer, sa.ForeignKey("schemas.id"), nullable=False),
    sa.UniqueConstraint("subject", "schema_id"),
)
_config = sa.Table(
    "config",
    _meta,
    sa.Column("subject", sa.String, primary_key=True),
    sa.Column("compatibility", sa.String, nullable=False),
)


def _fingerprint(schema: str) -> str:
    """Identity of a schema: its JSON with keys sorted and whitespace gone.

    Not the Avro parsing canonical form: that drops defaults, docs, aliases and the catalogue's own
    properties (``pii``), so a schema that only added a default would get the old id and its text
    would never be served. Confluent likewise keeps such schemas apart.
    """
    normal = json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(normal.encode()).hexdigest()


def _level(level: Any) -> str:
    if not isinstance(level, str) or level.upper() not in COMPATIBILITY_LEVELS:
        raise InvalidCompatibilityLevel(
            f"Invalid compatibility level {level!r}; one of {', '.join(COMPATIBILITY_LEVELS)}"
        )
    return level.upper()


def _version_arg(version: int | str) -> int | None:
    """An int >= 1, or None for the latest ("latest" or -1, as Confluent accepts)."""
    given = version
    if isinstance(version, str):
        if version == "latest":
            return None
        try:
            version = int(version)
        except ValueError:
            version = 0
    if version == -1:
        return None
    if not 1 <= version <= 2**31 - 1:
        raise InvalidVersion(
            f"The specified version '{given}' is not a valid version id. "
            'Allowed values are between [1, 2^31-1] and the string "latest"'
        )
    return version


def _compat_problems(level: str, new: str, earlier: list[tuple[int, str]]) -> list[str]:
    """What stops ``new`` joining the versions ``earlier`` (oldest first) at ``level``."""
    if level == "NONE" or not earlier:
        return []
    targets = earlier if level.endswith("_TRANSITIVE") else earlier[-1:]
    problems: list[str] = []
    for version, old in reversed(targets):
        if level.startswith(("BACKWARD", "FULL")):
            problems += [f"version {version}: {p}" for p in check(new, old)]
        if level.startswith(("FORWARD", "FULL")):
            problems += [f"version {version}: {p}" for p in check(old, new, reader_is_newer=False)]
    return problems


class RegistryStore:
    """Subjects, versions, schemas and compatibility config in SQLite, safe to share across threads.

    ``path`` is a file or ``":memory:"``. One lock serialises the writes, so the check-then-insert
    of a registration cannot race another one and ids stay dense and global.
    """

    def __init__(
        self, path: str | os.PathLike[str] = ":memory:", *, compatibility: str = DEFAULT_COMPATIBILITY
    ):
        self.path = str(path)
        self.default_compatibility = _level(compatibility)
        memory = self.path == ":memory:"
        self._engine: Engine = sa.create_engine(
            URL.create("sqlite", database=None if memory else self.path),
            connect_args={"check_same_thread": False},
            poolclass=StaticPool
            if memory
            else None,  # one shared connection: the memory DB is per connection
        )
        _meta.create_all(self._engine)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._engine.dispose()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self._lock, self._engine.begin() as conn:
            yield conn

    # reads
    def subjects(self) -> list[str]:
        with self._tx() as c:
            return list(c.scalars(sa.select(_versions.c.subject).distinct().order_by(_versions.c.subject)))

    def versions(self, subject: str) -> list[int]:
        with self._tx() as c:
            found = list(
                c.scalars(
                    sa.select(_versions.c.version)
                    .where(_versions.c.subject == subject)
                    .order_by(_versions.c.version)
                )
            )
        if not found:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        return found

    def _history(self, c: sa.Connection, subject: str) -> list[SchemaVersion]:
        rows = c.execute(
            sa.select(_versions.c.version, _schemas.c.id, _schemas.c.schema)
            .join(_schemas, _schemas.c.id == _versions.c.schema_id)
            .where(_versions.c.subject == subject)
            .order_by(_versions.c.version)
        )
        return [SchemaVersion(subject, v, i, s) for v, i, s in rows]

    def get_version(self, subject: str, version: int | str = "latest") -> SchemaVersion:
        wanted = _version_arg(version)
        with self._tx() as c:
            history = self._history(c, subject)
        if not history:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        if wanted is None:
            return history[-1]
        for sv in history:
            if sv.version == wanted:
                return sv
        raise VersionNotFound(f"Version {wanted} not found.")

    def schema_by_id(self, schema_id: int) -> str:
        with self._tx() as c:
            text = c.scalar(sa.select(_schemas.c.schema).where(_schemas.c.id == schema_id))
        if text is None:
            raise SchemaNotFound(f"Schema {schema_id} not found")
        return text

    def versions_for_id(self, schema_id: int) -> list[tuple[str, int]]:
        self.schema_by_id(schema_id)
        with self._tx() as c:
            rows = c.execute(
                sa.select(_versions.c.subject, _versions.c.version)
                .where(_versions.c.schema_id == schema_id)
                .order_by(_versions.c.subject, _versions.c.version)
            )
            return [(s, v) for s, v in rows]

    def lookup(self, subject: str, schema: str, schema_type: str = "AVRO") -> SchemaVersion:
        """The version of ``subject`` holding ``schema``; SchemaNotFound if there is none."""
        fp = self._validate(schema, schema_type)
        with self._tx() as c:
            history = self._history(c, subject)
            if not history:
                raise SubjectNotFound(f"Subject '{subject}' not found.")
            sid = c.scalar(sa.select(_schemas.c.id).where(_schemas.c.fingerprint == fp))
        for sv in history:
            if sv.id == sid:
                return sv
        raise SchemaNotFound("Schema not found")

    # compatibility config
    def get_compatibility(self, subject: str | None = None, *, default_to_global: bool = True) -> str:
        with self._tx() as c:
            own = c.scalar(
                sa.select(_config.c.compatibility).where(_config.c.subject == (subject or _GLOBAL))
            )
            if own is not None or subject is None:
                return own or self.default_compatibility
            if not default_to_global:
                raise SubjectConfigNotFound(
                    f"Subject '{subject}' does not have subject-level compatibility configured"
                )
            glob = c.scalar(sa.select(_config.c.compatibility).where(_config.c.subject == _GLOBAL))
            return glob or self.default_compatibility

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        level = _level(level)
        key = subject or _GLOBAL
        with self._tx() as c:
            c.execute(sa.delete(_config).where(_config.c.subject == key))
            c.execute(sa.insert(_config).values(subject=key, compatibility=level))
        return level

    def delete_compatibility(self, subject: str) -> str:
        """Drop the subject's own level (it follows the global one again); returns the dropped level."""
        level = self.get_compatibility(subject, default_to_global=False)
        with self._tx() as c:
            c.execute(sa.delete(_config).where(_config.c.subject == subject))
        return level

    def test_compatibility(
        self, subject: str, schema: str, version: int | str | None = None, schema_type: str = "AVRO"
    ) -> list[str]:
        """Problems ``schema`` would have in ``subject`` (empty: compatible).

        With ``version``, against that one version in the direction(s) of the subject's level;
        without, against the versions the level says (all of them for *_TRANSITIVE).
        """
        self._validate(schema, schema_type)
        level = self.get_compatibility(subject)
        with self._tx() as c:
            history = self._history(c, subject)
        if version is None:
            return _compat_problems(level, schema, [(v.version, v.schema) for v in history])
        if not history:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        target = self.get_version(subject, version)
        return _compat_problems(level.removesuffix("_TRANSITIVE"), schema, [(target.version, target.schema)])

    # writes
    def _validate(self, schema: str, schema_type: str) -> str:
        if (schema_type or "AVRO").upper() != "AVRO":
            raise InvalidSchema(f"Schema type {schema_type} is not supported; this registry serves AVRO only")
        if not isinstance(schema, str):
            raise InvalidSchema("Invalid schema: 'schema' must be the schema's JSON as a string")
        try:
            parse_schema(schema)
            return _fingerprint(schema)
        except (SchemaError, ValueError) as e:
            raise InvalidSchema(f"Invalid schema {schema[:200]}: {e}") from e

    def register(self, subject: str, schema: str, schema_type: str = "AVRO") -> int:
        """Register ``schema`` under ``subject``; the existing id if it is already there.

        The same schema under another subject keeps its global id. IncompatibleSchema (409) when
        the subject's compatibility level refuses it, naming each field and why.
        """
        if not subject:
            raise StoreError("subject must not be empty")
        fp = self._validate(schema, schema_type)
        with self._tx() as c:
            history = self._history(c, subject)
            sid = c.scalar(sa.select(_schemas.c.id).where(_schemas.c.fingerprint == fp))
            if sid is not None and any(v.id == sid for v in history):
                return sid
            own = c.scalar(sa.select(_config.c.compatibility).where(_config.c.subject == subject))
            glob = c.scalar(sa.select(_config.c.compatibility).where(_config.c.subject == _GLOBAL))
            level = own or glob or self.default_compatibility
            problems = _compat_problems(level, schema, [(v.version, v.schema) for v in history])
            if problems:
                raise IncompatibleSchema(
                    f'Schema being registered is incompatible with an earlier schema for subject "{subject}" '
                    f"({level}): " + "; ".join(problems)
                )
            if sid is None:
                sid = c.execute(
                    sa.insert(_schemas).values(schema=schema, fingerprint=fp)
                ).inserted_primary_key[0]
            version = (history[-1].version if history else 0) + 1
            c.execute(sa.insert(_versions).values(subject=subject, version=version, schema_id=sid))
            return int(sid)


# --- the HTTP API ------------------------------------------------------------------------------------
class _RegistryJSON(JSONResponse):
    media_type = CONTENT_TYPE


def _error(status: int, code: int, message: str) -> JSONResponse:
    return _RegistryJSON({"error_code": code, "message": message}, status_code=status)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


async def _body(request: Request) -> dict[str, Any]:
    """The JSON body whatever the content type says: curl users often send none."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError as e:
        raise InvalidSchema(f"request body is not JSON: {e}") from e
    if not isinstance(body, dict):
        raise InvalidSchema("request body must be a JSON object")
    return body


def _schema_args(body: dict[str, Any]) -> tuple[str, str]:
    if body.get("references"):
        raise InvalidSchema("schema references are not supported; register self-contained schemas")
    if "schema" not in body:
        raise InvalidSchema("request body has no 'schema'")
    return body["schema"], body.get("schemaType") or "AVRO"


def create_app(store: SchemaStore | None = None) -> FastAPI:
    """The registry as a FastAPI app over ``store`` (a fresh in-memory one if not given)."""
    store = store if store is not None else RegistryStore()
    app = FastAPI(title="Fengqiao schema registry", default_response_class=_RegistryJSON, openapi_url=None)
    app.state.store = store

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, e: StoreError) -> JSONResponse:
        return _error(e.status, e.error_code, e.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return _error(e.status_code, e.status_code, str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, e: RequestValidationError) -> JSONResponse:
        return _error(422, 422, "; ".join(f"{'/'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()))

    @app.middleware("http")
    async def _content_type(request: Request, call_next: Callable[[Request], Any]) -> Response:
        """Answer plain ``application/json`` to a client that accepts only that."""
        response: Response = await call_next(request)
        accept = request.headers.get("accept", "")
        plain = "application/json" in accept and "schemaregistry" not in accept and "*/*" not in accept
        if plain and response.headers.get("content-type", "").startswith(CONTENT_TYPE):
            response.headers["content-type"] = "application/json"
        return response

    @app.get("/")
    def root() -> dict[str, Any]:
        return {}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/schemas/types")
    def schema_types() -> list[str]:
        return ["AVRO"]

    @app.get("/subjects")
    def subjects() -> list[str]:
        return store.subjects()

    @app.post("/subjects/{subject}/versions")
    async def register(subject: str, request: Request) -> dict[str, int]:
        schema, schema_type = _schema_args(await _body(request))
        return {"id": await run_in_threadpool(store.register, subject, schema, schema_type)}

    @app.post("/subjects/{subject}")
    async def lookup(subject: str, request: Request) -> dict[str, Any]:
        schema, schema_type = _schema_args(await _body(request))
        return (await run_in_threadpool(store.lookup, subject, schema, schema_type)).to_json()

    @app.get("/subjects/{subject}/versions")
    def versions(subject: str) -> list[int]:
        return store.versions(subject)

    @app.get("/subjects/{subject}/versions/{version}")
    def get_version(subject: str, version: str) -> dict[str, Any]:
        return store.get_version(subject, version).to_json()

    @app.get("/subjects/{subject}/versions/{version}/schema")
    def get_version_schema(subject: str, version: str) -> Response:
        return Response(store.get_version(subject, version).schema, media_type=CONTENT_TYPE)

    @app.get("/schemas/ids/{schema_id}")
    def get_schema(schema_id: int) -> dict[str, str]:
        return {"schema": store.schema_by_id(schema_id)}

    @app.get("/schemas/ids/{schema_id}/schema")
    def get_schema_raw(schema_id: int) -> Response:
        return Response(store.schema_by_id(schema_id), media_type=CONTENT_TYPE)

    @app.get("/schemas/ids/{schema_id}/versions")
    def schema_versions(schema_id: int) -> list[dict[str, Any]]:
        return [{"subject": s, "version": v} for s, v in store.versions_for_id(schema_id)]

    @app.get("/schemas/ids/{schema_id}/subjects")
    def schema_subjects(schema_id: int) -> list[str]:
        return sorted({s for s, _ in store.versions_for_id(schema_id)})

    async def _compatibility(subject: str, version: str | None, request: Request) -> dict[str, Any]:
        schema, schema_type = _schema_args(await _body(request))
        problems = await run_in_threadpool(store.test_compatibility, subject, schema, version, schema_type)
        out: dict[str, Any] = {"is_compatible": not problems}
        if _truthy(request.query_params.get("verbose")):
            out["messages"] = problems
        return out

    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    async def compatibility_version(subject: str, version: str, request: Request) -> dict[str, Any]:
        return await _compatibility(subject, version, request)

    @app.post("/compatibility/subjects/{subject}/versions")
    async def compatibility_all(subject: str, request: Request) -> dict[str, Any]:
        return await _compatibility(subject, None, request)

    def _level_of(body: dict[str, Any]) -> Any:
        return body.get("compatibility", body.get("compatibilityLevel"))

    @app.get("/config")
    def get_config() -> dict[str, str]:
        return {"compatibilityLevel": store.get_compatibility()}

    @app.put("/config")
    async def put_config(request: Request) -> dict[str, str]:
        return {"compatibility": store.set_compatibility(_level_of(await _body(request)))}

    @app.get("/config/{subject}")
    def get_subject_config(
        subject: str, default_to_global: Annotated[str | None, Query(alias="defaultToGlobal")] = None
    ) -> dict[str, str]:
        # Confluent answers 40408 for a subject without its own level unless defaultToGlobal=true
        level = store.get_compatibility(subject, default_to_global=_truthy(default_to_global))
        return {"compatibilityLevel": level}

    @app.put("/config/{subject}")
    async def put_subject_config(subject: str, request: Request) -> dict[str, str]:
        return {"compatibility": store.set_compatibility(_level_of(await _body(request)), subject)}

    @app.delete("/config/{subject}")
    def delete_subject_config(subject: str) -> dict[str, str]:
        return {"compatibilityLevel": store.delete_compatibility(subject)}

    return app


# --- running it in-process ---------------------------------------------------------------------------
class RegistryServer(uvicorn.Server):
    """uvicorn for the embedded registry: signals stay the hub's, readiness is an event."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.url = ""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the hub handles SIGINT/SIGTERM and calls stop()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


async def serve(store: RegistryStore, host: str = "127.0.0.1", port: int = 0) -> tuple[RegistryServer, str]:
    """Serve the registry on ``host:port`` in this event loop (port 0: a free one); (server, url)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    # log_config=None: leave the hub's logging configuration alone
    config = uvicorn.Config(create_app(store), lifespan="off", log_config=None, access_log=False, http="h11")
    server = RegistryServer(config)
    server.task = asyncio.create_task(server.serve(sockets=[sock]), name="fengqiao-schema-registry")
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait({server.task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if not server.ready.is_set():
        ready.cancel()
        sock.close()
        server.task.result()  # raises what stopped it
        raise RuntimeError(f"schema registry on {host}:{port} stopped before it started")
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    shown = f"[{shown}]" if ":" in shown else shown
    server.url = f"http://{shown}:{sock.getsockname()[1]}"
    return server, server.url


async def stop(server: RegistryServer, timeout: float = 10.0) -> None:
    """Stop a server from ``serve``: finish in-flight requests, then close (force after ``timeout``)."""
    server.should_exit = True
    if server.task is None:
        return
    try:
        await asyncio.wait_for(asyncio.shield(server.task), timeout)
    except TimeoutError:
        server.force_exit = True
        await server.task


# --- the client --------------------------------------------------------------------------------------
class RegistryError(RuntimeError):
    """The registry refused a request (``error_code`` as it sent it) or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, error_code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


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
