"""The demo county played through the pure core in simulated time, without a broker: what the benchmarks
measure and the golden and replay tests pin.

`build_ledger` (the ledger `fengqiao bench --replay` replays): every scripted agency event (`play`,
copied with new case and event ids) is handled by `engine.handle` at its own instant; between events
the timer fires at each case's next due instant (`engine.next_due`, as the worker's due index does),
so HandoffOverdue, the rules' breach events and HandoffEscalated are on the log too. Agency events and
the hub's decisions are stored as the hub stores them: on their workflow topic (decisions on their
case's), keyed and partitioned by case id with Kafka's default partitioner over 4 partitions, with the
envelope headers `emit` and the publisher send (``ce_dataschema`` included), through `Ledger.append`.

`drive` plays events the way a worker (`streams/processor.py`) does, with no ledger: before each
event, the timer decides on the cases that are due at its instant (`engine.tick`); the event goes
through `engine.handle`; the timer's decisions come back from the topic through `engine.handle`, those
`handle` made are skipped by id. It returns the cases and the log, in log order; `replay` folds it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import ceil
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2

from fengqiao.scenario.play import Event, Template, play, template
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope
from fengqiao.schemas.registry import RegistryStore
from fengqiao.streams import engine, topics
from fengqiao.streams.ledger import Ledger, LedgerRecord
from fengqiao.streams.workflows import load_context, with_indexed_registers

PARTITIONS = 4
REGISTRY_URL = "http://127.0.0.1:8081"  # a live hub's codec has one: ce_dataschema is set
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # the demo's "now": a fixed one, so runs compare
BATCH = 5000


def bench_codec() -> Codec:
    """A codec whose schema ids come from a registry store, as the hub's do, sealing personal fields
    as the hub's intake does (under keys in a throwaway folder: the data is synthetic)."""
    import tempfile

    from fengqiao.settings import Settings
    from fengqiao.streams.personal.protection import Protection

    catalogue = load()
    store = RegistryStore(":memory:")
    ids = {ev.fullname: store.register(ev.fullname, ev.schema_str()) for ev in catalogue}
    codec = Codec(catalogue, ids, registry_url=REGISTRY_URL)
    folder = Path(tempfile.mkdtemp(prefix="fq-bench-keys-"))
    codec.sealer = Protection.from_settings(Settings(data_dir=folder), catalogue, read_log=False).sealer
    return codec


def sealing_context(codec: Codec) -> engine.Context:
    """The demo county's context; with a sealing codec, its registers find sealed ID numbers."""
    ctx = load_context()
    return with_indexed_registers(ctx, codec.sealer.keys.index) if codec.sealer is not None else ctx


def partition_of(case_id: str) -> int:
    """Kafka's default partitioner for a keyed record (murmur2 of the key), as the hub's producers use."""
    return (murmur2(case_id.encode()) & 0x7FFFFFFF) % PARTITIONS


@dataclass
class Built:
    records: int
    cases: int
    agency_events: int
    decisions: int
    timer_decisions: int


class _County:
    """The live path in simulated time: `handle` per event, the timer at each due instant."""

    def __init__(self, codec: Codec, sink: Callable[[list[LedgerRecord]], None]) -> None:
        self.codec, self.ctx, self.sink = codec, sealing_context(codec), sink
        self.cases: dict[str, engine.Case] = {}
        self.due: list[tuple[datetime, str]] = []  # (next due instant, case id); stale entries skipped
        self.offsets: dict[tuple[str, int], int] = {}
        self.batch: list[LedgerRecord] = []
        self.agency = self.decided = self.timed = 0

    def store(self, env: Envelope, record: dict[str, Any], topic: str, at: datetime) -> None:
        if env.dataschema is None:  # the publisher and `emit` both name the schema
            env = env.with_(dataschema=self.codec.dataschema(env.type))
        partition = partition_of(env.subject)
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + 1
        value = self.codec.encode(env.type, record)
        headers = tuple(env.to_headers())
        ms = int(at.timestamp() * 1000)
        self.batch.append(
            LedgerRecord.from_kafka(topic, partition, offset, env.subject.encode(), value, headers, ms, at)
        )
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.sink(self.batch)
            self.batch = []

    def index(self, case: engine.Case) -> None:
        when = engine.next_due(case)
        if when is not None:
            heapq.heappush(self.due, (when, case["case_id"]))

    def timer(self, until: datetime) -> None:
        """Fire every deadline due up to ``until``, each at its own instant, in time order."""
        while self.due and self.due[0][0] <= until:
            when, case_id = heapq.heappop(self.due)
            case = self.cases[case_id]
            if engine.next_due(case) != when:
                continue  # the case moved on since this entry was pushed
            workflow = case["workflow"]
            for env, record in engine.tick(case, self.ctx, when):
                case, _ = engine.fold(case, env, record, workflow)  # the agent reads it back
                self.store(env, record, topics.workflow_topic(workflow), when)
                self.timed += 1
            self.cases[case_id] = case
            self.index(case)

    def event(self, env: Envelope, record: dict[str, Any]) -> None:
        if self.codec.sealer is not None:  # as the intake would have
            record = self.codec.sealer.seal(env.type, env.subject, record)
        self.timer(env.time)
        out = engine.handle(self.cases.get(env.subject), env, record, self.ctx, env.time)
        self.cases[env.subject] = out.case
        self.store(env, record, topics.topic_for(self.ctx.catalogue[env.type]), env.time)
        self.agency += 1
        decision_topic = topics.workflow_topic(out.case["workflow"])
        for d_env, d_record in out.decisions:
            self.store(d_env, d_record, decision_topic, env.time)
            self.decided += 1
        self.index(out.case)

    def run(self, events: Iterable[tuple[Envelope, dict[str, Any]]], end: datetime) -> None:
        for env, record in events:
            self.event(env, record)
        self.timer(end)
        self.flush()


