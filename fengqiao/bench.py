"""`fengqiao bench`: the hub's full path next to a raw baseline, measured in the same run on the same broker.

Hub path: encode → broker → worker agent (decode, envelope checks, case state update) → CaseUpdated
on the output topic → decoded by the bench. Raw baseline: aiokafka produce → consume → fastavro
decode of the same records, nothing else. Latency is publish-to-output per event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from fengqiao.hub import Hub
from fengqiao.infra.broker import TopicSpec, ensure_topics, open_reader
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope
from fengqiao.schemas.samples import sample_event
from fengqiao.settings import Settings
from fengqiao.streams import topics

CASES = 1000


def _workload(codec: Codec, n: int) -> list[tuple[str, Envelope, bytes]]:
    """N events over CASES cases, a mix of every workflow's incoming events."""
    ins = [e for e in codec.catalogue if e.direction == "in"]
    out = []
    for i in range(n):
        ev = ins[i % len(ins)]
        case_id = f"B-{ev.workflow}-{i % CASES:05d}"
        env = Envelope.new(ev.name, case_id, source="bench")
        out.append((topics.topic_for(ev), env, codec.encode(ev.name, sample_event(ev, case_id, i))))
    return out


def _percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def _consume_until(
    consumer: AIOKafkaConsumer, want: set[str], id_of: Any, seen: dict[str, float], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while want - seen.keys() and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=100)
        now = time.perf_counter()
        for records in batch.values():
            for m in records:
                i = id_of(m)
                if i in want and i not in seen:
                    seen[i] = now


async def _measure(
    bootstrap: str,
    work: list[tuple[str, Envelope, bytes]],
    watch: str,
    id_of: Any,
    settings: Settings,
    timeout: float,
) -> dict:
    """Send ``work`` and time until every event id shows up on ``watch`` (``id_of`` reads it back)."""
    consumer = await open_reader(
        bootstrap, [watch], from_beginning=False, fetch_wait_ms=settings.fetch_wait_ms
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await producer.start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        async with asyncio.TaskGroup() as tg:  # read while sending, so latency is per event
            tg.create_task(_consume_until(consumer, {e.id for _, e, _ in work}, id_of, seen, timeout))
            for topic, env, value in work:
                sent[env.id] = time.perf_counter()
                await producer.send(topic, value, key=env.subject.encode(), headers=env.to_headers())
            await producer.flush()
        elapsed = time.perf_counter() - t0
    finally:
        await producer.stop()
        await consumer.stop()
    return _figures(sent, seen, elapsed)


async def _raw(
    bootstrap: str, codec: Codec, work: list[tuple[str, Envelope, bytes]], settings: Settings
) -> dict:
    """The baseline: the same records produced to a plain topic, consumed and decoded, nothing else."""
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, settings.partitions, retention_ms=600_000)])

    def id_of(m: Any) -> str:
        codec.decode(m.value)
        return dict(m.headers)["ce_id"].decode()

    return await _measure(bootstrap, [(topic, e, v) for _, e, v in work], topic, id_of, settings, 300)


async def _hub(hub: Hub, work: list[tuple[str, Envelope, bytes]], settings: Settings) -> dict:
    """The hub: workflow topics in, the worker's CaseUpdated (caused by each event) out."""

    def id_of(m: Any) -> str:
        return dict(m.headers).get("ce_causationid", b"").decode()

    return await _measure(hub.bootstrap, work, topics.CASE_UPDATES, id_of, settings, 600)


def _figures(sent: dict[str, float], seen: dict[str, float], elapsed: float) -> dict:
    lat = [(seen[i] - sent[i]) * 1000 for i in seen if i in sent]
    return {
        "events": len(sent),
        "delivered": len(seen),
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(seen) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(_percentile(lat, 50), 2),
        "p99_ms": round(_percentile(lat, 99), 2),
    }


async def run_bench(settings: Settings, n: int, progress: Console | None = None) -> dict[str, Any]:
    def say(msg: str) -> None:
        if progress:
            progress.print(f"[dim]{msg}[/]")

    say("starting the hub (embedded broker, registry, one worker)…" if settings.embedded else "starting…")
    async with Hub(settings, workers=1) as hub:
        assert hub.codec is not None
        work = _workload(hub.codec, n)
        say(f"raw baseline: aiokafka + fastavro, {n} events…")
        raw = await _raw(hub.bootstrap, hub.codec, work, settings)
        say(f"hub full path: {n} events through the worker…")
        hub_fig = await _hub(hub, _workload(hub.codec, n), settings)
    ratio = hub_fig["events_per_s"] / raw["events_per_s"] if raw["events_per_s"] else 0.0
    return {
        "broker": "embedded" if settings.embedded else settings.broker,
        "events": n,
        "hub": hub_fig,
        "raw": raw,
        "ratio": round(ratio, 3),
    }


def render(result: dict[str, Any], console: Console) -> None:
    t = Table(title=f"fengqiao bench — {result['events']} events, broker {result['broker']}")
    t.add_column("path")
    for col in ("delivered", "seconds", "events/s", "p50 ms", "p99 ms"):
        t.add_column(col, justify="right")
    for name, key in (("hub (full path)", "hub"), ("raw aiokafka + fastavro", "raw")):
        f = result[key]
        t.add_row(
            name,
            str(f["delivered"]),
            str(f["seconds"]),
            f"{f['events_per_s']:,.0f}",
            str(f["p50_ms"]),
            str(f["p99_ms"]),
        )
    console.print(t)
    console.print(f"hub / raw throughput ratio: [bold]{result['ratio']:.2f}[/]")
