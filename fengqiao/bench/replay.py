"""`fengqiao bench --replay`: replay from the ledger through the workflow core, next to the raw
baseline measured in the same run on the same rows: read their values and fastavro-decode them,
nothing else (the decode ceiling replay is held to).

The ledger is built first, in a temporary folder (`scenario.simulate`): the demo's five-workflow mix run
through the live engine, timers firing, agency events and the hub's decisions stored as the hub
stores them. Each figure is the best of `REPEATS` runs (the machine is shared); replay runs in one
process and split over `WORKERS` processes, and both must give the same cases. The one-process
figures are given on CPU time too: what they would be on a core of their own.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
from rich.console import Console
from rich.table import Table

from fengqiao.scenario.simulate import Built, bench_codec, build_ledger
from fengqiao.schemas.codec import Codec
from fengqiao.streams import topics
from fengqiao.streams.crypto import Sha256Ed25519
from fengqiao.streams.ledger import Ledger
from fengqiao.streams.replay import replay_ledger

__all__ = ["bench_codec", "build_ledger", "render", "run_replay_bench"]
REPEATS = 3
WORKERS = 2


def raw_decode(ledger: Ledger, codec: Codec) -> int:
    """The baseline: the replayed rows' values, each fastavro-decoded with its writer schema."""
    writers = {codec.schema_id(ev.name): ev.parsed for ev in codec.catalogue}
    read = fastavro.schemaless_reader
    n = 0
    for batch in ledger.scan(("value",), topics=_workflow_topics(codec)):
        for value, _ in batch:
            read(BytesIO(value[5:]), writers[int.from_bytes(value[1:5], "big")], None)
        n += len(batch)
    return n


def _workflow_topics(codec: Codec) -> list[str]:
    return [topics.workflow_topic(w) for w in codec.catalogue.workflows()]


def _best(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(best wall seconds, best CPU seconds of this process, the result) over `REPEATS` runs."""
    best, cpu, result = float("inf"), float("inf"), None
    for _ in range(REPEATS):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run()
        best = min(best, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - cpu_started)
    return best, cpu, result


def run_replay_bench(n_events: int, progress: Console | None = None) -> dict[str, Any]:
    def say(msg: str) -> None:
        if progress:
            progress.print(f"[dim]{msg}[/]")

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'ledger.db'}", Sha256Ed25519.generate())
        codec = bench_codec()
        built = build_ledger(ledger, codec, n_events, say)
        say(f"raw read + decode of {built.records:,} records, best of {REPEATS}…")
        raw_s, raw_cpu, raw = _best(lambda: raw_decode(ledger, codec))
        say("replay through the workflow core, one process…")
        replay_s, replay_cpu, cases = _best(lambda: replay_ledger(ledger, codec))
        say(f"replay split over {WORKERS} processes…")
        parallel_s, _, parallel_cases = _best(lambda: replay_ledger(ledger, codec, workers=WORKERS))
        ledger.close()
    result = _result(built, raw, raw_s, len(cases), replay_s, parallel_s, parallel_cases == cases)
    # CPU seconds of one process: what the rates would be on a core of one's own (the machine may be shared)
    result["cpu"] = {
        "raw_records_per_s": round(raw / raw_cpu, 1),
        "replay_events_per_s": round(raw / replay_cpu, 1),
        "ratio": round(raw_cpu / replay_cpu, 3),
    }
    return result


def _result(
    built: Built, raw: int, raw_s: float, cases: int, replay_s: float, parallel_s: float, same: bool
) -> dict[str, Any]:
    raw_rate = raw / raw_s
    return {
        "records": raw,
        "cases": cases,
        "workload": {
            "agency_events": built.agency_events,
            "decisions": built.decisions,
            "timer_decisions": built.timer_decisions,
        },
        "best_of": REPEATS,
        "raw": {"seconds": round(raw_s, 3), "records_per_s": round(raw_rate, 1)},
        "replay": {"seconds": round(replay_s, 3), "events_per_s": round(raw / replay_s, 1)},
        "ratio": round(raw / replay_s / raw_rate, 3),
        "parallel": {
            "workers": WORKERS,
            "seconds": round(parallel_s, 3),
            "events_per_s": round(raw / parallel_s, 1),
            "ratio": round(raw / parallel_s / raw_rate, 3),
            "same_cases": same,
        },
    }


def render(result: dict[str, Any], console: Console) -> None:
    w = result["workload"]
    t = Table(
        title=f"fengqiao bench --replay — {result['records']:,} ledger records, {result['cases']:,} cases "
        f"({w['agency_events']:,} agency events, {w['decisions'] + w['timer_decisions']:,} decisions "
        f"of which {w['timer_decisions']:,} by the timer); best of {result['best_of']}"
    )
    for col in ("path", "seconds", "events/s", "vs raw"):
        t.add_column(col, justify="right" if col != "path" else "left")
    p = result["parallel"]
    t.add_row(
        "replay, 1 process",
        str(result["replay"]["seconds"]),
        f"{result['replay']['events_per_s']:,.0f}",
        f"{result['ratio']:.2f}",
    )
    t.add_row(
        f"replay, {p['workers']} processes",
        str(p["seconds"]),
        f"{p['events_per_s']:,.0f}",
        f"{p['ratio']:.2f}",
    )
    t.add_row(
        "raw: read + fastavro decode",
        str(result["raw"]["seconds"]),
        f"{result['raw']['records_per_s']:,.0f}",
        "1",
    )
    console.print(t)
    console.print(
        f"replay / raw ratio: [bold]{result['ratio']:.2f}[/] (one process), {p['ratio']:.2f} ({p['workers']})"
    )
    cpu = result["cpu"]
    console.print(
        f"on CPU time (robust to shared cores): replay {cpu['replay_events_per_s']:,.0f}/s, "
        f"raw {cpu['raw_records_per_s']:,.0f}/s, ratio {cpu['ratio']:.2f}"
    )
    if not p["same_cases"]:
        console.print("[red]the parallel replay's cases differ from the single process's[/]")
