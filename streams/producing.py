"""What the case processor puts on the log (产出): decisions, ``CaseUpdated`` and dead letters queued per
batch, then produced in one go per partition (`Producing._flush`), each key on the partition Kafka's
default partitioner would choose. A mixin of `processor.CaseProcessor`, which owns the state named here.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from fengqiao import logs, metrics
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope

from . import engine, topics
from .clock import Clock

log = logs.get(__name__)
Out = tuple[str, int | None, bytes, bytes, list[tuple[str, bytes]]]  # topic, partition, key, value, headers


class Producing:
    """Queues records (`_emit`, `_update`, `_dead`) and flushes them (`_flush`)."""

    codec: Codec
    clock: Clock
    producer: AIOKafkaProducer | None
    _out: list[Out]
    _counts: dict[str, int]  # partitions of each topic written to
    _source_count: int  # partitions of the workflow topics read

    def _emit(self, env: Envelope, record: dict[str, Any], workflow: str, partition: int | None) -> None:
        env = env.with_(dataschema=self.codec.dataschema(env.type))
        value = self.codec.encode(env.type, record)
        self._out.append(
            (topics.workflow_topic(workflow), partition, env.subject.encode(), value, env.to_headers())
        )
        log.debug("decision.emitted", type=env.type, case_id=env.subject, event_id=env.id)

    def _update(self, env: Envelope, case: engine.Case, workflow: str, now: datetime, partition: int) -> None:
        upd = Envelope(  # its id derives from the event's: applying an event once gives one update id
            id=engine._uuid5(f"{env.id}/CaseUpdated"),
            source=HUB_SOURCE,
            type="CaseUpdated",
            subject=env.subject,
            time=now,
            dataschema=self.codec.dataschema("CaseUpdated"),
            correlationid=env.correlationid or env.subject,
            causationid=env.id,
            jurisdiction=env.jurisdiction,
        )
        record = {
            "case_id": env.subject,
            "workflow": workflow,
            "version": case["version"],
            "event_id": env.id,
            "event_type": env.type,
            "status": case["status"],
            "applied_at": now,
        }
        value = self.codec.encode("CaseUpdated", record)
        self._out.append((topics.CASE_UPDATES, partition, env.subject.encode(), value, upd.to_headers()))

    def _dead(self, msg: Any, kind: str, reason: str, case_id: str = "") -> None:
        metrics.child(metrics.DEAD_LETTERS, kind).inc()
        headers = msg.headers.items() if isinstance(msg.headers, dict) else (msg.headers or [])
        record = {
            "case_id": case_id,
            "reason": reason,
            "error_kind": kind,
            "source_topic": msg.topic,
            "source_partition": msg.partition,
            "source_offset": msg.offset,
            "original_key": msg.key,
            "original_value": msg.value,
            "original_headers": {k: bytes(v) for k, v in headers},
            "failed_at": self.clock(),
        }
        env = Envelope.new("DeadLetter", case_id or "-", dataschema=self.codec.dataschema("DeadLetter"))
        value = self.codec.encode("DeadLetter", record)
        self._out.append((topics.DEAD_LETTERS, msg.partition, msg.key or b"", value, env.to_headers()))
        log.warning(
            "event.dead_lettered",
            kind=kind,
            reason=reason,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        )

    async def _flush(self) -> dict[tuple[str, int], int]:
        """Everything queued, in order, onto the log; returns once the broker has acknowledged it all.

        One record batch per partition rather than one `send` per record: a record's key goes to the
        partition its source record came from (same key, same partition count), so nothing is hashed.
        """
        out, self._out = self._out, []
        if not out:
            return {}
        producer = self.producer
        assert producer is not None
        builders: dict[tuple[str, int], Any] = {}
        futures = []
        for topic, hint, key, value, headers in out:
            partition = self._partition(topic, hint, key)
            builder = builders.get((topic, partition))
            if builder is None:
                builder = builders[(topic, partition)] = producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                futures.append(
                    (builder.record_count(), await producer.send_batch(builder, topic, partition=partition))
                )
                builder = builders[(topic, partition)] = producer.create_batch()
                builder.append(key=key, value=value, timestamp=None, headers=headers)
        for (topic, partition), builder in builders.items():
            futures.append(
                (builder.record_count(), await producer.send_batch(builder, topic, partition=partition))
            )
        last: dict[tuple[str, int], int] = {}  # the last offset written per partition
        for (count, _), md in zip(futures, await asyncio.gather(*(f for _, f in futures)), strict=True):
            last[(md.topic, md.partition)] = max(
                last.get((md.topic, md.partition), -1), md.offset + count - 1
            )
        return last

    def _partition(self, topic: str, hint: int | None, key: bytes) -> int:
        """The partition Kafka's default partitioner would choose for ``key`` on ``topic``."""
        count = self._counts.get(topic)
        if count is None:
            assert self.producer is not None
            count = self._counts[topic] = len(self.producer.client.cluster.partitions_for_topic(topic) or ())
        if hint is not None and count == self._source_count:
            return hint
        return owner_partition(key.decode("utf-8", "replace"), count)


def owner_partition(case_id: str, partitions: int) -> int:
    """The partition a case's records go to under Kafka's default partitioner (murmur2 of the key)."""
    return (murmur2(case_id.encode()) & 0x7FFFFFFF) % partitions
