"""The archiver (归档): every record of every hub topic, in log order per partition, into the ledger.

It resumes from the ledger's own positions (the last offset stored per partition), so a restart
neither skips nor repeats a record; the ledger's append is idempotent besides. Checkpoints sign the
chain heads every N records or T seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from fengqiao import logs, metrics
from fengqiao.infra.broker import GapGuard

from .ledger import Ledger, LedgerRecord

log = logs.get(__name__)


class Archiver:
    """``await Archiver(bootstrap, ledger, topics).run()`` until cancelled."""

    def __init__(
        self,
        bootstrap: str,
        ledger: Ledger,
        topics: Iterable[str],
        *,
        checkpoint_every: int = 1000,
        checkpoint_seconds: float = 60.0,
        fetch_wait_ms: int = 10,
    ) -> None:
        self.bootstrap = bootstrap
        self.ledger = ledger
        self.topics = list(topics)
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.fetch_wait_ms = fetch_wait_ms
        self.archived = 0
        self.ready = asyncio.Event()
        self.guard = GapGuard()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=self.fetch_wait_ms,
            max_poll_records=5000,
        )
        await consumer.start()
        try:
            await self._assign(consumer)
            self.ready.set()
            since_check, last_check = 0, time.monotonic()
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                now = datetime.now(UTC)
                records = []
                for tp in sorted(batch, key=lambda t: (t.topic, t.partition)):
                    records += [
                        LedgerRecord.from_message(m, now) for m in self.guard.take(consumer, tp, batch[tp])
                    ]
                if records:
                    started = time.perf_counter()
                    added = await asyncio.to_thread(self.ledger.append, records)
                    metrics.LEDGER_APPEND.observe(time.perf_counter() - started)
                    metrics.LEDGER_RECORDS.inc(added)
                    self.archived += added
                    since_check += added
                # Asking the ledger whether a checkpoint is due costs two queries: not after every small
                # batch, but once enough records came or a second passed (a checkpoint is at most that late).
                if since_check >= self.checkpoint_every or time.monotonic() - last_check >= 1.0:
                    await asyncio.to_thread(
                        self.ledger.maybe_checkpoint, self.checkpoint_every, self.checkpoint_seconds
                    )
                    since_check, last_check = 0, time.monotonic()
        finally:
            with contextlib.suppress(Exception):
                if self.archived:
                    await asyncio.to_thread(self.ledger.checkpoint)  # sign what we have before stopping
            await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        await consumer._client.force_metadata_update()
        positions = await asyncio.to_thread(self.ledger.positions)
        parts = [
            TopicPartition(t, p) for t in self.topics for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(parts)
        for tp in parts:
            last = positions.get((tp.topic, tp.partition))
            if last is None:
                await consumer.seek_to_beginning(tp)
                self.guard.expect(tp, None)
            else:
                consumer.seek(tp, last + 1)
                self.guard.expect(tp, last + 1)
        log.info("archiver.started", partitions=len(parts), resumed=len(positions))
