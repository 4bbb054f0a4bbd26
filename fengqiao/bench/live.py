"""`fengqiao bench`: the hub measured next to a raw baseline taken in the same run, on the same broker.

The workload is the demo's mix of the five workflows (`scenario.play`), with times in the past, so
deadlines pass and the worker's timer fires while the events flow. Every mode starts a hub of its own
in a fresh folder (nothing of the user's hub is touched) and prints the hub's figure, the raw figure
and their ratio.

* live (default): throughput. The events are produced as fast as the broker takes them. The hub's
  figure counts an event done when its ``CaseUpdated`` is out (decoded, checked, decided, case stored,
  decisions emitted) *and* the ledger holds it and that update (archived). Raw: aiokafka consuming
  and fastavro decoding the same records from a plain topic, nothing else. With it, the cost of
  personal data protection (个人信息保护, issue 17), in the same run: a second hub started with
  ``protect_personal`` off takes the same events in clear, and the intake's sealing (`Sealer.seal`)
  is timed alone in this process (`personal_cost`).
* latency: the events at a steady rate; per event, send → its ``CaseUpdated`` (the hub's decision is
  on the log before it). Raw: send → consumed from a plain topic, at the same rate.
* workers: live with one worker, then with N: the scale-out factor.
* cases: memory and restart (`bench.cases`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from fengqiao.hub import Hub
from fengqiao.infra.broker import TopicSpec, ensure_topics, open_reader
from fengqiao.scenario.play import demo_mix
from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope, header
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.acceptance import require_sealed
from fengqiao.streams.personal.protection import Protection
from fengqiao.streams.personal.seal import in_clear

# Issue 17: live throughput with personal data sealed at least this share of it in clear (same run).
PERSONAL_TARGET = 0.85

Say = Callable[[str], None]


@dataclass(frozen=True)
class Wire:
    """One event as it goes on the broker."""

    id: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def workload_events(codec: Codec, n: int) -> list[tuple[Envelope, dict[str, Any]]]:
    """The first ``n`` events of the demo's mix, in clear, in publishing order."""
    return demo_mix(codec, events=n)[:n]


