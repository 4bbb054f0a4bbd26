"""`fengqiao bench --cases N --load ledger`: the data folder a hub has after N cases, written with the
hub's own code but without the broker, so that a million cases can be measured in one sitting.

Why: loading cases through the live path costs the worker and the archiver about 3 ms of CPU an
agency event between them on these machines (docs/performance.md), so a million cases (4.1 million
events) take hours. What the bench measures with N cases in the store — the worker's memory, the
store on disk, the time to ready, the live rate — depends on the folder, not on how it was filled, so
for large N the bench writes the folder directly and then starts the hub on it, as after any restart:

* each case's scripted events (the demo mix, `scenario.play`) through `engine.handle` at the
  seeding instant, then the timer's passes at that instant (`engine.tick`, folded back as the worker
  folds its own decisions), as a worker does when the events arrive together;
* the events and decisions into the ledger (`Ledger.append` with the hub's signing key, one signed
  checkpoint at the end), on the workflow topics, partitioned as Kafka's default partitioner does;
* the cases into the worker's case store (`PartitionStore.write`) with a snapshot at each partition's
  ledger head — its hash, the code fingerprint and the handoff tally — so the worker trusts it.

Not written: the ``CaseUpdated`` feed and the read model (no reader of this bench uses them). The
partitions are split over processes: their chains and stores are independent.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fengqiao.scenario.play import copy_of, template
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope
from fengqiao.schemas.registry import RegistryStore
from fengqiao.settings import Settings
from fengqiao.streams import engine, topics
from fengqiao.streams.casestore import CaseStore, Part, Snapshot, code_fingerprint
from fengqiao.streams.crypto import load_or_create_key
from fengqiao.streams.ledger import Ledger, LedgerRecord
from fengqiao.streams.personal.protection import attach
from fengqiao.streams.producing import owner_partition
from fengqiao.streams.worker_metrics import TALLY, HandoffTally, handoff_keys
from fengqiao.streams.workflows import load_context, with_indexed_registers

GROUP = 2000  # copies of the script (25 cases each) in memory at once, then written and dropped
BATCH = 5000  # ledger records per append
TICKS = 20  # timer passes at the seeding instant, at most, until a case has nothing due


@dataclass(frozen=True)
class _Job:
    settings: dict[str, Any]  # Settings.model_dump of the folder's settings
    ids: dict[str, int]
    partitions: tuple[int, ...]  # the partitions this process writes
    copies: int
    now: datetime


def seed(
    settings: Settings, n_cases: int, procs: int = 2, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Fill ``settings.data_dir`` with about ``n_cases`` cases (whole copies of the script)."""
    s = settings
    s.data_dir.mkdir(parents=True, exist_ok=True)
    catalogue = load()
    store = RegistryStore(str(s.data_dir / "registry.db"))  # the ids the hub's registry gives again
    ids = {ev.fullname: store.register(ev.fullname, ev.schema_str()) for ev in catalogue}
    store.close()
    codec = Codec(catalogue, ids, registry_url="seeded")
    copies = template(codec).copies_for(cases=n_cases)
    suite = load_or_create_key(s.key_file, s.ledger_suite)  # made once, before the processes share it
    Ledger(s.ledger_url, suite).close()  # the tables and the suite, before two processes race to make them
    procs = max(1, min(procs, s.partitions))
    shares = [tuple(p for p in range(s.partitions) if p % procs == i) for i in range(procs)]
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    say(f"seeding {copies:,} copies of the demo's script over {procs} processes…")
    dump = s.model_dump(mode="json")
    with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_seed, _Job(dump, ids, share, copies, now)) for share in shares]
        results = [f.result() for f in futures]
    ledger = Ledger(s.ledger_url, suite)
    try:
        ledger.checkpoint()  # the seeded chains signed, as the archiver signs what it stored
    finally:
        ledger.close()
    total = {k: sum(r[k] for r in results) for k in results[0]}
    took = round(time.perf_counter() - t0, 1)
    say(f"seeded {total['cases']:,} cases, {total['records']:,} ledger records in {took:.0f} s")
    return {**total, "copies": copies, "seconds": took}


def _seed(job: _Job) -> dict[str, int]:
    s = Settings.model_validate(job.settings)
    catalogue = load()
    codec = Codec(catalogue, job.ids, registry_url="seeded")
    attach(codec, s)  # sealed under the data folder's keys, as the hub's intake seals
    writer = _Writer(s, codec, job.partitions, job.now)
    try:
        tpl = template(codec, now=job.now)
        for first in range(0, job.copies, GROUP):
            for n in range(first, min(job.copies, first + GROUP)):
                for event in tpl.events:
                    env, record = copy_of(event, n)
                    if owner_partition(env.subject, s.partitions) in job.partitions:
                        writer.event(env.with_(dataschema=codec.dataschema(env.type)), record)
            writer.settle()
        return writer.totals()
    finally:
        writer.close()


