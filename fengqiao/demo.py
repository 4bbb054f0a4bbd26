"""`fengqiao demo`: the whole hub on embedded parts, a scripted scenario, a summary, nothing left behind."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from fengqiao.connectors.cloudevents_json import parse
from fengqiao.hub import Hub
from fengqiao.infra.broker import open_reader
from fengqiao.scenario import demo_events
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.publisher import Publisher


async def run_demo(settings: Settings, console: Console, cases_per_workflow: int = 2) -> bool:
    console.print("[bold]枫桥枢纽演示 Fengqiao Hub demo[/] — embedded broker, schema registry, one worker")
    with console.status("正在启动 starting the hub…"):
        hub = Hub(settings, workers=1, worker_log_dir=settings.data_dir / "logs")
        await hub.__aenter__()
    try:
        assert hub.codec is not None
        console.print(f"  broker {hub.bootstrap} (embedded, memory-only) · registry {hub.registry_url}")
        events = [parse(hub.codec, e) for e in demo_events(cases_per_workflow)]
        expected = Counter(a.envelope.subject for a in events)
        updates = await open_reader(hub.bootstrap, [topics.CASE_UPDATES])
        try:
            async with Publisher(hub.bootstrap, hub.codec) as pub:
                with Progress(console=console, transient=True) as bar:
                    task = bar.add_task("发布事件 publishing", total=len(events))
                    for acc in events:
                        await pub.publish(acc.envelope, acc.record)
                        bar.advance(task)
                    # A garbage record straight onto a workflow topic: it must reach the dead letters.
                    await pub.send_raw(topics.workflow_topic("release"), b"not avro", b"GARBAGE", [])
            applied = await _await_applied(updates, expected, console, hub)
        finally:
            await updates.stop()
        cases = await _fetch_cases(hub.endpoints.workers[0], sorted(expected))
        _summary(console, cases, expected)
        ok = applied == sum(expected.values())
        console.print(
            f"[{'green' if ok else 'red'}]{applied}/{sum(expected.values())} events applied 已处理[/]; "
            f"garbage record sent to {topics.DEAD_LETTERS} 死信"
        )
        return ok
    finally:
        with console.status("正在停止 stopping…"):
            await hub.__aexit__(None, None, None)
        console.print("已停止 stopped; no process left behind.")


async def _await_applied(
    consumer: AIOKafkaConsumer, expected: Counter[str], console: Console, hub: Hub, timeout: float = 120.0
) -> int:
    """Wait on the CaseUpdated feed until every published event was applied (no fixed sleeps)."""
    total = sum(expected.values())
    got: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("工作流处理 applying", total=total)
        while sum(got.values()) < total and time.monotonic() < deadline:
            hub.check_workers()
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for m in records:
                    case = (m.key or b"").decode()
                    if case in expected and got[case] < expected[case]:
                        got[case] += 1
                        bar.advance(task)
    return sum(got.values())


async def _fetch_cases(worker: str, case_ids: list[str]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as http:
        out = []
        for cid in case_ids:
            r = await http.get(f"{worker}/cases/{cid}/")
            out.append(
                r.json() if r.status_code == 200 else {"case_id": cid, "status": "missing", "events": []}
            )
        return out


def _summary(console: Console, cases: list[dict[str, Any]], expected: Counter[str]) -> None:
    t = Table(title="案件汇总 Cases")
    for col in (
        "案件 case",
        "流程 workflow",
        "状态 status",
        "事件 events",
        "最近事件 last event",
        "移交 handoffs",
    ):
        t.add_column(col)
    for c in cases:
        last = c["events"][-1]["type"] if c.get("events") else "—"
        handoffs = c.get("handoffs") or []
        h = ", ".join(f"{x.get('step')}: {x.get('state')}" for x in handoffs) or "—"
        t.add_row(
            c["case_id"],
            c.get("workflow", "?"),
            c.get("status", "?"),
            f"{len(c.get('events', []))}/{expected[c['case_id']]}",
            last,
            h,
        )
    console.print(t)
