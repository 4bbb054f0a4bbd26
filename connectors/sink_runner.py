"""`SinkRunner`: one reader without a consumer group (on the embedded broker a group join costs
seconds), its positions in the connector's own folder, each partition in log order, the next batch
fetched only once the last is written: a slow downstream slows the reading, nothing piles up."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from fengqiao import logs
from fengqiao.infra.broker import GapGuard
from fengqiao.schemas.envelope import Envelope, EnvelopeError
from fengqiao.schemas.registry import RegistryError
from fengqiao.streams.acceptance import refusal

from .hub_link import DeadLetters, HubLink, with_retries
from .sdk import (
    ConnectorFailed,
    RecordError,
    RetriableError,
    Sink,
    SinkRecord,
)
from .stores import PositionStore

log = logs.get(__name__)


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
