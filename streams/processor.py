"""The case processor (案件处理器): the workflow topics consumed in batches, each record through the pure
core, the decisions and updates produced in one go, the offsets committed once they are on the log.

Why not a Faust agent per topic: Faust hands a stream one event at a time through its conductor,
channel and acking machinery, which costs about 60–100 µs of CPU per record before any work (measured:
a Faust agent that does nothing reads about 9–10k records/s here), and every agency event brings two
or three records back (the hub's decisions go on the case's topic and return). The rules themselves
are cheaper than that. So the worker stays a Faust app — its web pages, timer and lifecycle — and this
service reads with aiokafka in batches (DESIGN principle 10: pure core, Faust at the edge).

Per record (`_apply`): envelope, decode, the acceptance rule, `engine.handle` on the case, the
decisions and the ``CaseUpdated`` queued; anything refused or failing is queued as a dead letter.
Per batch (`_flush`): everything queued goes to the producer in order, the acks are awaited, then the
offsets are committed — at-least-once, with `fold` making a redelivery change nothing.

State: the cases of the partitions this worker holds, in the case store (`casestore.py`: on disk per
partition, the hot and changed ones in memory), sealed into snapshots at known offsets. On assignment
a partition starts from its snapshot, where the ledger vouches for it, and folds the ledger's records
after it; records the ledger holds past the group's committed offset are caught up (`engine.handle`
with ``known``: decisions on the log are read back, not made again); the rest is live. The timer stays
quiet until every held partition is caught up. What goes out (decisions, updates, dead letters) is
queued and produced by `producing.Producing`. The rest stays one module (~540 lines): the batch, the
commit, the seal and the rebalance share one lock and one order, which reads best in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from fengqiao import logs, metrics
from fengqiao.infra.broker import GapGuard
from fengqiao.schemas.codec import Codec, UnknownSchema
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope, EnvelopeError, header
from fengqiao.schemas.framing import FramingError, unframe
from fengqiao.schemas.registry import RegistryError
from fengqiao.settings import Settings

from . import engine, topics
from .acceptance import refusal
from .casestore import CaseStore, Part, Seal, code_fingerprint
from .clock import Clock
from .crypto import suite_for
from .ledger import Ledger, kafka_headers
from .producing import Out, Producing
from .worker_metrics import TALLY, HandoffTally, handoff_keys

log = logs.get(__name__)
COMMIT_EVERY_S = 0.2  # the group's offsets are committed at most this often
SNAPSHOT_EVERY_S = 1.0  # the changed cases are sealed into a snapshot at least this often ...
SEAL_AT = 5000  # ... or once this many have changed (what a rebuild holds in memory at most)
PIN_LIMIT = 4 * SEAL_AT  # changed cases held in memory, waiting for the ledger, before the worker waits


class Rejected(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


@dataclass
class PartitionState:
    """What the worker knows of one partition it holds."""

    fold_below: int = 0  # decided before: fold only (the snapshot's or the group's committed offset)
    catch_up_to: int = -1  # the ledger holds up to here: decisions are read back, not made
    done: int = -1  # last offset applied
    rebuild: Any = None  # the ledger's rows still to fold before the topic is read (an iterator)
    sealed: int = 0  # the next offset the newest seal includes


class LedgerRow(NamedTuple):
    """A ledger row in the shape of a consumer record, so a rebuild goes through the same path."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int


