"""The pure engine core on the demo mix, without a broker: what one worker's CPU can decide and replay.

`run_core_bench` times `drive` (the live path: per agency event, its handling, the timer's passes and
every decision made, typed, folded and read back), `engine.fold` over that log (replay: records of the
log, agency events and decisions; with the cyclic GC off, as `streams/replay.py` runs it), and beside
them fastavro writing and reading the same records (what encoding and decoding alone cost). Times are
CPU seconds, the best of a few runs.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import time
from datetime import timedelta
from typing import Any

import fastavro

from fengqiao.scenario.simulate import LogEntry, drive, replay, workload
from fengqiao.schemas.codec import Codec, plain_codec, to_json
from fengqiao.streams.workflows import load_context


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
