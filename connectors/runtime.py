"""Running a connector: discovery (entry points), its context, and `run_connector`, which starts it and
feeds it until stopped. The pieces are their own modules: `hub_link` (what a connector sees of the
running hub, dead letters, positions, retries), `outbox` (a source's publishing) and `sink_runner` (a
sink's read loop); their names are importable from here as before.
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from fengqiao import logs

from .hub_link import DeadLetters, HubLink, Positions, with_retries
from .outbox import Outbox
from .sdk import (
    Connector,
    ConnectorConfig,
    ConnectorContext,
    ConnectorFailed,
    Sink,
    Source,
)
from .sink_runner import SinkRunner

__all__ = [
    "DeadLetters",
    "HubLink",
    "Outbox",
    "Positions",
    "SinkRunner",
    "UnknownConnector",
    "context_for",
    "discover",
    "load_connector",
    "run_connector",
    "with_retries",
]

log = logs.get(__name__)
GROUP = "fengqiao.connectors"


class UnknownConnector(LookupError):
    pass


def discover() -> tuple[dict[str, type[Connector[Any]]], dict[str, str]]:
    """Every installed connector by entry point name (``fengqiao.connectors``), and those that fail
    to load with the reason: one broken package must not hide the others."""
    found: dict[str, type[Connector[Any]]] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as e:
            broken[ep.name] = f"{ep.value}: {type(e).__name__}: {e}"
    return dict(sorted(found.items())), broken


def load_connector(name: str) -> type[Connector[Any]]:
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    known = ", ".join(ep.name for ep in entry_points(group=GROUP)) or "none"
    raise UnknownConnector(f"no connector named {name!r}; installed: {known}")


def context_for(name: str, settings: Any, hub: HubLink | None) -> ConnectorContext:
    return ConnectorContext(name, Path(settings.data_dir) / "connectors" / name, settings, hub)


async def run_connector(
    cls: type[Connector[Any]],
    config: ConnectorConfig,
    ctx: ConnectorContext,
    stop: asyncio.Event,
    *,
    started: asyncio.Event | None = None,
) -> Connector[Any]:
    """Start the connector, feed it (sink) or let it run (source) until ``stop``, then stop it."""
    hub: HubLink = ctx.hub
    connector = cls(config, ctx)  # type: ignore[arg-type]
    ctx.instance, ctx.runner = connector, None
    positions = Positions(ctx.state_dir)
    health = connector.health()
    outbox: Outbox | None = None
    try:
        await connector.start()
        health.status = "running"
        if isinstance(connector, Source):
            outbox = Outbox(ctx.name, hub, config.errors, positions, ctx.on_taken)
            await outbox.open()
            work: asyncio.Future[Any] = asyncio.ensure_future(connector.run(outbox))
        elif isinstance(connector, Sink):
            runner = SinkRunner(connector, hub, positions)
            ctx.runner = runner
            await runner.open()
            work = asyncio.ensure_future(runner.run(stop))
        else:
            raise ConnectorFailed(f"{cls.__name__} is neither a Source nor a Sink")
        if started is not None:
            started.set()
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if not work.done():
            work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work  # raises why the connector failed
        health.status = "stopped"
        return connector
    except BaseException as e:
        if not isinstance(e, asyncio.CancelledError):
            health.status, health.detail = "failed", str(e)
        raise
    finally:
        if ctx.runner is not None:
            await ctx.runner.close()
        with contextlib.suppress(Exception):
            await connector.stop()
        if outbox is not None:
            await outbox.close()
        positions.close()
