"""The pure engine core on the demo mix, without a broker: what one worker's CPU can decide and replay.

`drive` plays events the way a worker (`streams/processor.py`) does: before each event, the timer
decides on the cases that are due at its instant (`engine.tick`); the event goes through
`engine.handle`; the timer's decisions come back from the topic through `engine.handle`, those
`handle` made are skipped by id. It returns the cases and the log, in log order.
`run_core_bench` times `drive` (the live path: per agency event, its handling, the timer's passes and
every decision made, typed, folded and read back), `engine.fold` over that log (replay: records of the
log, agency events and decisions; with the cyclic GC off, as `streams/replay.py` runs it), and beside
them fastavro writing and reading the same records (what encoding and decoding alone cost). Times are
CPU seconds, the best of a few runs.
"""

from __future__ import annotations

import cProfile
import gc
import heapq
import io
import pstats
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import fastavro

from fengqiao.bench_workload import Event, play, template
from fengqiao.schemas.codec import Codec, to_json
from fengqiao.schemas.envelope import Envelope
from fengqiao.streams import engine
from fengqiao.streams.workflows import load_context

LogEntry = tuple[Envelope, dict[str, Any], str]  # a record of the log and its case's workflow
DECIDE_AFTER = timedelta(minutes=1)  # the worker handles an event a minute after it happened


def plain_codec() -> Codec:
    """A codec with schema ids numbered in catalogue order (no registry needed)."""
    from fengqiao.schemas.catalogue import load

    catalogue = load()
    return Codec(catalogue, {ev.fullname: i for i, ev in enumerate(catalogue, 1)})


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


def raw_avro(codec: Codec, log: list[LogEntry]) -> None:
    """fastavro writing and reading back every record of the log."""
    schemas = [codec.catalogue[env.type].parsed for env, _, _ in log]
    for (_, record, _), schema in zip(log, schemas, strict=True):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, record)
        buf.seek(0)
        fastavro.schemaless_reader(buf, schema, schema)


def _best(repeat: int, fn: Any, *args: Any, collect: bool = True) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs in CPU time (on a shared machine the others are noise), and its
    result. ``collect=False``: with the cyclic GC off, as `streams/replay.py` runs."""
    best, out = float("inf"), None
    for _ in range(repeat):
        enabled = gc.isenabled()
        if not collect:
            gc.disable()
        try:
            t = time.process_time()
            out = fn(*args)
            best = min(best, time.process_time() - t)
        finally:
            if enabled:
                gc.enable()
    return best, out


def run_core_bench(events: int, repeat: int = 3) -> dict[str, Any]:
    """Events per second of the live path (agency events through `drive`), of replay (log records
    through `fold`, copying and in place) and of fastavro writing + reading the same records; each
    the best of ``repeat`` runs."""
    codec, ctx = plain_codec(), load_context()
    evs = workload(codec, events)
    finals = [max(env.time for env, _ in evs) + timedelta(days=d) for d in (1, 40)]
    live, (_, log) = _best(repeat, drive, ctx, evs, finals)
    live_no_gc, _ = _best(repeat, drive, ctx, evs, finals, collect=False)  # what the collector costs
    fold_copy, _ = _best(repeat, replay, log, True, collect=False)
    fold_own, _ = _best(repeat, replay, log, False, collect=False)
    as_json = [(env, to_json(record), workflow) for env, record, workflow in log]  # replay's decoder's form
    fold_json, _ = _best(repeat, replay, as_json, False, True, collect=False)
    avro, _ = _best(repeat, raw_avro, codec, log)
    return {
        "events": len(evs),
        "log_records": len(log),
        "decisions_per_event": round((len(log) - len(evs)) / len(evs), 2),
        "handle_events_per_s": round(len(evs) / live),
        "handle_events_per_s_gc_off": round(len(evs) / live_no_gc),
        "fold_records_per_s": round(len(log) / fold_own),
        "fold_copy_records_per_s": round(len(log) / fold_copy),
        "fold_json_records_per_s": round(len(log) / fold_json),
        "raw_avro_records_per_s": round(len(log) / avro),
    }


def profile(events: int, top: int = 30) -> str:
    """The top of a cProfile of the live path (`drive`), by cumulative time."""
    codec, ctx = plain_codec(), load_context()
    evs = workload(codec, events)
    prof = cProfile.Profile()
    prof.runcall(drive, ctx, evs, [max(env.time for env, _ in evs) + timedelta(days=40)])
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()