def wire_workload(
    codec: Codec, n: int, events: list[tuple[Envelope, dict[str, Any]]] | None = None
) -> list[Wire]:
    """The first ``n`` events of the demo's mix (or ``events``), encoded once, before any clock starts:
    sealed as the hub's intake seals them when the codec seals (the intake's own cost is timed apart,
    `seal_cost`)."""
    out = []
    for env, record in workload_events(codec, n) if events is None else events:
        env = env.with_(dataschema=codec.dataschema(env.type))
        ev = codec.catalogue[env.type]
        if codec.sealer is not None:
            record = codec.sealer.seal(ev.name, env.subject, record)
        out.append(
            Wire(
                env.id,
                topics.topic_for(ev),
                env.subject.encode(),
                codec.encode(ev.name, record),
                env.to_headers(),
            )
        )
    return out


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def figures(n: int, seconds: float, latencies_ms: list[float], **extra: Any) -> dict[str, Any]:
    return {
        "events": n,
        "delivered": len(latencies_ms),
        "seconds": round(seconds, 3),
        "events_per_s": round(len(latencies_ms) / seconds, 1) if seconds else 0.0,
        "p50_ms": round(percentile(latencies_ms, 50), 2),
        "p99_ms": round(percentile(latencies_ms, 99), 2),
        **extra,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes(hub: Hub) -> dict[str, list[int]]:
    """The hub's processes by part: CPU per event is what a part costs, whoever shares its cores."""
    parts = {"worker": [w.proc.pid for w in hub.workers], "archiver_and_bench_clients": [os.getpid()]}
    if hub.broker is not None and hub.broker.proc is not None:
        parts["broker"] = [hub.broker.proc.pid]
    return parts


def _cpu(parts: dict[str, list[int]]) -> dict[str, float]:
    out = {}
    for name, pids in parts.items():
        try:
            out[name] = sum(cpu_seconds(p) for p in pids)
        except OSError:
            out[name] = float("nan")
    return out


def _causation(m: Any) -> str:
    return header(m.headers or (), "ce_causationid") or ""


def _ce_id(m: Any) -> str:
    return header(m.headers or (), "ce_id") or ""


class Watch:
    """Reads a topic and notes when each wanted id first shows up (and the offsets it saw)."""

    def __init__(self, consumer: AIOKafkaConsumer, want: set[str], id_of: Callable[[Any], str]) -> None:
        self.consumer, self.want, self.id_of = consumer, set(want), id_of
        self.seen: dict[str, float] = {}
        self.offsets: dict[tuple[str, int], int] = {}

    async def run(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < len(self.want) and time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.perf_counter()
            for tp, records in batch.items():
                for m in records:
                    i = self.id_of(m)
                    if i in self.want and i not in self.seen:
                        self.seen[i] = now
                        self.offsets[(tp.topic, tp.partition)] = m.offset


async def _send(producer: AIOKafkaProducer, work: list[Wire], rate: float | None) -> tuple[dict, dict]:
    """Send every event (at ``rate`` per second, or as fast as possible); when each was sent, and the
    last offset of each partition written."""
    sent: dict[str, float] = {}
    futures = []
    t0 = time.perf_counter()
    for i, w in enumerate(work):
        if rate:
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[w.id] = time.perf_counter()
        futures.append(await producer.send(w.topic, w.value, key=w.key, headers=w.headers))
    last: dict[tuple[str, int], int] = {}
    for md in await asyncio.gather(*futures):
        last[(md.topic, md.partition)] = max(last.get((md.topic, md.partition), -1), md.offset)
    return sent, last


def _producer(bootstrap: str, rate: float | None) -> AIOKafkaProducer:
    # Throughput: batches; latency: each event on its own, as an agency system sends it.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=1 if rate else 5, max_batch_size=1 << 20
    )


async def raw_throughput(bootstrap: str, codec: Codec, work: list[Wire], settings: Settings) -> dict:
    """The same records from a plain topic: consumed and fastavro-decoded, nothing else."""
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, settings.partitions, retention_ms=600_000)])
    producer = _producer(bootstrap, None)
    await producer.start()
    try:
        await _send(producer, [Wire(w.id, topic, w.key, w.value, w.headers) for w in work], None)
    finally:
        await producer.stop()
    consumer = await open_reader(bootstrap, [topic], fetch_wait_ms=settings.fetch_wait_ms)
    try:
        t0 = time.perf_counter()
        done = 0
        while done < len(work) and time.perf_counter() - t0 < 120:
            batch = await consumer.getmany(timeout_ms=100, max_records=5000)
            for records in batch.values():
                for m in records:
                    codec.decode(m.value)
                    _ce_id(m)
                    done += 1
        elapsed = time.perf_counter() - t0
    finally:
        await consumer.stop()
    return {
        "events": len(work),
        "delivered": done,
        "seconds": round(elapsed, 3),
        "events_per_s": round(done / elapsed, 1),
    }


async def raw_latency(
    bootstrap: str, codec: Codec, work: list[Wire], settings: Settings, rate: float | None
) -> dict:
    """Send → consumed from a plain topic (and decoded), per event, at ``rate`` (or flat out)."""
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, settings.partitions, retention_ms=600_000)])
    ids = {w.id for w in work}

    def id_of(m: Any) -> str:
        codec.decode(m.value)
        return _ce_id(m)

    consumer = await open_reader(
        bootstrap, [topic], from_beginning=False, fetch_wait_ms=settings.fetch_wait_ms
    )
    watch = Watch(consumer, ids, id_of)
    producer = _producer(bootstrap, rate)
    await producer.start()
    try:
        t0 = time.perf_counter()
        reading = asyncio.create_task(watch.run(300))
        sent, _ = await _send(producer, [Wire(w.id, topic, w.key, w.value, w.headers) for w in work], rate)
        await reading
        elapsed = time.perf_counter() - t0
    finally:
        await producer.stop()
        await consumer.stop()
    return figures(len(work), elapsed, [(watch.seen[i] - sent[i]) * 1000 for i in watch.seen])


