"""A real agency-side webhook receiver for the conformance kit and the tests (Starlette on uvicorn).

It listens on 127.0.0.1 (a free port), one path per agency (``/hooks/<agency>``), checks every
request's Standard Webhooks signature with that agency's ``whsec_`` secret, as an agency's own
library would (a bad one gets 401 and is counted, never taken),
and records what it took, in order, repeats included. It can fail (500) the next deliveries, a
case's or an agency's, answer with a status of choice, and be slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..conformance import SinkHarness
from .signature import BadSignature, new_secret, signing_key, verify

AGENCIES = ("qs-jo-1", "qs-jb")  # the demo judicial office and county bureau (scenario.AGENCIES)


@dataclass(frozen=True)
class Received:
    agency: str
    event_id: str
    case_id: str
    type: str
    delivery_id: str
    attempt: int
    signed_at: int  # the signature's timestamp
    body: dict[str, Any]
    raw: bytes = b""  # the body and headers exactly as received, to check them again in a test
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Failing:
    """Answer ``status`` to matching deliveries: ``times`` of them (None: all)."""

    times: int | None
    agency: str | None = None
    case_id: str | None = None
    status: int = 500
    headers: dict[str, str] | None = None

    def matches(self, agency: str, case_id: str) -> bool:
        return self.agency in (None, agency) and self.case_id in (None, case_id)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C belongs to whoever runs the harness (the kit, a test)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebhookHarness(SinkHarness):
    def __init__(self, workdir: Path | None = None, agencies: tuple[str, ...] = AGENCIES) -> None:
        self.workdir = workdir
        self.secrets = {a: new_secret() for a in agencies}
        self.log: list[Received] = []
        self.attempts: list[tuple[str, str, int]] = []  # (agency, event_id, status answered), every request
        self.bad_signatures: list[str] = []
        self.rules: list[Failing] = []
        self.delay_s = 0.0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))  # reserved now, so config() is right before open()
        self.port = self._sock.getsockname()[1]
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    # -- the kit's interface -------------------------------------------------------------------------

    def url(self, agency: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{agency}"

    def config(self) -> dict[str, Any]:
        return {
            "endpoints": [{"agency": a, "url": self.url(a), "secret": s} for a, s in self.secrets.items()],
            "max_attempts": 4,
            "backoff_initial_s": 0.02,
            "backoff_max_s": 0.2,
            "timeout_s": 5.0,
        }

    async def open(self) -> None:
        app = Starlette(routes=[Route("/hooks/{agency}", self._receive, methods=["POST"])])
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = _Server(config)
        self._sock.listen(128)
        self._task = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._sock.close()

    async def received(self) -> list[str]:
        return [r.event_id for r in self.log]

    def fail_next(self, n: int, *, agency: str | None = None, case_id: str | None = None) -> None:
        self.rules.append(Failing(n, agency, case_id))

    def fail_case(self, case_id: str) -> None:
        self.rules.append(Failing(None, case_id=case_id))

    def slow(self, seconds: float) -> None:
        self.delay_s = seconds

    def cases(self) -> list[str]:
        return list(dict.fromkeys(r.case_id for r in self.log))

    # -- more for the tests --------------------------------------------------------------------------

    def fail_agency(
        self,
        agency: str,
        *,
        case_id: str | None = None,
        status: int = 500,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer ``status`` to every delivery to ``agency`` (of ``case_id`` only, if given)."""
        self.rules.append(Failing(None, agency, case_id, status, headers))

    def heal(self) -> None:
        self.rules.clear()

    def taken(self, agency: str | None = None, case_id: str | None = None) -> list[Received]:
        return [r for r in self.log if agency in (None, r.agency) and case_id in (None, r.case_id)]

    # -- the receiver --------------------------------------------------------------------------------

    async def _receive(self, request: Request) -> Response:
        agency = request.path_params["agency"]
        body = await request.body()
        event_id = request.headers.get("fengqiao-event-id", "")
        secret = self.secrets.get(agency)
        if secret is None:
            return JSONResponse({"error": f"no agency {agency} here"}, status_code=404)
        try:
            signed_at = verify(signing_key(secret), request.headers, body)
            event = json.loads(body)
        except (BadSignature, ValueError) as e:
            self.bad_signatures.append(f"{agency} {event_id}: {e}")
            self.attempts.append((agency, event_id, 401))
            return JSONResponse({"error": str(e)}, status_code=401)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        case_id = str(event.get("subject", ""))
        for rule in self.rules:
            if rule.matches(agency, case_id) and rule.times != 0:
                if rule.times is not None:
                    rule.times -= 1
                self.attempts.append((agency, event_id, rule.status))
                return JSONResponse({"error": "failing on purpose"}, rule.status, headers=rule.headers)
        self.attempts.append((agency, event_id, 200))
        self.log.append(
            Received(
                agency,
                event_id,
                case_id,
                str(event.get("type", "")),
                request.headers.get("webhook-id", ""),
                int(request.headers.get("fengqiao-attempt", "0")),
                signed_at,
                event,
                body,
                dict(request.headers),
            )
        )
        return JSONResponse({"ok": True})
