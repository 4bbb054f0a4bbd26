"""The HTTP API (FastAPI): authentication, limits, content checks, and the routes.

`create_app(service)` builds the app; with no service (``create_app()``) it still describes every
route, which is how `fengqiao gateway openapi` writes docs/openapi.json without a running hub.
Every refusal has one shape: ``{"error": {"status", "rule", "message", "fields": [...]}}``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from fengqiao import logs, metrics
from fengqiao.schemas.validation import Invalid, decode, id_error

from ..authz import Forbidden
from ..personal_view import PersonalView
from ..runtime import HubLink
from ..sdk import Health as ConnectorHealth
from ..sdk import RetriableError
from .intake import RULES_ZH, ApiError, Intake, unavailable
from .keys import KeyRefused
from .limits import AuthThrottle, RateLimiter
from .models import BatchAccepted, Case, CloudEvent, Error, EventAccepted, FieldProblem, Health, Tasks
from .stores import ApiKeyStore

log = logs.get(__name__)
VERSION = "1.0.0"
JSON_TYPES = ("application/json", "application/cloudevents+json", "application/cloudevents-batch+json")

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key> (接口密钥)")
_header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="or the key in X-API-Key")


@dataclass
class Service:
    """What the routes need of a running gateway."""

    hub: HubLink
    intake: Intake
    keys: ApiKeyStore
    limiter: RateLimiter
    max_body_bytes: int
    health: ConnectorHealth
    # Failed authentication per client address: 20 at once, then one per 5 s (GatewayConfig).
    auth_throttle: AuthThrottle = field(default_factory=lambda: AuthThrottle(0.2, 20))
    # Personal fields in clear or masked per agency, clear reads logged (None: masked for all).
    personal: PersonalView | None = None

    def view(self, obj: Any, agency: str, entry: str, key_id: str, case_id: str = "") -> Any:
        personal = self.personal or PersonalView(None, None)
        return personal.for_agency(obj, agency, entry, key_id=key_id, case_id=case_id)


def _service(request: Request) -> Service:
    service: Service | None = getattr(request.app.state, "service", None)
    if service is None:
        raise unavailable("the gateway is starting")
    return service


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header_key)],
) -> str:
    """The agency whose API key came with the request (401 otherwise), within its rate (429).

    An address that failed too often is refused (429) before its key is looked up, so keys cannot
    be guessed at the gateway's speed; only failures count, a good key never uses the address's
    tokens up."""
    service = _service(request)
    address = request.client.host if request.client else "-"
    wait = service.auth_throttle.blocked(address)
    if wait:
        log.warning("gateway.auth_throttled", address=address, retry_after=wait)
        raise ApiError(
            429,
            "auth-rate-limited",
            f"密钥验证失败次数过多，请 {wait} 秒后重试 "
            f"(too many failed API keys from {address}: retry after {wait} s)",
            headers={"Retry-After": str(wait)},
        )
    key = bearer.credentials if bearer is not None else header_key
    challenge = {"WWW-Authenticate": 'Bearer realm="fengqiao"'}
    if not key:
        service.auth_throttle.failed(address)
        raise ApiError(
            401,
            "api-key-required",
            "缺少接口密钥：请在 Authorization: Bearer <密钥> 或 X-API-Key 中提供 "
            "(no API key: send Authorization: Bearer <key>, or X-API-Key; ask the county judicial bureau)",
            headers=challenge,
        )
    try:
        found = service.keys.verify(key)
    except KeyRefused as e:
        service.auth_throttle.failed(address)
        zh = _KEY_ZH.get(e.rule, "接口密钥无效")
        raise ApiError(
            401, e.rule, f"{zh}，请向县司法局申请新密钥 ({e.reason}: ask for a new key)", headers=challenge
        ) from e
    wait = service.limiter.take(found.agency_id)
    if wait:
        raise ApiError(
            429,
            "rate-limited",
            f"请求过于频繁，请 {wait} 秒后重试 "
            f"(too many requests for {found.agency_id}: retry after {wait} s)",
            headers={"Retry-After": str(wait)},
        )
    request.state.key_id = found.key_id  # for the read log: which of the agency's keys read
    return found.agency_id


def _key_id(request: Request) -> str:
    return str(getattr(request.state, "key_id", ""))


_KEY_ZH = {"api-key-revoked": "接口密钥已被吊销", "api-key-expired": "接口密钥已过期"}
Agency = Annotated[str, Depends(caller)]
_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "no API key, or an unknown, revoked or expired one (api-key-*)"},
    429: {
        "model": Error,
        "description": "over the agency's rate, or too many failed keys from the address "
        "(auth-rate-limited): wait the seconds in Retry-After",
    },
    503: {"model": Error, "description": "the hub is unreachable: retry after Retry-After, same id"},
}


def create_app(service: Service | None = None) -> FastAPI:
    app = FastAPI(
        title="Fengqiao Hub gateway 枫桥枢纽接口",
        version=VERSION,
        description=(
            "Agency systems publish CloudEvents to the hub and read their cases and tasks. "
            "See docs/gateway.md. 各机构系统向枢纽发布事件、查询本机构案件与待办。"
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.service = service
    _handlers(app)

    @app.post(
        "/v1/events",
        status_code=202,
        summary="Publish one event or a batch 发布事件",
        response_model=EventAccepted | BatchAccepted,
        responses={
            202: {"description": "held in the ledger: an EventAccepted, or a BatchAccepted for a batch"},
            400: {"model": Error, "description": "invalid: each field named (rule invalid-event, ...)"},
            403: {
                "model": Error,
                "description": "not allowed: rule event-type-allowed, own-jurisdiction, ...",
            },
            409: {"model": Error, "description": "this source and id were accepted with other content"},
            413: {"model": Error, "description": "body over the size limit, or a batch too long"},
            415: {"model": Error, "description": "not JSON: send Content-Type application/cloudevents+json"},
            **_REFUSALS,
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/cloudevents+json": {"schema": {"$ref": "#/components/schemas/CloudEvent"}},
                    "application/cloudevents-batch+json": {
                        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/CloudEvent"}}
                    },
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/CloudEvent"},
                                {"type": "array", "items": {"$ref": "#/components/schemas/CloudEvent"}},
                            ]
                        }
                    },
                },
            }
        },
    )
    async def post_events(request: Request, agency: Agency) -> JSONResponse:
        """One CloudEvent (an object) or a batch (an array), answered 202 once the hub's ledger holds
        it. The same event again (same source and id) gets the same answer and is stored once; a
        batch is all or nothing."""
        service = _service(request)
        _content_type(request)
        doc = _json(await _body(request, service.max_body_bytes), service.max_body_bytes)
        answer = await (service.intake.batch if isinstance(doc, list) else service.intake.one)(agency, doc)
        _count(answer.status, answer.body)
        return JSONResponse(answer.body, answer.status, answer.headers)

    @app.get(
        "/v1/cases/{case_id}",
        summary="A case the agency is party to or that lies in its area 查询案件",
        response_model=Case,
        responses={
            400: {"model": Error, "description": "not a case id (rule invalid-request; docs/publishing.md)"},
            403: {"model": Error, "description": "rule own-jurisdiction"},
            404: {"model": Error, "description": "no such case"},
            **_REFUSALS,
        },
    )
    async def get_case(request: Request, case_id: str, agency: Agency) -> JSONResponse:
        """The case's state. Personal fields in clear for an agency the directory lets see them (each
        such read in the read log with the agency and its key), masked (``3301**********1234``) for
        any other."""
        service = _service(request)
        if (bad := id_error("case_id", case_id)) is not None:
            raise ApiError(
                400,
                "invalid-request",
                "案件编号不合格 (not a case id)",
                [FieldProblem(field=bad.path, reason=bad.reason)],
            )
        case = await _hub(service.hub.case(case_id))
        if case is None:
            raise ApiError(404, "case-unknown", f"没有此案件 (no case {case_id!r})")
        refused = may_read(service, agency, case)
        if refused is not None:
            log.warning("case.read_refused", agency=agency, case_id=case_id, rule=refused.rule)
            raise ApiError(403, refused.rule, f"{RULES_ZH[refused.rule]} ({refused.reason})")
        log.info("case.read", agency=agency, case_id=case_id)
        return JSONResponse(service.view(case, agency, "gateway:/v1/cases", _key_id(request), case_id))

    @app.get(
        "/v1/tasks",
        summary="Open handoffs the agency must act on 本机构待办",
        response_model=Tasks,
        responses=_REFUSALS,
    )
    async def get_tasks(request: Request, agency: Agency) -> Tasks:
        """Open handoffs obliged on the agency or escalated to it, the earliest deadline first; personal
        fields in clear or masked as for the case."""
        service = _service(request)
        found = await _hub(_tasks(service.hub.workers, agency))
        key_id = _key_id(request)
        tasks = [
            service.view(t, agency, "gateway:/v1/tasks", key_id, str(t.get("case_id", ""))) for t in found
        ]
        log.info("tasks.read", agency=agency, tasks=len(tasks))
        return Tasks.model_validate({"agency": agency, "tasks": tasks})

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        """For the operator's scraper, without a key: agency keys are for agencies, and the numbers carry
        no case data (docs/operations.md: keep the gateway's address off the internet or filter /metrics)."""
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    @app.get("/v1/health", summary="Is the gateway up 健康检查", response_model=Health)
    async def health(request: Request) -> Health:
        service = _service(request)
        h = service.health
        return Health(status=h.status, detail=h.detail, counters=dict(h.counters))

    return app


def may_read(service: Service, agency_id: str, case: dict[str, Any]) -> Forbidden | None:
    """Why ``agency_id`` may not read ``case``, or None: the publishing rule's ``own-jurisdiction``
    (authz.py: a party fixed by the opening event and the hub, or the whole case in its area)."""
    auth = service.intake.outbox.authorizer
    try:
        agency = auth.agency(agency_id)
        auth.check_case(agency, "", str(case.get("case_id")), case, set(auth.case_places(case)))
    except Forbidden as f:
        return f
    return None


async def _tasks(workers: list[str], agency: str) -> list[dict[str, Any]]:
    """Every worker's open handoffs for the agency (each worker holds its own partitions' cases)."""
    async with httpx.AsyncClient(timeout=10.0) as http:

        async def one(url: str) -> list[dict[str, Any]]:
            try:
                r = await http.get(f"{url}/tasks/", params={"agency": agency})
                r.raise_for_status()
            except httpx.HTTPError as e:
                raise RetriableError(f"worker {url} did not answer: {e}") from e
            return r.json()  # type: ignore[no-any-return]

        found = [t for ts in await asyncio.gather(*(one(u) for u in workers)) for t in ts]
    return sorted(found, key=lambda t: (t.get("deadline") is None, t.get("deadline") or "", t["handoff_id"]))


async def _hub(work: Any) -> Any:
    try:
        return await work
    except RetriableError as e:
        raise unavailable(str(e)) from e


def _content_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in JSON_TYPES:
        raise ApiError(
            415,
            "unsupported-media-type",
            f"请以 JSON 发送 (send JSON: Content-Type {' or '.join(JSON_TYPES)}; got {ctype or 'none'})",
        )


async def _body(request: Request, limit: int) -> bytes:
    too_large = ApiError(
        413,
        "body-too-large",
        f"请求体超过 {limit} 字节，请分批发送 (body over {limit} bytes: send smaller batches)",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():  # a body without Content-Length is counted as it comes
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _json(body: bytes, limit: int) -> Any:
    """The body decoded, its nesting checked first (schemas/validation.py: deep JSON never reaches
    the decoder's recursion)."""
    try:
        return decode(body, limit=limit)
    except Invalid as e:
        raise ApiError(
            400,
            "invalid-json",
            "请求体不是合法 JSON，或嵌套过深 (the body is not JSON the hub takes: see fields)",
            [FieldProblem(field=fe.path, reason=fe.reason) for fe in e.errors],
        ) from e


def _count(status: int, body: dict[str, Any]) -> None:
    """An answer in the metrics: events accepted (replays included), refusals by rule. A batch counts
    per item, as the items' answers say (a refused batch holds its 202 items), so the counts do not
    depend on how senders batch."""
    items = body.get("results")
    if items is None:
        items = [{**body, "status": status}]
    for item in items:
        if item.get("status") == 202:
            metrics.GATEWAY_ACCEPTED.inc()
        else:
            metrics.GATEWAY_REFUSED.labels((item.get("error") or {}).get("rule", "unknown")).inc()


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        answer = e.answer()
        _count(answer.status, answer.body)
        if answer.status >= 500:
            log.warning("gateway.unavailable", path=request.url.path, rule=e.detail.rule)
        return JSONResponse(answer.body, answer.status, answer.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        rule = {404: "not-found", 405: "method-not-allowed"}.get(e.status_code, "http-error")
        metrics.GATEWAY_REFUSED.labels(rule).inc()
        return JSONResponse(
            ApiError(e.status_code, rule, f"{e.detail} ({request.method} {request.url.path}; see /docs)")
            .answer()
            .body,
            e.status_code,
            getattr(e, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        fields = [
            FieldProblem(field=".".join(str(p) for p in err.get("loc", ())), reason=str(err.get("msg", "")))
            for err in e.errors()
        ]
        metrics.GATEWAY_REFUSED.labels("invalid-request").inc()
        return JSONResponse(
            ApiError(400, "invalid-request", "请求不合格 (invalid request)", fields).answer().body, 400
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception) -> JSONResponse:
        log.exception("gateway.failed", path=request.url.path)
        message = "枢纽内部错误，请稍后重试 (internal error: retry later; the operators have the log)"
        return JSONResponse(ApiError(500, "internal-error", message).answer().body, 500)

    original = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, plus the CloudEvent schema the raw request body refers to."""
        if app.openapi_schema is None:
            spec = original()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas["CloudEvent"] = CloudEvent.model_json_schema(ref_template="#/components/schemas/{model}")
            # No parameter can fail FastAPI's own checks (422): every refusal is an Error, listed per route.
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            for path in spec["paths"].values():
                for op in path.values():
                    op.get("responses", {}).pop("422", None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_spec() -> dict[str, Any]:
    """The OpenAPI document as checked in at docs/openapi.json."""
    return create_app().openapi()