async def hub_run(hub: Hub, work: list[Wire], settings: Settings, rate: float | None, timeout: float) -> dict:
    """Send ``work`` into the running hub; time until every event's CaseUpdated is out and archived."""
    assert hub.ledger is not None
    consumer = await open_reader(
        hub.bootstrap, [topics.CASE_UPDATES], from_beginning=False, fetch_wait_ms=settings.fetch_wait_ms
    )
    watch = Watch(consumer, {w.id for w in work}, _causation)
    producer = _producer(hub.bootstrap, rate)
    await producer.start()
    parts = _processes(hub)
    cpu0 = _cpu(parts)
    try:
        t0 = time.perf_counter()
        reading = asyncio.create_task(watch.run(timeout))
        sent, written = await _send(producer, work, rate)
        await reading
        decided = time.perf_counter() - t0
        # Archived: the ledger holds every event sent and every CaseUpdated seen (the decisions of an
        # event precede its update on the log and are archived with it).
        want = {**written, **watch.offsets}
        while time.perf_counter() - t0 < timeout:
            have = await asyncio.to_thread(hub.ledger.positions)
            if all(have.get(tp, -1) >= o for tp, o in want.items()):
                break
            await asyncio.sleep(0.005)
        archived = time.perf_counter() - t0
        cpu = {k: v - cpu0[k] for k, v in _cpu(parts).items()}
    finally:
        await producer.stop()
        await consumer.stop()
    lat = [(watch.seen[i] - sent[i]) * 1000 for i in watch.seen]
    out = figures(len(work), archived, lat, decided_per_s=round(len(lat) / decided, 1) if decided else 0.0)
    out["seconds_decided"] = round(decided, 3)
    # CPU per event by part, and what one core would do for that part alone: robust to shared cores.
    out["cpu_us_per_event"] = {k: round(v / len(work) * 1e6, 1) for k, v in cpu.items()}
    out["worker_events_per_cpu_s"] = round(len(work) / cpu["worker"], 1) if cpu["worker"] else 0.0
    return out


async def fresh_hub(settings: Settings, workers: int, folder: Path) -> Hub:
    settings = settings.model_copy(update={"data_dir": folder, "gateway": False})
    hub = Hub(settings, workers=workers, worker_log_dir=folder / "logs")  # the workers' logs: not on screen
    try:
        await hub.start()
    except BaseException:
        await hub.stop()
        raise
    return hub


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def seal_cost(
    settings: Settings, catalogue: Catalogue, events: list[tuple[Envelope, dict[str, Any]]], folder: Path
) -> dict[str, Any]:
    """The intake's sealing (字段加密) of ``events`` alone, in this process: what `Publisher.frame` adds
    per event when personal data is protected. A fresh `Sealer` over a key store (SQLite) in
    ``folder``, so its data keys are made as the cases come, as at a hub's intake; CPU and wall time
    of one pass in publishing order (CPU: this thread's, whatever else the process runs)."""
    s = settings.model_copy(update={"data_dir": folder, "personal_keys": None})
    protection = Protection.from_settings(s, catalogue, read_log=False)
    try:
        sealer = protection.sealer
        items = [(catalogue[env.type].name, env.subject, record) for env, record in events]
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        for name, case_id, record in items:
            sealer.seal(name, case_id, record)
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        # Again with every key made and cached: the sealing itself (walk, copy, cipher), without the
        # key store's first writes of each case (its key, its persons) — where the first pass's time goes.
        warm0 = time.thread_time()
        for name, case_id, record in items:
            sealer.seal(name, case_id, record)
        warm = time.thread_time() - warm0
        fields = [len(in_clear(sealer.plans, name, record)) for name, _, record in items]
    finally:
        protection.close()
    n = len(items)
    return {
        "events": n,
        "events_with_personal_text": sum(1 for f in fields if f),
        "fields_sealed": sum(fields),
        "cpu_seconds": round(cpu, 4),
        "us_per_event": round(cpu / n * 1e6, 1) if n else 0.0,
        "wall_us_per_event": round(wall / n * 1e6, 1) if n else 0.0,
        "events_per_cpu_s": round(n / cpu, 1) if cpu else 0.0,
        "keys_cached_us_per_event": round(warm / n * 1e6, 1) if n else 0.0,
    }


def personal_figures(on: dict[str, Any], off: dict[str, Any], seal: dict[str, Any]) -> dict[str, Any]:
    """Protection on next to off, their ratios, and the derived figure with the intake's sealing:
    1 / (1/on + the sealing's CPU seconds per event), as if the intake sealed in series with the rest
    on the same cores (on the 2 shared cores of the bench it does share them with the workers)."""
    on_rate, off_rate = on["events_per_s"], off["events_per_s"]
    seal_s = seal["us_per_event"] / 1e6
    with_intake = round(1 / (1 / on_rate + seal_s), 1) if on_rate else 0.0
    ratio = _ratio(on_rate, off_rate)
    ratio_with_intake = _ratio(with_intake, off_rate)
    return {
        "target": PERSONAL_TARGET,
        "on_events_per_s": on_rate,
        "off": off,
        "ratio": ratio,
        "worker_cpu_ratio": _ratio(on["worker_events_per_cpu_s"], off["worker_events_per_cpu_s"]),
        "seal": seal,
        "on_with_intake_events_per_s": with_intake,
        "ratio_with_intake": ratio_with_intake,
        "met": ratio >= PERSONAL_TARGET,
        "met_with_intake": ratio_with_intake >= PERSONAL_TARGET,
    }


