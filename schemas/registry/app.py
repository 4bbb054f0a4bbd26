"""The registry's HTTP API: the Confluent Schema Registry REST subset clients use, as a FastAPI app
over a `SchemaStore`, with Confluent's error bodies and content type."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..stores import SchemaStore
from .errors import InvalidSchema, StoreError
from .model import CONTENT_TYPE
from .store import RegistryStore


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
