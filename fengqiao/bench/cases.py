"""`fengqiao bench --cases N`: N cases of the demo's mix in one worker — its resident memory and the
case store's size on disk — then a restart of the hub on the same folder, the time until the worker is
ready and caught up, and the live throughput with those cases in the store.

Raw baselines from the same run: the Avro bytes of the same events (what the bare facts take), the
ledger read back raw (what a rebuild without snapshots would at least read), and aiokafka + fastavro
consuming the live events from a plain topic.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from fengqiao.bench.live import Wire, bench_dir, fresh_hub, hub_run, raw_throughput
from fengqiao.bench.seed import seed
from fengqiao.hub import Hub
from fengqiao.infra.broker import open_reader
from fengqiao.scenario.play import Template, copy_of, play, template
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.ledger import Ledger

CHUNK = 5000  # events in flight at once: the bench must not hold a million events in memory
LIVE_UP_TO = 100_000  # cases loaded through the live path by default; more are seeded (`bench.seed`)
LIVE_EVENTS = 20_000  # events of new cases sent after the restart, with the loaded cases in the store


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _new_cases(codec: Any, tpl: Template, first_copy: int, n: int) -> list[Wire]:
    """``n`` events of cases the load did not make (copies numbered from ``first_copy``)."""
    out: list[Wire] = []
    copies = max(1, -(-n // len(tpl.events)))
    for event in tpl.events:
        for c in range(first_copy, first_copy + copies):
            env, record = copy_of(event, c)
            env = env.with_(dataschema=codec.dataschema(env.type))
            ev = codec.catalogue[env.type]
            if codec.sealer is not None:
                record = codec.sealer.seal(ev.name, env.subject, record)
            value = codec.encode(ev.name, record)
            out.append(Wire(env.id, topics.topic_for(ev), env.subject.encode(), value, env.to_headers()))
    return out[:n]


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _load(hub: Hub, n_cases: int, settings: Settings, say: Any) -> dict[str, Any]:
    """Send N cases' events; wait until as many CaseUpdated are out (one per event applied)."""
    assert hub.codec is not None
    codec = hub.codec
    tpl = template(codec)
    copies = tpl.copies_for(cases=n_cases)
    total = len(tpl.events) * copies
    reader = await open_reader(
        hub.bootstrap, [topics.CASE_UPDATES], from_beginning=False, fetch_wait_ms=settings.fetch_wait_ms
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=hub.bootstrap, acks="all", linger_ms=5, max_batch_size=1 << 20
    )
    await producer.start()
    updates = 0
    avro_bytes = 0
    status: dict[bytes, str] = {}

    agency_events = {ev.name for ev in codec.catalogue if ev.direction == "in"}

    async def read() -> None:  # one CaseUpdated per agency event applied (the timer's decisions have theirs)
        nonlocal updates
        while updates < total:
            for records in (await reader.getmany(timeout_ms=200, max_records=5000)).values():
                for m in records:
                    update = codec.decode(m.value)[1]
                    status[m.key] = update["status"]
                    updates += update["event_type"] in agency_events

    t0 = time.perf_counter()
    reading = asyncio.create_task(read())
    try:
        pending = []
        for i, (env, record) in enumerate(play(tpl, copies)):
            ev = codec.catalogue[env.type]
            if codec.sealer is not None:
                record = codec.sealer.seal(ev.name, env.subject, record)
            value = codec.encode(ev.name, record)
            avro_bytes += len(value)
            pending.append(
                await producer.send(
                    topics.topic_for(ev), value, key=env.subject.encode(), headers=env.to_headers()
                )
            )
            if len(pending) >= CHUNK:
                await asyncio.gather(*pending)
                pending = []
                if (i + 1) % (CHUNK * 20) == 0:
                    say(f"sent {i + 1:,} of {total:,} events; {updates:,} applied…")
        await asyncio.gather(*pending)
        while not reading.done():
            await asyncio.wait({reading}, timeout=5)
            say(f"{updates:,} of {total:,} events applied…")
    finally:
        reading.cancel()
        await producer.stop()
        await reader.stop()
    return {
        "copies": copies,
        "events": total,
        "applied": updates,
        "cases": len(status),
        "open_cases": sum(1 for s in status.values() if s != "closed"),
        "avro_bytes": avro_bytes,
        "seconds": round(time.perf_counter() - t0, 1),
    }