class CaseProcessor(Producing):
    """``await CaseProcessor(...).run()`` until cancelled; `cases`, `tick` and `caught_up` for the app."""

    def __init__(
        self, settings: Settings, bootstrap: str, codec: Codec, ctx: engine.Context, clock: Clock
    ) -> None:
        self.settings, self.bootstrap, self.codec, self.ctx, self.clock = (
            settings,
            bootstrap,
            codec,
            ctx,
            clock,
        )
        self.workflows = {topics.workflow_topic(w): w for w in codec.catalogue.workflows()}
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.cases = CaseStore(settings.data_dir / "cases" / f"{settings.app_id}.cases", settings.case_cache)
        self.handoffs = HandoffTally()  # open handoffs per partition, for the metrics
        self.code = code_fingerprint()
        self.guard = GapGuard()
        self.parts: dict[TopicPartition, PartitionState] = {}
        self.emitted: dict[str, None] = {}  # timer decisions sent, not folded yet
        # Cases the timer decided on whose decisions have not come back yet: a pass skips them, instead
        # of reading each from the store again while the worker is behind on its topics.
        self.awaiting: dict[str, None] = {}
        self.folded_own: set[str] = set()  # decisions sent and already folded: skip them when they return
        self.lock = asyncio.Lock()  # one batch, one tick or one rebalance at a time
        # The deployment's suite without its key: the digest of the chains it appends to (it signs nothing).
        suite = suite_for(settings.ledger_suite)
        self.ledger = Ledger(settings.ledger_url, suite) if settings.ledger_url else None
        self._seals: list[Seal] = []  # sealed snapshots waiting for the ledger, oldest first
        self._sealed_at = time.monotonic()
        self._written: dict[Part, int] = {}  # the last offset written per partition, ever
        self._out: list[Out] = []
        self._uncommitted: dict[TopicPartition, int] = {}  # applied, flushed, not yet committed
        self._committed_at = 0.0
        self._known_cases: dict[str, dict[str, tuple[Any, bytes]]] = {}  # catch-up: hub records by case
        self._counts: dict[str, int] = {}  # partitions of each topic written to
        self._source_count = 0  # partitions of the workflow topics read
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        s = self.settings
        # Cases are many small dicts that live long: the collector's default thresholds make it walk them
        # again and again (a quarter of the CPU of a busy worker); rarer young collections cost less.
        gc.set_threshold(10_000, 10, 10)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", linger_ms=0, max_batch_size=1 << 20
        )
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=f"{s.app_id}.cases",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=s.fetch_wait_ms,
            max_poll_records=2000,
            session_timeout_ms=int(s.session_timeout_s * 1000),
            heartbeat_interval_ms=int(s.heartbeat_s * 1000),
            rebalance_timeout_ms=int(s.rebalance_timeout_s * 1000),
            max_partition_fetch_bytes=4 << 20,
        )
        await self.producer.start()
        await self.consumer.start()
        try:
            self.consumer.subscribe(list(self.workflows), listener=_Listener(self))
            while True:
                rebuilding = next((tp for tp, p in self.parts.items() if p.rebuild is not None), None)
                if rebuilding is not None:  # a partition folded from the ledger, a chunk at a time
                    async with self.lock:
                        await self._process(await self._ledger_chunk(rebuilding))
                batch = await self.consumer.getmany(timeout_ms=0 if rebuilding else 200, max_records=2000)
                if batch:
                    async with self.lock:
                        await self._process(batch)
        finally:
            # A stopping worker is cancelled, maybe more than once: the last commit and snapshot run in a
            # task of their own that a second cancellation does not cut short (bounded by its waits).
            last = asyncio.ensure_future(self._last_words())
            while not last.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(last)

    async def _last_words(self) -> None:
        with contextlib.suppress(Exception):
            await self._commit()
        with contextlib.suppress(Exception):
            # The archiver stores the last batches meanwhile (the hub gives a stopping worker 15 s), so
            # the tail to fold at the next start stays short.
            await self._snapshot(wait_s=12.0)
        for client in (self.consumer, self.producer):
            with contextlib.suppress(Exception):
                await client.stop()  # type: ignore[union-attr]
        if self.ledger is not None:
            self.ledger.close()
        self.cases.close()

    def settled(self) -> bool:
        """Every change is in a written snapshot: what a stopping hub waits for (a restart then folds
        no tail)."""
        return not self._seals and not self.cases.dirty()

    def assignment(self) -> set[TopicPartition]:
        return set(self.parts)

    def caught_up(self) -> bool:
        return bool(self.parts) and all(
            p.rebuild is None and p.done >= max(p.fold_below - 1, p.catch_up_to) for p in self.parts.values()
        )

    async def _assigned(self, assigned: Iterable[TopicPartition]) -> None:
        """The whole new assignment: partitions no longer held leave memory; each new one starts from its
        snapshot, if the ledger vouches for it, and folds the ledger's records after it before reading
        the topic — so a topic that no longer holds a case's early records (retention, a fresh broker)
        loses nothing."""
        assert self.consumer is not None
        assigned = set(assigned)
        for tp in [tp for tp in self.parts if tp not in assigned]:
            del self.parts[tp]
            self.cases.drop((tp.topic, tp.partition))
            self.handoffs.drop((tp.topic, tp.partition))
            for seal in self._seals:  # not to be written if the partition comes back: it starts afresh
                seal.offsets.pop((tp.topic, tp.partition), None)
                seal.rows.pop((tp.topic, tp.partition), None)
        new = assigned - set(self.parts)
        positions = await asyncio.to_thread(self.ledger.positions) if self.ledger and new else {}
        for tp in new:
            part = (tp.topic, tp.partition)
            self._source_count = len(self.consumer.partitions_for_topic(tp.topic) or ())
            ledger_has = positions.get(part, -1)
            start = await asyncio.to_thread(self._trusted_start, part, ledger_has)
            self.handoffs.drop(part)
            if self.cases.count(part):  # from a snapshot: its tally, kept as cases change from here
                tally = self.cases.open(part).meta(TALLY)
                if tally is not None:
                    self.handoffs.restore(part, tally)
                else:  # a snapshot from before the metrics: counted once from the store
                    await asyncio.to_thread(self.handoffs.load, part, self.cases.open(part).cases())
            # Below the snapshot or the group's committed offset the log was decided before: fold only.
            committed = max(await self.consumer.committed(tp) or 0, start)
            state = self.parts[tp] = PartitionState(
                fold_below=committed, catch_up_to=ledger_has, done=start - 1, sealed=start
            )
            if self.ledger is not None and ledger_has >= start:
                state.rebuild = self.ledger.partition_rows(tp.topic, tp.partition, start, ledger_has)
                self.consumer.pause(tp)
            else:
                self._read_topic_from(tp, start)
        log.info("processor.assigned", partitions=len(self.parts), caught_up=self.caught_up())

    def _trusted_start(self, part: Part, ledger_has: int) -> int:
        """The offset the partition's snapshot includes, where the ledger vouches for it; 0 otherwise
        (the snapshot is refused, saying why, and the partition rebuilt from the ledger)."""
        store = self.cases.open(part)
        snap = store.snapshot()
        why = None
        if snap is None:
            why = "no snapshot" if self.cases.count(part) else None
        elif snap.code != self.code:
            why = "made by other code (engine, workflows or policies changed)"
        elif snap.next_offset and self.ledger is not None:
            h = self.ledger.hash_at(part[0], part[1], snap.next_offset - 1)
            if h is None:
                why = f"the ledger holds no record at offset {snap.next_offset - 1} (ledger at {ledger_has})"
            elif h != snap.ledger_hash:
                why = f"the ledger's record at offset {snap.next_offset - 1} has another hash"
        if why is None:
            n = snap.next_offset if snap else 0
            log.info(
                "snapshot.loaded",
                topic=part[0],
                partition=part[1],
                next_offset=n,
                cases=self.cases.count(part),
            )
            return n
        log.warning(
            "snapshot.refused", topic=part[0], partition=part[1], reason=why, then="rebuilt from the ledger"
        )
        self.cases.clear(part)
        return 0

    def _read_topic_from(self, tp: TopicPartition, offset: int) -> None:
        assert self.consumer is not None
        self.consumer.seek(tp, offset)
        self.guard.expect(tp, offset)
        self.consumer.resume(tp)

    async def _ledger_chunk(self, tp: TopicPartition) -> dict[TopicPartition, list[Any]]:
        """The next rows of a partition being rebuilt from the ledger; at its end, the topic is read on
        from the record after the ledger's last."""
        state = self.parts[tp]
        rows = await asyncio.to_thread(next, state.rebuild, None)
        if rows is None:
            state.rebuild = None
            self._read_topic_from(tp, state.done + 1)
            log.info("processor.rebuilt", topic=tp.topic, partition=tp.partition, next_offset=state.done + 1)
            return {}
        return {
            tp: [LedgerRow(tp.topic, tp.partition, o, k, v, kafka_headers(h), ts) for o, k, v, h, ts in rows]
        }

    # -- the batch -------------------------------------------------------------------------------

    async def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        commits: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            state = self.parts.get(tp)
            if state is None:
                continue  # revoked meanwhile
            workflow = self.workflows[tp.topic]
            if state.rebuild is None:  # a fetch from the topic (a rebuild's rows come from the ledger)
                records = self.guard.take(self.consumer, tp, records)
            for msg in records:
                await self._one(msg, tp, state, workflow)
                state.done = msg.offset
            if records and state.rebuild is None:
                commits[tp] = records[-1].offset + 1
        await self._flush_all()
        self._uncommitted.update(commits)
        if time.monotonic() - self._committed_at >= COMMIT_EVERY_S:
            await self._commit()
        if self.cases.dirty() >= SEAL_AT or time.monotonic() - self._sealed_at >= SNAPSHOT_EVERY_S:
            await self._snapshot()
        if len(self.cases.pinned) > PIN_LIMIT:  # the archiver is behind: wait for it, memory stays bounded
            await self._snapshot(wait_s=30.0)
        if not self.caught_up():
            gc.disable()  # rebuilding: as in replay, the collector would walk the growing cases again
            return
        if not gc.isenabled():
            gc.enable()
            gc.collect()
        self._known_cases.clear()  # the catch-up's look-ups are done

    async def _snapshot(self, wait_s: float = 0.0) -> None:
        """Seal the cases changed since the last snapshot with the offsets they include, and write every
        seal whose records the ledger now holds — the records applied and all they produced (decisions,
        updates, dead letters) — so folding the log after a snapshot gives exactly the worker's state."""
        self._sealed_at = time.monotonic()
        if self.cases.dirty() or any(p.done + 1 > p.sealed for p in self.parts.values()):
            offsets = {(tp.topic, tp.partition): p.done + 1 for tp, p in self.parts.items()}
            needs = {**self._written, **{part: o - 1 for part, o in offsets.items()}}
            extra = {part: {TALLY: self.handoffs.dump(part)} for part in offsets}
            self._seals.append(self.cases.seal(offsets, needs, extra))
            for p in self.parts.values():
                p.sealed = p.done + 1
        if not self._seals or self.ledger is None:
            self._seals.clear()  # without a ledger nothing can vouch for a snapshot
            return
        deadline = time.monotonic() + wait_s
        while True:
            ledger = await asyncio.to_thread(self.ledger.positions)
            while self._seals and all(ledger.get(p, -1) >= o for p, o in self._seals[0].needs.items()):
                seal = self._seals.pop(0)
                await asyncio.to_thread(self._write, seal)
                self.cases.written(seal)
            if not self._seals or time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.05)

    async def _flush_all(self) -> None:
        """`_flush`, remembering the last offset written per partition: a snapshot waits for the ledger
        to hold everything written before it."""
        for part, last in (await self._flush()).items():
            self._written[part] = max(self._written.get(part, -1), last)

    def _write(self, seal: Seal) -> None:
        assert self.ledger is not None
        hashes = {
            part: self.ledger.hash_at(part[0], part[1], nxt - 1) if nxt else None
            for part, nxt in seal.offsets.items()
        }
        self.cases.write(seal, hashes, self.code)

    async def _commit(self) -> None:
        """The group's offsets, for what is applied and on the log. Not after every batch: a commit is a
        round trip, and at a thousand events a second batches are small; what a crash leaves uncommitted
        is read again and changes nothing (every record is applied once)."""
        self._committed_at = time.monotonic()
        commits, self._uncommitted = self._uncommitted, {}
        if commits and self.consumer is not None:
            await self.consumer.commit(commits)

    async def _one(self, msg: Any, tp: TopicPartition, state: PartitionState, workflow: str) -> None:
        headers = msg.headers or ()
        if msg.offset >= state.fold_below and self.folded_own:
            ce_id = header(headers, "ce_id")
            if ce_id in self.folded_own:  # a decision of ours coming back: already on the case
                self.folded_own.discard(ce_id)
                return
        try:
            self._apply(msg, tp, state, workflow, headers)
        except _NeedSchema as e:
            if await self.codec.ensure(e.schema_id):
                await self._one(msg, tp, state, workflow)
            else:
                self._dead(msg, "undecodable", str(UnknownSchema(e.schema_id)))
        except Rejected as r:
            self._dead(msg, r.kind, r.reason, (msg.key or b"").decode("utf-8", "replace"))
        except RegistryError as e:  # the registry is down: not the record's fault
            log.exception("handler.failed", topic=msg.topic, offset=msg.offset)
            self._dead(msg, "handler_failed", f"{type(e).__name__}: {e}")
        except Exception as e:  # a bug must not stop the partition: park the record, go on
            log.exception("handler.failed", topic=msg.topic, offset=msg.offset)
            self._dead(msg, "handler_failed", f"{type(e).__name__}: {e}")

    def _apply(
        self, msg: Any, tp: TopicPartition, state: PartitionState, workflow: str, headers: Any
    ) -> None:
        try:
            env = Envelope.from_headers(headers)
        except EnvelopeError as e:
            raise Rejected("invalid", str(e)) from e
        try:
            schema_id, _ = unframe(msg.value)
        except FramingError as e:
            raise Rejected("undecodable", str(e)) from e
        if not self.codec.knows(schema_id):
            raise _NeedSchema(schema_id)
        try:
            ev, record = self.codec.decode(msg.value)
        except Exception as e:  # fastavro raises many kinds for a truncated or foreign body
            raise Rejected("undecodable", f"Avro body does not decode: {e}") from e
        case_id = (msg.key or b"").decode("utf-8", "replace")
        refused = refusal(msg.topic, case_id, env, ev, record)
        if refused:
            raise Rejected(*refused)
        part = (tp.topic, tp.partition)
        case = self.cases.get(case_id, part)
        if msg.offset < state.fold_below:  # decided before: its decisions follow on the log
            # Rebuilding: nothing else changes this case object meanwhile, so it is folded in place.
            before = handoff_keys(case)
            folded, applied = engine.fold(
                case, env, record, (case or {}).get("workflow") or workflow, copy=False
            )
            if applied:
                self.cases.put(case_id, part, folded, engine.next_due(folded), fresh=case is None)
                self.handoffs.change(part, before, folded)
            return
        if case is not None and env.id in map(_ID, reversed(case["events"])):
            return  # already on the case (a decision of ours folded before the snapshot): no look-ups
        catching_up = msg.offset <= state.catch_up_to
        now = self.clock()
        if catching_up:  # decided before the restart: read the decisions back from the ledger
            now = datetime.fromtimestamp(msg.timestamp / 1000, UTC) if msg.timestamp else now
        known = self._known_for(env.subject) if catching_up else None
        before = handoff_keys(case)
        outcome = engine.handle(case, env, record, self.ctx, now, known=known)
        if outcome.duplicate:
            return
        if not catching_up:  # counted once: a restart's catch-up read them before
            metrics.child(metrics.EVENTS_IN, workflow, "hub" if env.source == HUB_SOURCE else "agency").inc()
            for d_env, _ in outcome.decisions:
                metrics.child(metrics.DECISIONS, d_env.type).inc()
        # Decisions are queued before the case shows them: the timer, which reads the cases, waits for
        # this batch's flush (the lock), and a finding about a handoff must follow its assignment.
        for d_env, d_record in outcome.decisions:
            self._emit(d_env, d_record, workflow, tp.partition)
            self.folded_own.add(d_env.id)
        self.cases.put(case_id, part, outcome.case, engine.next_due(outcome.case), fresh=case is None)
        self.handoffs.change(part, before, outcome.case)
        self.awaiting.pop(case_id, None)
        if not catching_up:  # the feed already has this update from before the restart
            self._update(env, outcome.case, workflow, now, tp.partition)

    def _known_for(self, case_id: str) -> engine.Known:
        """Looks a decision up among the case's hub records in the ledger, read once per case while
        catching up (a query per decision made catch-up several times slower)."""
        found = self._known_cases.get(case_id)
        if found is None:
            found = {}
            for rec in self.ledger.read(case_id=case_id) if self.ledger else ():
                if rec.event_id and rec.value is not None and rec.event_id not in found:
                    found[rec.event_id] = (rec.headers, rec.value)
            self._known_cases[case_id] = found
            while len(self._known_cases) > 10_000:  # catch-up runs in log order: old cases are done
                self._known_cases.pop(next(iter(self._known_cases)))

        def known(event_id: str) -> engine.Decision | None:
            hit = found.get(event_id)
            if hit is None:
                return None
            return Envelope.from_headers(hit[0]), self.codec.decode(hit[1])[1]

        return known

    # -- the timer -------------------------------------------------------------------------------

    async def tick(self, chunk: int = 50) -> int:
        """Passed deadlines become events (HandoffOverdue, PickupMissed, HandoffEscalated, ...).

        The due cases are taken ``chunk`` at a time, each chunk's decisions flushed before the next:
        the batches of agency events wait for one chunk at most, not for the whole pass.
        """
        if self._uncommitted or self._seals or time.monotonic() - self._sealed_at >= SNAPSHOT_EVERY_S:
            async with self.lock:  # quiet partitions: what the last batches applied is committed here
                await self._commit()
                await self._snapshot()
        if not self.caught_up():
            return 0  # a case half rebuilt would look overdue for handoffs the log fulfils further on
        now = self.clock()
        due = self.cases.due(now)  # what is due, from each partition's index: not every open case
        sent = 0
        for i in range(0, len(due), chunk):
            async with self.lock:
                for case_id, part in due[i : i + chunk]:
                    if case_id not in self.awaiting:
                        sent += self._tick_case(case_id, part, now)
                await self._flush_all()
        for table in (self.emitted, self.awaiting):
            while len(table) > 100_000:
                table.pop(next(iter(table)))
        return sent

    def _tick_case(self, case_id: str, part: Part, now: datetime) -> int:
        case = self.cases.get(case_id, part)
        if case is None:  # its partition went to another worker meanwhile
            return 0
        try:
            decisions = engine.tick(case, self.ctx, now)
        except Exception:  # one broken case must not stop the clock for the others
            log.exception("timer.failed", case_id=case.get("case_id"))
            return 0
        sent = 0
        if decisions:
            self.awaiting[case_id] = None
        for d_env, d_record in decisions:
            if d_env.id not in self.emitted:
                self.emitted[d_env.id] = None
                self._emit(d_env, d_record, case["workflow"], None)
                metrics.child(metrics.DECISIONS, d_env.type).inc()
                sent += 1
        return sent


class _NeedSchema(Exception):
    def __init__(self, schema_id: int) -> None:
        super().__init__(schema_id)
        self.schema_id = schema_id


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, processor: CaseProcessor) -> None:
        self.p = processor

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.p.lock:  # waits for the batch in hand to be flushed, then commits it all
            await self.p._commit()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self.p.lock:
            await self.p._assigned(assigned)


_ID = itemgetter("id")