def records_per_copy(tpl: Template, codec: Codec) -> int:
    """Ledger records one copy of the script makes (agency events, decisions, timer decisions)."""
    stored: list[int] = []
    county = _County(codec, lambda batch: stored.append(len(batch)))
    county.run(play(tpl, 1), NOW)
    return sum(stored)


def build_ledger(
    ledger: Ledger, codec: Codec, n_records: int, say: Callable[[str], None] = lambda _: None
) -> Built:
    """About ``n_records`` ledger records (whole copies of the script, at least one)."""
    tpl = template(codec, now=NOW)
    copies = max(1, ceil(n_records / records_per_copy(tpl, codec)))
    written = [0]

    def append(batch: list[LedgerRecord]) -> None:
        written[0] += ledger.append(batch)
        say(f"built {written[0]:,} ledger records…")

    county = _County(codec, append)
    say(f"running {copies} copies of the demo's {tpl.cases} cases through the live engine…")
    county.run(play(tpl, copies), NOW)
    return Built(written[0], len(county.cases), county.agency, county.decided, county.timed)


# The pure core without a store: what `fengqiao bench --core` times and the golden tests pin.

LogEntry = tuple[Envelope, dict[str, Any], str]  # a record of the log and its case's workflow
DECIDE_AFTER = timedelta(minutes=1)  # the worker handles an event a minute after it happened


def workload(codec: Codec, events: int, now: datetime | None = None) -> list[Event]:
    """At least ``events`` events of the demo's mix, their instants in the recent past of ``now``."""
    tpl = template(codec, now=now)
    return list(play(tpl, tpl.copies_for(events=events)))


def drive(
    ctx: engine.Context, events: Iterable[Event], finals: Iterable[datetime] = ()
) -> tuple[dict[str, engine.Case], list[LogEntry]]:
    """The worker's path over ``events``, then a timer pass over every case at each of ``finals``."""
    cases: dict[str, engine.Case] = {}
    log: list[LogEntry] = []
    due: list[tuple[datetime, str]] = []  # (next due instant, case id); stale entries skipped
    next_due: dict[str, datetime] = {}

    def apply(case_id: str, env: Envelope, record: dict[str, Any], now: datetime) -> None:
        log.append((env, record, _workflow(ctx, env, cases.get(case_id))))
        out = engine.handle(cases.get(case_id), env, record, ctx, now)
        if out.duplicate:
            return
        cases[case_id] = out.case
        for d_env, d_record in out.decisions:  # on the topic; skipped by id when it comes back
            log.append((d_env, d_record, _workflow(ctx, d_env, out.case)))
        when = engine.next_due(out.case)
        if when is not None and next_due.get(case_id) != when:
            next_due[case_id] = when
            heapq.heappush(due, (when, case_id))

    def timer(now: datetime, case_ids: Iterable[str]) -> None:
        for case_id in case_ids:
            for d_env, d_record in engine.tick(cases[case_id], ctx, now):
                apply(case_id, d_env, d_record, now)

    for env, record in events:
        ready = []
        while due and due[0][0] <= env.time:
            when, case_id = heapq.heappop(due)
            if next_due.get(case_id) == when:
                del next_due[case_id]
                ready.append(case_id)
        timer(env.time, ready)
        apply(env.subject, env, record, env.time + DECIDE_AFTER)
    for now in finals:
        timer(now, sorted(cases))
    return cases, log


def _workflow(ctx: engine.Context, env: Envelope, case: engine.Case | None) -> str:
    """The workflow whose topic carries the event (a hub-wide event: its case's)."""
    wf = ctx.catalogue[env.type].workflow
    return wf if wf != "*" else (case or {})["workflow"]


def replay(log: Iterable[LogEntry], copy: bool = True, as_json: bool = False) -> dict[str, engine.Case]:
    """`engine.fold` over the log, as replay does (``as_json``: records in JSON form, handed over)."""
    cases: dict[str, engine.Case] = {}
    for env, record, workflow in log:
        cases[env.subject], _ = engine.fold(
            cases.get(env.subject), env, record, workflow, copy=copy, as_json=as_json
        )
    return cases
