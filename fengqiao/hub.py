"""Running the hub: broker (embedded or a cluster), schema registry, worker processes.

`Hub` is an async context manager; leaving it — normally, on Ctrl-C or on an exception — stops
the workers, the registry and an embedded broker, in that order, and removes the runtime file
through which the other commands (`publish`, `tail`, `case show`) find a running hub.

One hub per data folder: before it starts anything a hub takes the folder's lock (`fengqiao.lock`),
and a second hub on the same folder is refused (`HubAlreadyRunning`) without touching any of the
first one's files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from fengqiao import logs
from fengqiao.endpoints import Endpoints, HubError, connect
from fengqiao.infra.broker import (
    EmbeddedBroker,
    _die_with_parent,
    ensure_topics,
    free_port,
    parse_broker_url,
    wait_ready,
)
from fengqiao.infra.putback import put_back, sink_positions
from fengqiao.lock import DataFolderBusy, DataFolderLock
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.registry import RegistryClient, RegistryStore, serve
from fengqiao.schemas.registry import stop as stop_registry
from fengqiao.settings import Settings
from fengqiao.streams.archiver import Archiver
from fengqiao.streams.crypto import load_or_create_key
from fengqiao.streams.ledger import Ledger, kafka_headers
from fengqiao.streams.personal.protection import Protection, attach
from fengqiao.streams.topics import all_topics

log = logs.get(__name__)

__all__ = [
    "Endpoints",
    "Hub",
    "HubAlreadyRunning",
    "HubError",
    "check_policies",
    "connect",
    "lock_data_folder",
]


def check_policies(deployment: Path | None) -> None:
    """`HubError` listing each problem when a policy version of the deployment is invalid or lacks a
    rule a workflow needs: refused at start, rather than every new case of that workflow going to
    the dead letters later (``KeyError ... has no rule``)."""
    from fengqiao.streams.policy import PolicyError
    from fengqiao.streams.policy_complete import PolicyIncomplete, check_context
    from fengqiao.streams.workflows import load_context

    where = f"{deployment}/policies" if deployment else "the shipped policies"
    try:
        check_context(load_context(deployment))
    except PolicyIncomplete as e:
        raise HubError(
            f"政策不完整，枢纽不能启动 (incomplete policy in {where}: the hub will not start):\n"
            + "\n".join(f"  ✗ {p}" for p in e.problems)
            + '\nadd the rules, or write `extends: "<version>"` to take the others from a shipped '
            "version; check with `fengqiao policy check FILE`"
        ) from None
    except PolicyError as e:
        raise HubError(
            f"政策文件有误 (invalid policy in {where}: the hub will not start):\n"
            + "\n".join(f"  ✗ {p}" for p in e.errors)
        ) from None


class HubAlreadyRunning(HubError):
    """Another hub holds this data folder; the message names its pid and where it listens."""

    def __init__(self, folder: Path, holder: dict[str, Any]) -> None:
        self.folder = folder
        self.holder = holder
        state = holder.get("state") or "starting"
        said = [f"pid {holder.get('pid', 'unknown')}" + (f" ({state})" if state != "ready" else "")]
        said += [
            f"{label} {holder[key]}"
            for label, key in (("broker", "bootstrap"), ("registry", "registry"), ("gateway", "gateway"))
            if holder.get(key)
        ]
        if holder.get("workers"):
            said.append(f"workers {', '.join(holder['workers'])}")
        super().__init__(
            f"another hub is running on this data folder ({folder}): {', '.join(said)}; "
            "stop it first or use another data folder (FENGQIAO_DATA_DIR)"
        )


def lock_data_folder(settings: Settings) -> DataFolderLock:
    """The data folder's lock, taken; `HubAlreadyRunning` if another hub holds it."""
    try:
        return DataFolderLock(settings.data_dir).acquire()
    except DataFolderBusy as e:
        raise HubAlreadyRunning(settings.data_dir, e.holder) from None


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    web: str
    log_file: IO[bytes] | None = None