async def _ready(hub: Hub, timeout: float) -> float:
    """Seconds until every worker says it is ready and caught up with what the ledger put back."""
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=5) as http:
        for w in hub.workers:
            while time.perf_counter() - t0 < timeout:
                try:
                    body = (await http.get(f"{w.web}/ready/")).json()
                    if body.get("ready") and body.get("caught_up"):
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
    return time.perf_counter() - t0


async def run_cases_bench(
    settings: Settings, n_cases: int, progress: Console | None = None, load: str = "auto"
) -> dict[str, Any]:
    """``load``: ``live`` sends the events through the broker and waits for the worker; ``ledger`` writes
    the folder with the hub's code (`bench.seed`) and starts the hub on it; ``auto``: live up to
    `LIVE_UP_TO` cases."""

    def say(msg: str) -> None:
        if progress:
            progress.print(f"[dim]{msg}[/]")

    if load not in ("auto", "live", "ledger"):
        raise ValueError(f"--load must be auto, live or ledger, not {load!r}")
    if load == "auto":
        load = "live" if n_cases <= LIVE_UP_TO else "ledger"
    folder = Path(tempfile.mkdtemp(prefix="cases-", dir=bench_dir(settings)))
    try:
        if load == "live":
            say("starting a hub of its own (broker, registry, archiver, one worker)…")
            hub = await fresh_hub(settings, 1, folder)
            try:
                pid = hub.workers[0].proc.pid
                empty = rss_bytes(pid)
                loaded = await _load(hub, n_cases, settings, say)
                await asyncio.sleep(2 * settings.tick_s)  # the timer's decisions of the last deadlines
                full = rss_bytes(pid)
            finally:
                say("stopping the hub…")
                await hub.stop()
        else:
            seeded = await asyncio.to_thread(
                seed, settings.model_copy(update={"data_dir": folder}), n_cases, 2, say
            )
            loaded = {
                k: seeded[k] for k in ("copies", "events", "cases", "open_cases", "avro_bytes", "seconds")
            }
            loaded["applied"] = seeded["events"]
            empty = full = 0
        say("raw: reading the ledger back…")
        raw_read = await asyncio.to_thread(_raw_ledger_read, settings.model_copy(update={"data_dir": folder}))
        say("restarting the hub on the same folder…" if load == "live" else "starting a hub on the folder…")
        t0 = time.perf_counter()
        again = await fresh_hub(settings, 1, folder)
        try:
            started = time.perf_counter() - t0
            caught_up = await _ready(again, timeout=3600)
            ready_s = time.perf_counter() - t0
            after = rss_bytes(again.workers[0].proc.pid)
            rehydrated, placeholders = again.rehydrated, again.placeholders
            store = disk_bytes(folder / "cases")
            say(f"live: {LIVE_EVENTS:,} events of new cases with {loaded['cases']:,} in the store…")
            work = _new_cases(again.codec, template(again.codec), loaded["copies"] + 1, LIVE_EVENTS)
            live = await hub_run(again, work, settings, None, timeout=900)
            raw = await raw_throughput(again.bootstrap, again.codec, work, settings)
            after_live = rss_bytes(again.workers[0].proc.pid)
        finally:
            await again.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    worker_bytes = max(0, full - empty)
    return {
        "mode": "cases",
        "load": load,
        "broker": "embedded" if settings.embedded else settings.broker,
        **loaded,
        "memory": {
            "worker_rss_empty": empty,
            "worker_rss_loaded": full,
            "worker_rss_after_restart": after,
            "worker_rss_after_live": after_live,
            "store_bytes_on_disk": store,
            "store_bytes_per_case": round(store / max(1, loaded["cases"])),
            "bytes_per_case": round(worker_bytes / max(1, loaded["cases"])),
            "raw_avro_bytes_per_case": round(loaded["avro_bytes"] / max(1, loaded["cases"])),
            "ratio": round(worker_bytes / loaded["avro_bytes"], 2) if loaded["avro_bytes"] else 0.0,
        },
        "restart": {
            "records_rehydrated": rehydrated,
            "placeholders": placeholders,
            "seconds_to_start": round(started, 2),
            "seconds_to_caught_up": round(ready_s, 2),
            "catch_up_seconds": round(caught_up, 2),
            "raw_ledger_read_seconds": round(raw_read, 2),
        },
        "live": {
            "events": len(work),
            "hub_events_per_s": live["events_per_s"],
            "raw_events_per_s": raw["events_per_s"],
            "ratio": round(live["events_per_s"] / raw["events_per_s"], 3) if raw["events_per_s"] else 0.0,
            "worker_events_per_cpu_s": live["worker_events_per_cpu_s"],
        },
    }


