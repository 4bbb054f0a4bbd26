"""`fengqiao up` and `fengqiao worker`: running the hub, or one more worker of a running hub."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import Annotated

import typer

from fengqiao.cli.common import BrokerOpt, RegistryOpt, endpoints, run_coro, settings
from fengqiao.console import err


def up(
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    partitions: Annotated[int | None, typer.Option(help="partitions per workflow topic")] = None,
    max_restarts: Annotated[int, typer.Option(help="restarts allowed in 10 minutes when a part dies")] = 5,
) -> None:
    """Run the hub in the foreground: broker (if embedded), schema registry, workers. Ctrl-C stops it.

    When a worker, the embedded broker or the archiver dies, the hub starts again on its own: the
    ledger puts back every accepted event, and the workers read their decisions back from it.
    """
    from fengqiao.hub import Hub, HubError, lock_data_folder
    from fengqiao.lock import DataFolderLock

    s = settings(broker, registry, partitions=partitions)

    async def run_once(stop: asyncio.Event, lock: DataFolderLock) -> str | None:
        """Run until Ctrl-C (None) or until a part of the hub stops (the reason)."""
        with err.status("starting the hub 正在启动…"):
            hub = await Hub(s, workers=workers, lock=lock).__aenter__()
        try:
            ep = hub.endpoints
            restored = f"  restored {hub.rehydrated} records from the ledger" if hub.rehydrated else ""
            err.print(
                f"[green]枢纽已启动 hub is up[/]  broker [bold]{ep.bootstrap}[/]"
                f"{' (embedded, memory-only)' if s.embedded else ''}  registry [bold]{ep.registry}[/]  "
                f"workers {', '.join(ep.workers)}"
                f"{f'  gateway [bold]{ep.gateway}[/]' if ep.gateway else ''}{restored}\nCtrl-C 停止 to stop."
            )
            while not stop.is_set():
                try:
                    hub.check_workers()
                except HubError as e:
                    return str(e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
            return None
        finally:
            with err.status("stopping 正在停止…"):
                await hub.__aexit__(None, None, None)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # One hub per data folder: the lock first, before anything starts, kept across restarts so
        # no other hub can take the folder in between; the OS releases it if this process dies.
        lock = lock_data_folder(s)
        try:
            restarts: list[float] = []
            while True:
                reason = await run_once(stop, lock)
                if reason is None:
                    err.print("已停止 stopped.")
                    return
                # A part of the hub died: start it all again; the ledger restores every accepted event.
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 600] + [now]
                if len(restarts) > max_restarts:
                    raise HubError(f"{reason} — and it failed {len(restarts)} times in 10 minutes; giving up")
                lock.record(state="restarting")
                err.print(f"[yellow]重新启动 restarting:[/] {reason.split(';')[0]}")
        finally:
            lock.release()

    run_coro(main())


def worker(
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    web_port: Annotated[int, typer.Option(help="port of the worker's web endpoints")] = 6066,
) -> None:
    """Run one worker against a running broker and registry (to scale out on a real cluster)."""
    from fengqiao.streams.worker import run

    s = settings(broker, registry)
    ep = endpoints(s)
    run(ep.bootstrap, ep.registry, web_port, s)