class _Writer:
    """One process's partitions: cases in memory for a group, then into the ledger and the store."""

    def __init__(self, s: Settings, codec: Codec, partitions: tuple[int, ...], now: datetime) -> None:
        self.s, self.codec, self.partitions, self.now = s, codec, partitions, now
        self.ctx = load_context(s.deployment)
        if codec.sealer is not None:  # the registers find sealed ID numbers, as the workers' do
            self.ctx = with_indexed_registers(self.ctx, codec.sealer.keys.index)
        self.ledger = Ledger(s.ledger_url)
        self.store = CaseStore(s.data_dir / "cases" / f"{s.app_id}.cases", hot_limit=0)
        self.tally = HandoffTally()
        self.code = code_fingerprint()
        self.cases: dict[tuple[Part, str], engine.Case] = {}
        self.offsets: dict[Part, int] = {}
        self.batch: list[LedgerRecord] = []
        self.records = self.agency = self.written = self.open = self.avro_bytes = 0
        self.ms = int(now.timestamp() * 1000)

    def _store(self, env: Envelope, record: dict[str, Any], topic: str, agency: bool = False) -> Part:
        if env.dataschema is None:
            env = env.with_(dataschema=self.codec.dataschema(env.type))
        part = (topic, owner_partition(env.subject, self.s.partitions))
        offset = self.offsets.get(part, 0)
        self.offsets[part] = offset + 1
        value = self.codec.encode(env.type, record)
        self.avro_bytes += len(value) if agency else 0
        self.batch.append(
            LedgerRecord.from_kafka(
                topic,
                part[1],
                offset,
                env.subject.encode(),
                value,
                tuple(env.to_headers()),
                self.ms,
                self.now,
            )
        )
        if len(self.batch) >= BATCH:
            self._flush()
        return part

    def _flush(self) -> None:
        if self.batch:
            self.records += self.ledger.append(self.batch)
            self.batch = []

    def event(self, env: Envelope, record: dict[str, Any]) -> None:
        if self.codec.sealer is not None:
            record = self.codec.sealer.seal(env.type, env.subject, record)
        topic = topics.topic_for(self.ctx.catalogue[env.type])
        part = (topic, owner_partition(env.subject, self.s.partitions))
        out = engine.handle(self.cases.get((part, env.subject)), env, record, self.ctx, self.now)
        if out.duplicate:
            return
        self._store(env, record, topic, agency=True)
        self.agency += 1
        for d_env, d_record in out.decisions:
            if self._store(d_env, d_record, topics.workflow_topic(out.case["workflow"])) != part:
                raise ValueError(f"{env.subject}: a decision on another partition than its case's")
        self.cases[(part, env.subject)] = out.case

    def settle(self) -> None:
        """The timer's passes at the seeding instant, then the group's cases into the store with a
        snapshot at each partition's head."""
        for key, case in self.cases.items():
            for _ in range(TICKS):
                due = engine.next_due(case)
                if due is None or due > self.now:
                    break
                decisions = engine.tick(case, self.ctx, self.now)
                if not decisions:
                    break
                for d_env, d_record in decisions:
                    self._store(d_env, d_record, key[0][0])
                    case, _ = engine.fold(case, d_env, d_record, case["workflow"])
            self.cases[key] = case
        self._flush()
        rows: dict[Part, list[tuple[str, engine.Case, datetime | None]]] = {}
        for (part, case_id), case in self.cases.items():
            rows.setdefault(part, []).append((case_id, case, engine.next_due(case)))
            self.open += case.get("status") != "closed"
            self.tally.change(part, handoff_keys(None), case)
        for part, nxt in self.offsets.items():
            store = self.store.open(part)
            snap = Snapshot(nxt, self.ledger.hash_at(part[0], part[1], nxt - 1), self.code)
            store.write(rows.get(part, []), snap, {TALLY: self.tally.dump(part)})
        self.written += len(self.cases)
        self.cases.clear()

    def totals(self) -> dict[str, int]:
        return {
            "cases": self.written,
            "open_cases": self.open,
            "records": self.records,
            "events": self.agency,
            "avro_bytes": self.avro_bytes,
        }

    def close(self) -> None:
        self.store.close()
        self.ledger.close()