async def personal_cost(
    settings: Settings,
    n: int,
    events: list[tuple[Envelope, dict[str, Any]]],
    on: dict[str, Any],
    catalogue: Catalogue,
    root: Path,
    say: Say,
) -> dict[str, Any]:
    """The same events through a second hub with ``protect_personal`` off (in clear, nothing refused
    for it), then the intake's sealing of them alone; with ``on`` (the first hub's run) the figures."""
    say(f"hub, personal data protection off (a second hub): the same {n} events in clear…")
    try:
        hub = await fresh_hub(settings.model_copy(update={"protect_personal": False}), 1, root / "off")
        try:
            assert hub.codec is not None and hub.codec.sealer is None
            off = await hub_run(hub, wire_workload(hub.codec, n, events), settings, None, timeout=600)
        finally:
            await hub.stop()
    finally:
        require_sealed(settings.protect_personal)  # this process was that hub's too: as it was
    say(f"intake sealing alone: {n} events through a fresh sealer, one thread…")
    seal = await asyncio.to_thread(seal_cost, settings, catalogue, events, root / "seal")
    return personal_figures(on, off, seal)


async def run_bench(
    settings: Settings,
    n: int,
    *,
    rate: float | None = None,
    workers: int = 1,
    personal: bool = True,
    progress: Console | None = None,
) -> dict[str, Any]:
    """live (``rate`` None, ``workers`` 1), latency (``rate``) or scale-out (``workers`` > 1). Live
    with ``personal``: also the cost of sealing personal data (`personal_cost`)."""

    def say(msg: str) -> None:
        if progress:
            progress.print(f"[dim]{msg}[/]")

    root = Path(tempfile.mkdtemp(prefix="bench-", dir=bench_dir(settings)))
    try:
        return await _run_modes(settings, n, rate, workers, personal, root, say)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_dir(settings: Settings) -> Path:
    """Where the benchmarks' own hubs keep their folders (removed after each run)."""
    d = settings.data_dir / "bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


async def _run_modes(
    settings: Settings, n: int, rate: float | None, workers: int, personal: bool, root: Path, say: Say
) -> dict[str, Any]:
    mode = "latency" if rate else "workers" if workers > 1 else "live"
    broker = "embedded" if settings.embedded else settings.broker
    t_start = time.perf_counter()
    sealed = " (personal data sealed)" if settings.protect_personal else ""
    say(f"starting a hub of its own (broker, registry, archiver, one worker){sealed}…")
    hub = await fresh_hub(settings, 1, root / "one")
    try:
        assert hub.codec is not None
        catalogue = hub.codec.catalogue
        events = workload_events(hub.codec, n)
        work = wire_workload(hub.codec, n, events)
        say(f"workload: {len(work)} events of the demo's five-workflow mix…")
        if rate:
            say(f"raw baseline: {len(work)} events at {rate:,.0f}/s through a plain topic…")
            raw = await raw_latency(hub.bootstrap, hub.codec, work, settings, rate)
            say(f"hub: {len(work)} events at {rate:,.0f}/s…")
            one = await hub_run(hub, work, settings, rate, timeout=max(120.0, 3 * n / rate))
        else:
            say(f"raw baseline: aiokafka consume + fastavro decode of {len(work)} events…")
            raw = await raw_throughput(hub.bootstrap, hub.codec, work, settings)
            say(f"hub, one worker: {len(work)} events, decided and archived…")
            one = await hub_run(hub, work, settings, None, timeout=600)
    finally:
        await hub.stop()
    result: dict[str, Any] = {"mode": mode, "broker": broker, "events": len(work), "raw": raw, "hub": one}
    result["ratio"] = _ratio(one["events_per_s"], raw["events_per_s"])
    if rate:  # latency: what counts is the p99 (the target: 50 ms at 1,000 events/s)
        result.update(rate=rate, ratio=_ratio(one["p99_ms"], raw["p99_ms"]))
    if workers > 1:
        say(f"hub, {workers} workers: the same events…")
        hub = await fresh_hub(settings, workers, root / "many")
        try:
            assert hub.codec is not None
            many = await hub_run(hub, wire_workload(hub.codec, n), settings, None, timeout=600)
        finally:
            await hub.stop()
        result.update(
            workers=workers, hub_workers=many, scale_out=_ratio(many["events_per_s"], one["events_per_s"])
        )
    if mode == "live" and personal and settings.protect_personal:
        result["personal"] = await personal_cost(settings, n, events, one, catalogue, root, say)
    result["bench_seconds"] = round(time.perf_counter() - t_start, 1)
    return result


