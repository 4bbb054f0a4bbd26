"""Running the registry in-process: uvicorn in the hub's event loop, on a free port by default, with
the hub keeping its signals."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn

from .app import create_app
from .store import RegistryStore


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
