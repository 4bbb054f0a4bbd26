"""Putting the ledger back on a fresh embedded broker (账本回灌), bounded by what readers still need.

The embedded broker keeps its log in memory only; the ledger is what lasts. For the hub's offsets to
mean the same records after a restart, each partition must start again at the ledger's next offset —
yet Kafka has no way to start a partition at offset N except by writing N records (the broker assigns
offsets; a batch's base offset is ignored, measured on Tansu 0.6.0). So below the first offset any
reader still needs from the broker, each partition gets *placeholders*: records with no key, no value
and no headers, sent as one prebuilt record batch again and again (about 8 bytes a record in the
broker); from there on the real records go back with their key, headers and timestamp.

Who needs what: workers rebuild from their snapshots and the ledger and read a topic only after the
ledger's last record; the archiver resumes after it too; a sink (webhook, read model) reads on from the
position in its folder (``connectors/NAME/positions.db``). A reader that meets a placeholder skips it
(`infra.broker.is_placeholder`): its record is in the ledger (`fengqiao replay`, `fengqiao audit case`).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

PLACEHOLDERS_PER_BATCH = 50_000
Rows = Callable[[str, int, int, int], Iterator[list[tuple[Any, ...]]]]  # topic, partition, start, end


def sink_positions(data_dir: Path) -> dict[tuple[str, int], int]:
    """The lowest next offset any sink of this data folder will read, per (topic, partition)."""
    floors: dict[tuple[str, int], int] = {}
    for db in sorted(data_dir.glob("connectors/*/positions.db")):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT key, value FROM positions WHERE key LIKE 'offset:%'").fetchall()
        except sqlite3.Error:
            rows = []
        finally:
            con.close()
        for key, value in rows:
            _, topic, partition = key.rsplit(":", 2)
            part = (topic, int(partition))
            floors[part] = min(floors.get(part, int(value)), int(value))
    return floors


class _Prebuilt(BatchBuilder):  # type: ignore[misc]
    """A record batch built once and sent many times (the broker gives each its own offsets)."""

    def __init__(self, buffer: bytes, count: int) -> None:  # the state BatchBuilder has once built
        self._buffer, self._relative_offset, self._closed = bytearray(buffer), count, True


def _placeholder_batch(producer: AIOKafkaProducer, count: int) -> bytes:
    builder = producer.create_batch()
    for _ in range(count):
        if builder.append(key=None, value=None, timestamp=None, headers=[]) is None:
            raise ValueError("placeholder batch too large")
    return bytes(builder._build())


async def put_back(
    bootstrap: str, heads: dict[tuple[str, int], int], floors: dict[tuple[str, int], int], rows: Rows
) -> tuple[int, int]:
    """Each partition up to its ledger head: placeholders below its floor, the ledger's records from it.
    Returns (placeholders, records) put back. Raises ValueError when an offset comes back elsewhere."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=4 << 20)
    await producer.start()
    placeholders = records = 0
    try:
        full = _placeholder_batch(producer, PLACEHOLDERS_PER_BATCH)
        pending: list[tuple[str, int, int, Any]] = []
        for (topic, partition), head in sorted(heads.items()):
            floor = max(0, min(floors.get((topic, partition), head + 1), head + 1))
            offset = 0
            while offset < floor:
                n = min(PLACEHOLDERS_PER_BATCH, floor - offset)
                batch = _Prebuilt(full if n == PLACEHOLDERS_PER_BATCH else _placeholder_batch(producer, n), n)
                pending.append(
                    (topic, partition, offset, await producer.send_batch(batch, topic, partition=partition))
                )
                offset += n
            placeholders += floor
            builder, first = producer.create_batch(), offset
            chunks = rows(topic, partition, floor, head)
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                for o, key, value, headers, ts in chunk:
                    args = {"key": key, "value": value, "timestamp": ts or None, "headers": headers}
                    if o != offset or builder.append(**args) is None:  # a gap, or full: a new batch
                        if builder.record_count():
                            pending.append(
                                (
                                    topic,
                                    partition,
                                    first,
                                    await producer.send_batch(builder, topic, partition=partition),
                                )
                            )
                        builder, first, offset = producer.create_batch(), o, o
                        builder.append(**args)
                    offset += 1
                    records += 1
            if builder.record_count():
                pending.append(
                    (topic, partition, first, await producer.send_batch(builder, topic, partition=partition))
                )
        for topic, partition, first, fut in pending:
            md = await fut
            if md.offset != first:
                raise ValueError(
                    f"{topic}/{partition}: the ledger's offset {first} came back as {md.offset}; "
                    "the ledger and the topics disagree (partitions changed?)"
                )
    finally:
        await producer.stop()
    return placeholders, records