class Hub:
    def __init__(
        self,
        settings: Settings,
        *,
        workers: int = 1,
        worker_log_dir: Path | None = None,
        lock: DataFolderLock | None = None,
    ) -> None:
        """``lock``: the data folder's lock, already held by the caller (`fengqiao up` keeps it across
        restarts, the demo takes it before clearing its folder) and released by the caller; without
        it the hub takes the lock itself on start and gives it up on stop."""
        self.settings = settings
        self._lock = lock
        self._own_lock = lock is None
        self._wrote_runtime = False
        self.n_workers = workers
        self.worker_log_dir = worker_log_dir
        self.broker: EmbeddedBroker | None = None
        self.bootstrap = ""
        self.registry_url = ""
        self.codec: Codec | None = None
        self.protection: Protection | None = None
        self.workers: list[WorkerProcess] = []
        self._registry_server: Any = None
        self.ledger: Ledger | None = None
        self.rehydrated = 0  # ledger records put back on a fresh embedded broker
        self.placeholders = 0  # ... and placeholders below them (`infra/putback.py`)
        self.archiver: Archiver | None = None
        self._archiver_task: asyncio.Task[None] | None = None
        self.gateway_url: str | None = None
        self._gateway_task: asyncio.Task[Any] | None = None
        self._gateway_stop = asyncio.Event()
        self._gateway_link: Any = None
        self._stack = contextlib.AsyncExitStack()

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(
            self.bootstrap,
            self.registry_url,
            [w.web for w in self.workers],
            ledger=self.settings.ledger_url,
            gateway=self.gateway_url,
        )

    async def __aenter__(self) -> Hub:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        s = self.settings
        if self._lock is None:
            self._lock = lock_data_folder(s)  # before anything else: a second hub here stops now
        elif not self._lock.held:
            raise HubError(f"the lock given for {s.data_dir} is not held")
        self._lock.record(state="starting")
        check_policies(s.deployment)  # before any process starts: a policy that cannot work stops here
        s.data_dir.mkdir(parents=True, exist_ok=True)
        if s.embedded:
            self.broker = EmbeddedBroker().start()
            self.bootstrap = self.broker.bootstrap
        else:
            self.bootstrap = parse_broker_url(s.broker or "")
        self._lock.record(bootstrap=self.bootstrap)
        await wait_ready(self.bootstrap)
        catalogue = load()
        created = await ensure_topics(self.bootstrap, all_topics(catalogue, s))
        log.info("topics.ready", created=created)
        if s.registry:
            self.registry_url = s.registry
        else:
            store = RegistryStore(str(s.data_dir / "registry.db"))
            self._registry_server, self.registry_url = await serve(store)
        client = RegistryClient(self.registry_url)
        ids = await client.register_catalogue(catalogue)
        self.codec = Codec(catalogue, ids, fetch_schema=client.get_schema, registry_url=self.registry_url)
        self.protection = attach(self.codec, s)
        self.ledger = await asyncio.to_thread(self._open_ledger)
        if s.embedded:
            self.rehydrated = await self._rehydrate()
        self.archiver = Archiver(
            self.bootstrap,
            self.ledger,
            [t.name for t in all_topics(catalogue, s)],
            checkpoint_every=s.checkpoint_every,
            checkpoint_seconds=s.checkpoint_seconds,
            fetch_wait_ms=s.fetch_wait_ms,
        )
        self._archiver_task = asyncio.create_task(self.archiver.run(), name="fengqiao-archiver")
        await asyncio.wait(
            {self._archiver_task, asyncio.ensure_future(self.archiver.ready.wait())},
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._archiver_task.done():
            self._archiver_task.result()  # raises why the archiver could not start
        for i in range(self.n_workers):
            self.workers.append(self._spawn_worker(i))
        await self._wait_workers_ready()
        if s.gateway:
            await self._start_gateway()
        running = {
            "pid": os.getpid(),
            "bootstrap": self.bootstrap,
            "registry": self.registry_url,
            "workers": [w.web for w in self.workers],
            "embedded": s.embedded,
            "ledger": s.ledger_url,
            "gateway": self.gateway_url,
        }
        self._wrote_runtime = True
        s.runtime_file.write_text(json.dumps(running, indent=2))
        self._lock.record(
            state="ready",
            bootstrap=self.bootstrap,
            registry=self.registry_url,
            gateway=self.gateway_url,
            workers=running["workers"],
        )
        log.info(
            "hub.ready",
            bootstrap=self.bootstrap,
            registry=self.registry_url,
            workers=len(self.workers),
            gateway=self.gateway_url,
        )

    async def _start_gateway(self) -> None:
        """The HTTP gateway, run as any connector is (run_connector), once the workers answer."""
        from fengqiao.connectors.gateway import HttpGateway
        from fengqiao.connectors.runtime import HubLink, context_for, run_connector
        from fengqiao.connectors.sdk import ConnectorFailed

        s = self.settings
        assert self.codec is not None
        self._gateway_link = HubLink.build(
            self.bootstrap, self.codec, s.ledger_url, [w.web for w in self.workers], s.deployment
        )
        config = HttpGateway.Config(
            host=s.gateway_host,
            port=s.gateway_port,
            rate_per_s=s.gateway_rate,
            burst=s.gateway_burst,
            max_body_bytes=s.gateway_max_body,
            auth_failures_per_s=s.gateway_auth_rate,
            auth_failure_burst=s.gateway_auth_burst,
        )
        ctx = context_for("gateway", s, self._gateway_link)
        started = asyncio.Event()
        self._gateway_stop = asyncio.Event()
        self._gateway_task = asyncio.create_task(
            run_connector(HttpGateway, config, ctx, self._gateway_stop, started=started),
            name="fengqiao-gateway",
        )
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({self._gateway_task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._gateway_task.done():
            try:
                self._gateway_task.result()
            except ConnectorFailed as e:
                raise HubError(str(e)) from None
            raise HubError("the HTTP gateway stopped while starting")
        self.gateway_url = ctx.instance.url  # bound in start: known before the first request

    async def _stop_gateway(self) -> None:
        """First of all: requests in flight get their answer while the workers and archiver still run."""
        if self._gateway_task is not None:
            self._gateway_stop.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._gateway_task, 30)
            self._gateway_task = None
        if self._gateway_link is not None:
            self._gateway_link.close()
            self._gateway_link = None
        self.gateway_url = None

    def _open_ledger(self) -> Ledger:
        """The ledger, with the hub's signing key (made on first start)."""
        s = self.settings
        return Ledger(s.ledger_url, load_or_create_key(s.key_file, s.ledger_suite))

    async def _rehydrate(self) -> int:
        """Put the ledger back on the fresh embedded broker so that every partition goes on at the
        ledger's next offset: the ledger's own records from the first offset a sink of this folder still
        reads, placeholders below it (`infra/putback.py`). Workers rebuild from their snapshots and the
        ledger, so what this costs no longer grows with the history. Returns the records put back."""
        assert self.ledger is not None
        ledger = self.ledger
        heads = await asyncio.to_thread(ledger.positions)
        if not heads:
            return 0
        floors = await asyncio.to_thread(sink_positions, self.settings.data_dir)

        def rows(topic: str, partition: int, start: int, end: int) -> Iterator[list[tuple[Any, ...]]]:
            for chunk in ledger.partition_rows(topic, partition, start, end, batch=20_000):
                yield [(o, k, v, kafka_headers(h), ts) for o, k, v, h, ts in chunk]

        try:
            self.placeholders, records = await put_back(self.bootstrap, heads, floors, rows)
        except ValueError as e:
            raise HubError(f"rehydrating the embedded broker: {e}") from None
        log.info("ledger.rehydrated", records=records, placeholders=self.placeholders)
        return records

    def _spawn_worker(self, index: int) -> WorkerProcess:
        port = free_port()
        out: IO[bytes] | None = None
        if self.worker_log_dir:
            self.worker_log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.worker_log_dir / f"worker-{index}.log", "ab")  # noqa: SIM115 (closed in stop)
        env = {**os.environ, **{f"FENGQIAO_{k.upper()}": str(v) for k, v in self._worker_env().items()}}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fengqiao.streams.worker",
                "--bootstrap",
                self.bootstrap,
                "--registry",
                self.registry_url,
                "--web-port",
                str(port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=out or subprocess.DEVNULL,  # Faust's terminal codes must not reach our stdout
            stderr=out,
            env=env,
            preexec_fn=_die_with_parent,
        )
        return WorkerProcess(proc, f"http://127.0.0.1:{port}", out)

    def _worker_env(self) -> dict[str, Any]:
        s = self.settings
        keys = (
            "app_id",
            "partitions",
            "replication",
            "session_timeout_s",
            "heartbeat_s",
            "rebalance_timeout_s",
            "fetch_wait_ms",
            "log_level",
            "data_dir",
            "clock",
            "tick_s",
            "case_cache",
            "protect_personal",
            "crypto_suite",
        )
        env = {k: getattr(s, k) for k in keys}
        if s.deployment:
            env["deployment"] = s.deployment
        if s.personal_keys:
            env["personal_keys"] = s.personal_keys
        return env

    async def _wait_workers_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            for w in self.workers:
                while True:
                    if w.proc.poll() is not None:
                        raise HubError(
                            f"worker exited with code {w.proc.returncode} while starting"
                            + (f"; see {self.worker_log_dir}" if self.worker_log_dir else "")
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        r = await http.get(f"{w.web}/ready/")
                        if r.status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise HubError(f"worker at {w.web} was not ready in {timeout:.0f}s")
                    await asyncio.sleep(0.1)

    async def _settle_workers(self, timeout: float = 30.0) -> None:
        """Before the workers stop, while the archiver still runs: until each has written every change
        into a snapshot (the ledger must hold what it produced first), so the next start folds no tail.
        Bounded: a worker that does not settle in time is stopped anyway and its tail folded next time."""
        if self._archiver_task is None or self._archiver_task.done():
            return
        if self._broker_died():
            return  # the embedded broker is gone: the ledger cannot advance, no snapshot would settle
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            for w in self.workers:
                while w.proc.poll() is None and time.monotonic() < deadline:
                    with contextlib.suppress(httpx.HTTPError, ValueError):
                        if (await http.get(f"{w.web}/ready/")).json().get("snapshots_settled", True):
                            break
                    await asyncio.sleep(0.1)

    def _broker_died(self) -> bool:
        """The embedded broker's process has exited (a cluster by URL has none to watch)."""
        proc = self.broker.proc if self.broker is not None else None
        return proc is not None and proc.poll() is not None

    def check_workers(self) -> None:
        """Raise when a worker, the embedded broker or the archiver has stopped: the hub is not whole.

        Nothing accepted is lost (docs/durability.md): starting `fengqiao up` again restores it.
        """
        again = "; start `fengqiao up` again: the ledger restores every accepted event"
        for w in self.workers:
            if w.proc.poll() is not None:
                raise HubError(f"a worker (pid {w.proc.pid}) exited with code {w.proc.returncode}{again}")
        if self._broker_died():
            raise HubError(f"the embedded broker exited with code {self.broker.proc.returncode}{again}")
        if self._archiver_task is not None and self._archiver_task.done():
            error = self._archiver_task.exception() if not self._archiver_task.cancelled() else None
            raise HubError(f"the archiver stopped ({error or 'cancelled'}){again}")
        if self._gateway_task is not None and self._gateway_task.done():
            error = self._gateway_task.exception() if not self._gateway_task.cancelled() else None
            raise HubError(f"the HTTP gateway stopped ({error or 'cancelled'}){again}")

    async def _drain_archiver(self, timeout: float = 10.0) -> None:
        """Let the archiver catch up with what the workers produced last, then stop it."""
        assert self._archiver_task is not None and self.archiver is not None
        deadline = time.monotonic() + timeout
        last = -1
        while (
            not self._archiver_task.done() and time.monotonic() < deadline and self.archiver.archived != last
        ):
            last = self.archiver.archived
            await asyncio.sleep(0.3)  # until a pass adds nothing: the archiver has no "caught up" signal
        self._archiver_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._archiver_task
        self._archiver_task = None

    async def stop(self) -> None:
        try:
            await self._stop_parts()
        finally:
            # Last: until everything is stopped and the ledger closed, no other hub may start here.
            if self._lock is not None:
                if self._own_lock:
                    self._lock.release()
                    self._lock = None
                elif self._lock.held:
                    gone = {"bootstrap": None, "registry": None, "gateway": None, "workers": []}
                    self._lock.record(state="stopping", **gone)

    async def _stop_parts(self) -> None:
        if self._wrote_runtime:  # only a hub that holds the folder wrote it: never another's
            self._wrote_runtime = False
            with contextlib.suppress(FileNotFoundError):
                rt = self.settings.runtime_file
                if rt.exists() and json.loads(rt.read_text()).get("pid") == os.getpid():
                    rt.unlink()
        await self._stop_gateway()
        await self._settle_workers()
        for w in self.workers:
            if w.proc.poll() is None:
                w.proc.terminate()
        for w in self.workers:
            try:
                await asyncio.to_thread(w.proc.wait, 15)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                await asyncio.to_thread(w.proc.wait)
            if w.log_file:
                w.log_file.close()
        self.workers = []
        if self._archiver_task is not None:
            await self._drain_archiver()
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        if self.protection is not None:
            self.protection.close()
            self.protection = None
        if self._registry_server is not None:
            await stop_registry(self._registry_server)
            self._registry_server = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
