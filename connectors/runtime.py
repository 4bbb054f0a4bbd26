"""Running a connector: discovery, the source's outbox, the sink's read loop, retries, dead letters.

`HubLink` is what a connector sees of the running hub. A source publishes through its `Outbox`
(validated, authorised, durable in the ledger before it answers). A sink is fed by `SinkRunner`:
one reader without a consumer group (on the embedded broker a group join costs seconds), its
positions in the connector's own folder, each partition in log order, the next batch fetched only
once the last is written: a slow downstream slows the reading, nothing piles up in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from fengqiao import logs
from fengqiao.infra.broker import GapGuard
from fengqiao.schemas.codec import Codec, to_json
from fengqiao.schemas.envelope import Envelope, EnvelopeError
from fengqiao.schemas.registry import RegistryError
from fengqiao.streams import topics
from fengqiao.streams.acceptance import refusal
from fengqiao.streams.directory import Directory
from fengqiao.streams.ledger import Ledger
from fengqiao.streams.publisher import NotAcknowledged, Published, Publisher

from .authz import Authorizer, Forbidden
from .cloudevents_json import Refused, parse
from .sdk import (
    Connector,
    ConnectorConfig,
    ConnectorContext,
    ConnectorFailed,
    ErrorPolicy,
    RecordError,
    RetriableError,
    Sink,
    SinkRecord,
    Source,
)
from .stores import PositionStore

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


class Positions:
    """A connector's durable positions (key → value) in ``state_dir/positions.db``."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(state_dir / "positions.db", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS positions (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM positions WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO positions (key, value) VALUES (?, ?)", (key, value))

    def delete(self, prefix: str = "") -> None:
        with self._lock:
            # Not LIKE: it ignores ASCII case and reads % and _ as wildcards, deleting more than the prefix.
            self._db.execute("DELETE FROM positions WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class HubLink:
    """The running hub as a connector sees it."""

    bootstrap: str
    codec: Codec
    ledger_url: str | None
    workers: list[str]
    directory: Directory
    opening: frozenset[str] = frozenset()  # event types that open a case (Workflow.opened_by)
    _ledger: Ledger | None = field(default=None, repr=False)

    @property
    def ledger(self) -> Ledger | None:
        if self._ledger is None and self.ledger_url:
            self._ledger = Ledger(self.ledger_url)
        return self._ledger

    async def case(self, case_id: str) -> dict[str, Any] | None:
        """A case's state from the worker that owns it (any worker forwards to the owner)."""
        async with httpx.AsyncClient(timeout=5.0) as http:
            for url in self.workers:
                with contextlib.suppress(httpx.HTTPError):
                    r = await http.get(f"{url}/cases/{case_id}/")
                    if r.status_code == 200:
                        return r.json()  # type: ignore[no-any-return]
                    if r.status_code == 404:
                        return None
        raise RetriableError("no worker answered for the case; is the hub running?")

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    @classmethod
    def build(
        cls, bootstrap: str, codec: Codec, ledger_url: str | None, workers: list[str], deployment: Any
    ) -> HubLink:
        """With the deployment's directory and workflows (the demo county when None)."""
        from fengqiao.streams.workflows import load_context

        ctx = load_context(deployment)
        opening = frozenset(e for wf in ctx.workflows.values() for e in wf.opened_by)
        return cls(bootstrap, codec, ledger_url, workers, ctx.directory, opening)

    @classmethod
    async def connect(cls, settings: Any) -> HubLink:
        """For a connector run next to a hub started with `fengqiao up` (or --broker/--registry)."""
        from fengqiao.hub import connect

        ep, codec = await connect(settings)
        return cls.build(ep.bootstrap, codec, ep.ledger, ep.workers, settings.deployment)


class DeadLetters:
    """Puts a failed record on the hub's dead-letter topic with the connector's error context."""

    def __init__(self, name: str, hub: HubLink) -> None:
        self.name = name
        self.hub = hub
        self._producer: AIOKafkaProducer | None = None

    async def send(
        self,
        reason: str,
        kind: str,
        *,
        case_id: str = "",
        topic: str | None = None,
        partition: int = -1,
        offset: int = -1,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Mapping[str, bytes] | None = None,
        attempts: int = 1,
    ) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.hub.bootstrap, acks="all")
            await self._producer.start()
        codec = self.hub.codec
        record = {
            "case_id": case_id,
            "reason": f"[{self.name}] {reason}",
            "error_kind": kind,
            "source_topic": topic or f"connector:{self.name}",
            "source_partition": partition,
            "source_offset": offset,
            "original_key": key,
            "original_value": value,
            "original_headers": dict(headers or {}),
            "failed_at": datetime.now(UTC),
        }
        env = Envelope.new("DeadLetter", case_id or "-", dataschema=codec.dataschema("DeadLetter"))
        context = [  # Kafka Connect's error context headers, so any Kafka tool shows who failed and why
            ("__connect.errors.connector.name", self.name.encode()),
            ("__connect.errors.attempts", str(attempts).encode()),
            ("__connect.errors.exception.message", reason.encode()),
        ]
        await self._producer.send_and_wait(
            topics.DEAD_LETTERS,
            codec.encode("DeadLetter", record),
            key=(case_id or "-").encode(),
            headers=env.to_headers() + context,
        )
        log.warning("connector.dead_lettered", connector=self.name, kind=kind, reason=reason, case_id=case_id)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def with_retries(policy: ErrorPolicy, attempt_once: Any, *, what: str) -> tuple[Any, int]:
    """Call ``attempt_once()`` until it succeeds, retrying `RetriableError` with backoff.

    Returns (result, attempts). Raises the last `RetriableError` once the retries are spent.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_once(), attempt
        except RetriableError as e:
            if attempt > policy.retries:
                raise
            delay = policy.delay(attempt)
            log.info("connector.retry", what=what, attempt=attempt, delay_s=round(delay, 2), error=str(e))
            await asyncio.sleep(delay)


class Outbox:
    """Where a source puts events: validated, authorised, on the log and in the ledger."""

    def __init__(
        self,
        name: str,
        hub: HubLink,
        policy: ErrorPolicy,
        positions: PositionStore,
        on_taken: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.on_taken = on_taken
        self.hub = hub
        self.policy = policy
        self.positions = positions
        self.dead_letters = DeadLetters(name, hub)
        self.authorizer = Authorizer(hub.directory, hub.codec.catalogue, hub.case, hub.opening)
        self._publisher: Publisher | None = None

    async def open(self) -> None:
        self._publisher = Publisher(self.hub.bootstrap, self.hub.codec, self.hub.ledger)
        await self._publisher.__aenter__()

    async def close(self) -> None:
        if self._publisher is not None:
            await self._publisher.__aexit__(None, None, None)
            self._publisher = None
        await self.dead_letters.close()

    async def check(self, event: Mapping[str, Any] | str | bytes, *, agency: str | None = None) -> Any:
        """Validate (and, for an agency, authorise) without publishing; returns the accepted event."""
        try:
            accepted = parse(self.hub.codec, event)
        except Refused as r:
            raise RecordError(str(r), "invalid") from r
        if agency is not None:
            try:
                await self.authorizer.check(agency, accepted)
            except Forbidden as f:
                raise RecordError(str(f), "unauthorised") from f
        return accepted

    async def publish(
        self, event: Mapping[str, Any] | str | bytes, *, agency: str | None = None
    ) -> Published:
        """Publish one CloudEvent (structured JSON). Returns once the ledger holds it.

        Raises `RecordError` (the reason names each field or the rule that refused it) and, when
        the hub stays unreachable through the retries, `RetriableError`: send it again later, with
        the same id. An id published before gets the same answer and puts nothing more on the log
        (the connector's positions remember it); the same id with other content is refused.
        """
        accepted = await self.check(event, agency=agency)
        env = accepted.envelope
        key, fp = f"event:{env.source}:{env.id}", _fingerprint(env.type, env.subject, accepted.record)
        done = self.positions.get(key)
        if done is not None:  # published before: the same answer, no second record on the log
            stored = json.loads(done)
            if stored["fp"] != fp:
                raise RecordError(
                    f"id {env.id!r} of {env.source!r} was published before with other content; "
                    "give a new event a new id",
                    "invalid",
                )
            return Published(env.id, stored["topic"], stored["partition"], stored["offset"])
        assert self._publisher is not None, "Outbox.open() first"
        publisher = self._publisher

        async def once() -> Published:
            try:
                return await publisher.publish(env, accepted.record)
            except (KafkaError, NotAcknowledged, OSError) as e:
                raise RetriableError(f"the hub did not take the event: {e}") from e

        published: Published
        published, _ = await with_retries(self.policy, once, what=f"publish {env.id}")
        self.positions.put(
            key,
            json.dumps(
                {
                    "fp": fp,
                    "topic": published.topic,
                    "partition": published.partition,
                    "offset": published.offset,
                }
            ),
        )
        return published

    def took(self, ref: str) -> None:
        """The source is done with one input, ``ref`` (its row, file or message id): published or
        refused, its position saved. Call it last; whoever waits on the source (the conformance
        kit's harness, `SourceHarness.taken`) learns it here, not from the source's own tables."""
        if self.on_taken is not None:
            self.on_taken(str(ref))


def _fingerprint(etype: str, subject: str, record: dict[str, Any]) -> str:
    """What makes two publications the same event: type, case and data (not the sending time)."""
    body = json.dumps([etype, subject, to_json(record)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class SinkRunner:
    """Feeds a sink from the hub's topics, with positions, retries and dead letters."""

    def __init__(self, sink: Sink[Any], hub: HubLink, positions: PositionStore, *, batch: int = 200) -> None:
        self.sink = sink
        self.hub = hub
        self.positions = positions
        self.batch = batch
        self.dead_letters = DeadLetters(sink.context.name, hub)
        self.in_flight_max = 0  # the most records read but not yet written: bounded by `batch`
        self.guard = GapGuard()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=hub.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20
        )

    async def open(self) -> None:
        """Connect and take up the positions: once this returns, nothing published later is missed."""
        await self._consumer.start()
        await self._assign(self._consumer)

    async def close(self) -> None:
        await self._consumer.stop()
        await self.dead_letters.close()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batches = await self._consumer.getmany(timeout_ms=200, max_records=self.batch)
            n = sum(len(b) for b in batches.values())
            self.in_flight_max = max(self.in_flight_max, n)
            await asyncio.gather(*(self._partition(tp, msgs) for tp, msgs in batches.items()))

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        await consumer._client.force_metadata_update()
        parts = []
        for t in self.sink.topics():
            ps = consumer.partitions_for_topic(t)
            if not ps:
                raise ConnectorFailed(f"the hub has no topic {t!r}")
            parts += [TopicPartition(t, p) for p in sorted(ps)]
        consumer.assign(parts)
        latest = await self._ends(consumer, parts) if self.sink.config.start == "latest" else {}
        for tp in parts:
            pos = self.positions.get(f"offset:{tp.topic}:{tp.partition}")
            if pos is not None:
                consumer.seek(tp, int(pos))
                self.guard.expect(tp, int(pos))
            elif tp in latest:
                consumer.seek(tp, latest[tp])
                self.positions.put(f"offset:{tp.topic}:{tp.partition}", str(latest[tp]))
                self.guard.expect(tp, None)  # the broker's end offset may be low: no gap to expect
            else:
                await consumer.seek_to_beginning(tp)
                self.guard.expect(tp, None)

    async def _ends(
        self, consumer: AIOKafkaConsumer, parts: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """Where "from now on" starts: the broker's end offsets, or the ledger's where they are further
        (the embedded broker may report end offsets too low after batched writes)."""
        ends = await consumer.end_offsets(parts)
        archived = await asyncio.to_thread(self.hub.ledger.positions) if self.hub.ledger else {}
        return {tp: max(ends.get(tp, 0), archived.get((tp.topic, tp.partition), -1) + 1) for tp in parts}

    async def _partition(self, tp: TopicPartition, msgs: list[Any]) -> None:
        for msg in self.guard.take(self._consumer, tp, msgs):
            await self._one(msg)
            self.positions.put(f"offset:{tp.topic}:{tp.partition}", str(msg.offset + 1))

    async def _one(self, msg: Any) -> None:
        health = self.sink.health()
        rec = await self._decode(msg)
        if rec is None or not self.sink.wants(rec):
            return
        policy = self.sink.config.errors
        try:
            await with_retries(policy, lambda: self.sink.write(rec), what=f"write {rec.event_id}")
            health.count("written")
            return
        except RetriableError as e:
            attempts = policy.retries + 1
            reason, kind = f"gave up after {attempts} attempts: {e}", "handler_failed"
        except RecordError as e:
            reason, kind, attempts = e.reason, e.kind, e.attempts
        if policy.tolerance == "none":
            health.status, health.detail = "failed", f"{rec.type} {rec.event_id}: {reason}"
            raise ConnectorFailed(f"{self.sink.context.name} stopped on {rec.event_id}: {reason}")
        await self.dead_letters.send(
            reason,
            kind,
            case_id=rec.key,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=msg.key,
            value=msg.value,
            headers=dict(msg.headers or ()),
            attempts=attempts,
        )
        health.count("dead_lettered")

    async def _decode(self, msg: Any) -> SinkRecord | None:
        """The record as the hub accepted it; what the hub refused is in its dead letters already.

        A registry that does not answer is not a bad record: it is retried, then stops the sink.
        """
        codec = self.hub.codec
        try:
            env = Envelope.from_headers(msg.headers or [])
        except EnvelopeError:
            return None
        if env.type not in codec.catalogue:
            return None

        async def known() -> bool:
            try:
                return await codec.ensure(_schema_id(msg.value))
            except RegistryError as e:
                raise RetriableError(f"the schema registry did not answer: {e}") from e

        if not (await with_retries(self.sink.config.errors, known, what="schema lookup"))[0]:
            return None
        try:
            ev, record = codec.decode(msg.value)
        except Exception:  # fastavro raises many kinds for a foreign body: the hub dead-lettered it
            return None
        key = (msg.key or b"").decode("utf-8", "replace")
        if refusal(msg.topic, key, env, ev, record):
            return None  # mislabelled, misplaced, or a forged decision: the hub refused it
        return SinkRecord(
            msg.topic, msg.partition, msg.offset, key, env, record, msg.value, tuple(msg.headers or ())
        )


def _schema_id(value: bytes | None) -> int:
    return int.from_bytes(value[1:5], "big") if value and len(value) >= 5 else -1


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
