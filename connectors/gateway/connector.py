"""The HTTP gateway (HTTP 接入网关) as a source connector: agency systems POST CloudEvents to it.

`fengqiao up` runs it beside the workers (``Hub.start``), through the same `run_connector` as any
other connector, so it publishes through the `Outbox`: validated, authorised per agency, answered
202 only once the ledger holds the event. uvicorn serves the FastAPI app in the hub's own event
loop, on a socket bound in `start` — so a taken port fails the start with a clear reason, and the
bound address (port 0 = any free port) is known, and written to ``url_file``, before any request.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from pydantic import Field

from fengqiao import logs

from ..personal_view import PersonalView
from ..sdk import ConnectorConfig, ConnectorFailed, Source
from .api import Service, create_app
from .idempotency import AnswerStore
from .intake import Intake
from .keys import KeyStore
from .limits import AuthThrottle, RateLimiter
from .url_file import read_url, write_url

if TYPE_CHECKING:
    from ..conformance import Harness
    from ..runtime import Outbox

log = logs.get(__name__)


class GatewayConfig(ConnectorConfig):
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8400, ge=0, le=65535, description="port to listen on; 0 = any free port")
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="largest request body (413 above)")
    max_batch: int = Field(default=500, ge=1, description="most events in one batch (413 above)")
    rate_per_s: float = Field(default=50.0, gt=0, description="requests per second per agency, sustained")
    burst: int = Field(default=200, ge=1, description="requests an agency may send at once (token bucket)")
    auth_failures_per_s: float = Field(
        default=0.2, gt=0, description="failed API keys per second per client address, sustained (429 above)"
    )
    auth_failure_burst: int = Field(
        default=20, ge=1, description="failed API keys an address may send at once"
    )
    keys_db: Path | None = Field(default=None, description="API key store; default data_dir/gateway/keys.db")
    answers_db: Path | None = Field(default=None, description="idempotency store; default in the state dir")
    remember_days: int = Field(default=30, ge=1, description="how long an accepted answer is kept")
    url_file: Path | None = Field(default=None, description="where to write the bound URL; default state dir")


class _Server(uvicorn.Server):
    """uvicorn in someone else's event loop: the hub (or the kit) owns the signals, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpGateway(Source[GatewayConfig]):
    """POST /v1/events, GET /v1/cases/{id}, GET /v1/tasks for agency systems, with per-agency keys."""

    Config = GatewayConfig
    summary = "HTTP gateway: agency systems POST CloudEvents with an API key (POST /v1/events)"

    def __init__(self, config: GatewayConfig, context: Any) -> None:
        super().__init__(config, context)
        self.url: str | None = None
        self._sock: socket.socket | None = None
        self._keys: KeyStore | None = None
        self._answers: AnswerStore | None = None
        self._protection: Any = None  # streams.personal.protection.Protection, when protection is on

    @staticmethod
    def keys_path(settings: Any) -> Path:
        return Path(settings.data_dir) / "gateway" / "keys.db"

    @property
    def url_file(self) -> Path:
        return self.config.url_file or self.context.state_dir / "url"

    async def start(self) -> None:
        c = self.config
        family = socket.AF_INET6 if ":" in c.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((c.host, c.port))
        except OSError as e:
            sock.close()
            raise ConnectorFailed(
                f"网关端口被占用 the gateway cannot listen on {c.host}:{c.port} ({e.strerror}): another hub "
                "may be running; set FENGQIAO_GATEWAY_PORT to a free port (0 = any free port)"
            ) from e
        sock.listen(128)
        sock.setblocking(False)
        self._sock = sock
        port = sock.getsockname()[1]
        host = f"[{c.host}]" if family == socket.AF_INET6 else c.host
        self.url = f"http://{host}:{port}"
        self.context.state_dir.mkdir(parents=True, exist_ok=True)
        self._keys = KeyStore(c.keys_db or self.keys_path(self.context.settings))
        self._answers = AnswerStore(c.answers_db or self.context.state_dir / "answers.db", c.remember_days)
        settings = self.context.settings
        if getattr(settings, "protect_personal", False):
            from fengqiao.schemas.catalogue import load
            from fengqiao.streams.personal.protection import Protection

            hub = self.context.hub
            catalogue = hub.codec.catalogue if hub is not None else load()
            self._protection = Protection.from_settings(settings, catalogue)
        write_url(self.url_file, self.url)
        log.info("gateway.listening", url=self.url)

    async def run(self, outbox: Outbox) -> None:
        assert self._sock is not None and self._keys is not None and self._answers is not None
        c = self.config
        service = Service(
            hub=outbox.hub,
            intake=Intake(outbox, self._answers, self._health, max_batch=c.max_batch),
            keys=self._keys,
            limiter=RateLimiter(c.rate_per_s, c.burst),
            max_body_bytes=c.max_body_bytes,
            health=self._health,
            auth_throttle=AuthThrottle(c.auth_failures_per_s, c.auth_failure_burst),
            personal=PersonalView(
                self._protection.revealer if self._protection is not None else None,
                outbox.hub.directory,
            ),
        )
        config = uvicorn.Config(
            create_app(service),
            lifespan="off",
            log_config=None,  # the hub's structlog set-up stays as it is
            access_log=False,
            timeout_graceful_shutdown=10,
        )
        server = _Server(config)
        serving = asyncio.ensure_future(server.serve(sockets=[self._sock]))
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            # Stop taking requests, let those in flight get their answer (each was published or not).
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(serving), 15)
            if not serving.done():
                server.force_exit = True
                serving.cancel()
            raise

    async def stop(self) -> None:
        if self.url is not None and read_url(self.url_file) == self.url:
            self.url_file.unlink(missing_ok=True)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for store in (self._keys, self._answers):
            if store is not None:
                store.close()
        self._keys = self._answers = None
        if self._protection is not None:
            self._protection.close()
            self._protection = None

    @classmethod
    def conformance(cls, workdir: Path) -> Harness:
        from .harness import GatewayHarness

        return GatewayHarness(workdir)