def _raw_ledger_read(settings: Settings) -> float:
    ledger = Ledger(settings.ledger_url)
    try:
        t0 = time.perf_counter()
        sum(1 for _ in ledger.read())
        return time.perf_counter() - t0
    finally:
        ledger.close()


def render(result: dict[str, Any], console: Console) -> None:
    m, r = result["memory"], result["restart"]
    mib = 1024 * 1024
    t = Table(
        title=f"fengqiao bench --cases — {result['cases']:,} cases ({result['open_cases']:,} open), "
        f"{result['events']:,} events, broker {result['broker']}"
    )
    t.add_column("what")
    t.add_column("hub", justify="right")
    t.add_column("raw", justify="right")
    t.add_column("hub / raw", justify="right")
    seeded = result.get("load") == "ledger"
    t.add_row(
        "memory per case (worker RSS growth vs Avro bytes of its events)",
        "— (seeded)" if seeded else f"{m['bytes_per_case']:,} B",
        f"{m['raw_avro_bytes_per_case']:,} B",
        "" if seeded else f"{m['ratio']:.1f}",
    )
    loaded = "—" if seeded else f"{m['worker_rss_loaded'] / mib:,.0f}"
    t.add_row(
        "worker resident memory: loaded / started on the folder / after live"
        if seeded
        else "worker resident memory: loaded / restarted / after live",
        f"{loaded} / {m['worker_rss_after_restart'] / mib:,.0f} / "
        f"{m['worker_rss_after_live'] / mib:,.0f} MiB",
        "",
        "",
    )
    t.add_row(
        "case store on disk (vs Avro bytes of the events)",
        f"{m['store_bytes_on_disk'] / mib:,.0f} MiB, {m['store_bytes_per_case']:,} B a case",
        f"{m['raw_avro_bytes_per_case']:,} B",
        f"{m['store_bytes_per_case'] / max(1, m['raw_avro_bytes_per_case']):.1f}",
    )
    t.add_row(
        "restart to ready and caught up (vs reading the ledger raw)",
        f"{r['seconds_to_caught_up']:.1f} s",
        f"{r['raw_ledger_read_seconds']:.1f} s",
        f"{r['seconds_to_caught_up'] / r['raw_ledger_read_seconds']:.1f}"
        if r["raw_ledger_read_seconds"]
        else "",
    )
    lv = result["live"]
    t.add_row(
        f"live with the cases in the store, {lv['events']:,} events (vs aiokafka + fastavro)",
        f"{lv['hub_events_per_s']:,.0f}/s",
        f"{lv['raw_events_per_s']:,.0f}/s",
        f"{lv['ratio']:.3f}",
    )
    console.print(t)
    how = (
        "seeded (ledger and case store written with the hub's code, bench.seed)"
        if seeded
        else "loaded through the broker"
    )
    console.print(
        f"{how} in {result['seconds']:.0f} s; restart: {r['records_rehydrated']:,} records and "
        f"{r['placeholders']:,} placeholders put back, "
        f"hub started in {r['seconds_to_start']:.1f} s, worker caught up {r['catch_up_seconds']:.1f} s later"
    )