def render(result: dict[str, Any], console: Console) -> None:
    title = {
        "live": "throughput",
        "latency": f"latency at {result.get('rate', 0):,.0f} events/s",
        "workers": f"scale-out, 1 vs {result.get('workers')} workers",
    }[result["mode"]]
    t = Table(
        title=f"fengqiao bench — {title}: {result['events']} events (demo mix), broker {result['broker']}"
    )
    t.add_column("path")
    for col in ("delivered", "seconds", "events/s", "p50 ms", "p99 ms"):
        t.add_column(col, justify="right")
    personal = result.get("personal")
    on = "hub: decided + archived" + (", personal sealed" if personal else "")
    rows = [(on, result["hub"]), ("raw: aiokafka + fastavro", result["raw"])]
    if "hub_workers" in result:
        rows.insert(1, (f"hub, {result['workers']} workers", result["hub_workers"]))
    if personal:
        rows.insert(1, ("hub: the same, personal in clear", personal["off"]))
    for name, f in rows:
        t.add_row(
            name,
            str(f["delivered"]),
            str(f["seconds"]),
            f"{f['events_per_s']:,.0f}",
            str(f.get("p50_ms", "")),
            str(f.get("p99_ms", "")),
        )
    console.print(t)
    cpu = result["hub"].get("cpu_us_per_event") or {}
    if cpu:
        parts = ", ".join(f"{k.replace('_', ' ')} {v:,.0f}" for k, v in cpu.items())
        console.print(f"CPU µs per event: {parts}")
        per_core = result["hub"]["worker_events_per_cpu_s"]
        console.print(f"one worker on one core: [bold]{per_core:,.0f}[/] events/s (per CPU second it used)")
    if result["mode"] == "latency":
        console.print(f"p99 hub / raw: [bold]{result['ratio']:.1f}[/]")
    else:
        console.print(f"throughput hub / raw: [bold]{result['ratio']:.3f}[/]")
    if "scale_out" in result:
        console.print(f"{result['workers']} workers / 1 worker: [bold]{result['scale_out']:.2f}×[/]")
    if personal:
        render_personal(result, console)
    if "bench_seconds" in result:
        console.print(
            f"[dim]bench time: {result['bench_seconds']:,.0f} s (hubs started and stopped included)[/]"
        )


def render_personal(result: dict[str, Any], console: Console) -> None:
    """The cost of sealing personal data: on next to off, the intake's sealing, the derived figure."""
    p, seal = result["personal"], result["personal"]["seal"]
    target = f"target ≥ {p['target']:.0%} of off (issue 17)"

    def met(ok: bool) -> str:
        return "[green]met[/]" if ok else "[red]not met[/]"

    console.print("[bold]personal data (个人信息), the cost of sealing — same run[/]")
    console.print(
        f"  on   {p['on_events_per_s']:>9,.0f}/s  end to end; the records sealed before the clock: the "
        "workers' cost of sealed records (in-clear check, bigger records), not the intake's sealing"
    )
    console.print(
        f"  off  {p['off']['events_per_s']:>9,.0f}/s  a second hub, protect_personal off: the same "
        "records in clear, nothing sealed or checked for it"
    )
    console.print(
        f"  on / off: [bold]{p['ratio']:.3f}[/] ({met(p['met'])}, {target}); one worker per CPU second: "
        f"{result['hub']['worker_events_per_cpu_s']:,.0f} vs {p['off']['worker_events_per_cpu_s']:,.0f}/s, "
        f"{p['worker_cpu_ratio']:.3f}"
    )
    console.print(
        f"  intake sealing alone: [bold]{seal['us_per_event']:,.1f} µs[/] CPU per event "
        f"({seal['wall_us_per_event']:,.1f} µs wall), {seal['events_per_cpu_s']:,.0f} events per CPU "
        f"second, one thread: {seal['fields_sealed']:,} fields of {seal['events_with_personal_text']:,} "
        f"of the {seal['events']:,} events, a fresh key store making each case's key as it comes; "
        f"with every key made already: {seal.get('keys_cached_us_per_event', 0):,.1f} µs per event"
    )
    console.print(
        f"  on, intake sealing included (derived: 1 / (1/on + sealing s per event)): "
        f"{p['on_with_intake_events_per_s']:,.0f}/s; / off: [bold]{p['ratio_with_intake']:.3f}[/] "
        f"({met(p['met_with_intake'])})"
    )
