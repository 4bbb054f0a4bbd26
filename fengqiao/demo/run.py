"""`fengqiao demo`: the whole hub on embedded parts, a scripted scenario, a summary, nothing left behind."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.progress import Progress

from fengqiao.connectors.cloudevents_json import parse
from fengqiao.demo.agencies import AgencySystems
from fengqiao.hub import Hub, HubError, lock_data_folder
from fengqiao.infra.broker import open_reader
from fengqiao.lock import LOCK_NAME, DataFolderLock
from fengqiao.reporting.demo_tables import (
    _alerts,
    _corrections,
    _corrections_shown,
    _corrections_text,
    _legal_aid,
    _legal_aid_shown,
    _legal_aid_text,
    _mediation,
    _mediation_shown,
    _mediation_text,
    _police_text,
    _release_text,
    _services,
    _services_shown,
    _services_text,
    _summary,
)
from fengqiao.scenario import demo_events
from fengqiao.schemas.envelope import parse_time
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.clock import FileClock
from fengqiao.streams.publisher import Publisher


async def run_demo(settings: Settings, console: Console, cases_per_workflow: int = 2) -> bool:
    """Load the scenario with the hub's clock held at its first event, then let the clock jump to now:
    the timer turns every deadline that passed into events (a missed pick-up among them)."""
    console.print("[bold]枫桥枢纽演示 Fengqiao Hub demo[/] — embedded broker, schema registry, one worker")
    # The demo keeps its own folder and starts it afresh: its scenario's event ids repeat from run to
    # run, and a hub restarted on an old ledger would (rightly) apply them once only. The folder's
    # lock comes first: a demo already running there is refused, not wiped.
    demo_dir = settings.data_dir / "demo"
    settings = settings.model_copy(update={"data_dir": demo_dir})
    lock = lock_data_folder(settings)
    try:
        _clear(demo_dir)
        return await _run_scenario(settings, console, cases_per_workflow, lock)
    finally:
        lock.release()


def _clear(folder: Path) -> None:
    """Everything in ``folder`` but its lock file (held: a new one would be a lock of its own)."""
    for entry in folder.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


async def _run_scenario(
    settings: Settings, console: Console, cases_per_workflow: int, lock: DataFolderLock
) -> bool:
    demo_dir = settings.data_dir
    clock = FileClock(settings.data_dir / "demo-clock")
    now = datetime.now(UTC)
    scenario = demo_events(cases_per_workflow, now=now)
    clock.set(parse_time(scenario[0]["time"]))
    # gateway_port 0: a free port, so the demo runs beside a hub started with `fengqiao up`.
    settings = settings.model_copy(update={"clock": f"file:{clock.path}", "tick_s": 0.2, "gateway_port": 0})
    with console.status("正在启动 starting the hub…"):
        hub = Hub(settings, workers=1, worker_log_dir=settings.data_dir / "logs", lock=lock)
        await hub.__aenter__()
    try:
        assert hub.codec is not None
        console.print(f"  broker {hub.bootstrap} (embedded, memory-only) · registry {hub.registry_url}")
        console.print(f"  HTTP gateway {hub.gateway_url} · each agency posts with its own API key")
        expected = Counter(parse(hub.codec, e).envelope.subject for e in scenario)
        updates = await open_reader(hub.bootstrap, [topics.CASE_UPDATES])
        async with AgencySystems(hub) as systems:
            try:
                with Progress(console=console, transient=True) as bar:
                    task = bar.add_task(
                        "机构系统经网关发布 agencies posting to the gateway", total=len(scenario)
                    )
                    for event in scenario:
                        r = await systems.post(event)
                        if r.status_code != 202:
                            raise HubError(f"the gateway refused {event['id']}: {r.status_code} {r.text}")
                        bar.advance(task)
                await _refusal(systems, scenario, console)
                async with Publisher(hub.bootstrap, hub.codec) as pub:
                    # A garbage record straight onto a workflow topic: it must reach the dead letters.
                    await pub.send_raw(topics.workflow_topic("release"), b"not avro", b"GARBAGE", [])
                applied = await _await_applied(updates, expected, console, hub)
                personal = await _personal_reads(systems, scenario, console)
            finally:
                await updates.stop()
            clock.set(now)  # a month and more passes: deadlines fall due
            missed = await _await_alert(
                hub, [c for c in expected if c.startswith("XS-")], "PickupMissed", console
            )
            mediation = await _await_cases(
                hub,
                [c for c in expected if c.startswith("TJ-")],
                _mediation_shown,
                "一庭两所 joint session",
                console,
            )
            fw = [c for c in expected if c.startswith("FW-")]
            services = await _await_cases(hub, fw, _services_shown, "一所六站点 closed loop", console)
            fy = [c for c in expected if c.startswith("FY-")]
            legal_aid = await _await_cases(hub, fy, _legal_aid_shown, "法律援助 legal aid", console)
            jz = [c for c in expected if c.startswith("JZ-")]
            corrections = await _await_cases(hub, jz, _corrections_shown, "社区矫正 corrections", console)
            with console.status("等待推送 waiting for the webhook deliveries…"):
                delivered = await systems.settled("PickupMissed")
            police_told = any(
                r.type == "EscalationRiskAlerted" and r.agency == "qs-ps-1" for r in systems.receiver.log
            )
        cases = await _fetch_cases(hub.endpoints.workers[0], sorted(expected))
        _summary(console, cases, expected)
        _alerts(console, cases)
        _mediation(console, [c for c in cases if c.get("workflow") == "mediation"])
        _services(console, [c for c in cases if c.get("workflow") == "services"])
        _legal_aid(console, [c for c in cases if c.get("workflow") == "legal_aid"])
        _corrections(console, [c for c in cases if c.get("workflow") == "corrections"])
        systems.table(console)
        ok = applied == sum(expected.values()) and missed and delivered and mediation and police_told
        ok = ok and services and legal_aid and corrections and personal
        total = sum(expected.values())
        console.print(
            f"[{'green' if ok else 'red'}]{applied}/{total} agency events applied[/] 已处理; "
            f"{_release_text(missed)}; {_mediation_text(mediation)}; {_police_text(police_told)}; "
            f"{_services_text(services)}; {_legal_aid_text(legal_aid)}; {_corrections_text(corrections)}; "
            f"{len(systems.receiver.log)} webhook deliveries 推送"
            f"{'' if delivered else ' (NO missed pick-up delivered)'}; "
            f"garbage record sent to {topics.DEAD_LETTERS} 死信"
        )
        return ok
    finally:
        with console.status("正在停止 stopping…"):
            await hub.__aexit__(None, None, None)
        console.print(
            f"已停止 stopped; no process left behind. The run's ledger: {demo_dir} "
            f"(try `fengqiao replay --data-dir {demo_dir}`)"
        )


async def _personal_reads(systems: AgencySystems, scenario: list[dict[str, Any]], console: Console) -> bool:
    """One release case read by the judicial office (its duty: personal data in clear, logged) and by
    the petition office (it may read the case, not the person: masked) — docs/personal-data.md."""
    case_id = next(e["subject"] for e in scenario if e["type"] == "ReleaseNoticeIssued")
    seen = {}
    for agency in ("qs-jo-1", "qs-xf"):
        r = await systems.get(f"/v1/cases/{case_id}", agency)
        person = ((r.json().get("facts") or {}).get("ReleaseNoticeIssued") or {}).get("person") or {}
        seen[agency] = person
        console.print(
            f"  {agency} 查阅 reads {case_id}: {r.status_code} "
            f"姓名 {person.get('name', '?')} · 身份证号 {person.get('id_number', '?')}"
        )
    clear, masked = seen["qs-jo-1"].get("id_number", ""), seen["qs-xf"].get("id_number", "")
    ok = bool(clear) and "*" not in clear and "*" in masked and not clear.startswith("fq1:")
    console.print(
        "  个人信息：司法所见明文并记入查阅记录，信访局见脱敏 (personal data: clear for the office, "
        "logged; masked for the petition office; `fengqiao audit access --agency qs-jo-1`)"
        if ok
        else "  [red]个人信息未按授权显示 personal data not shown as authorised[/]"
    )
    return ok


async def _refusal(systems: AgencySystems, scenario: list[dict[str, Any]], console: Console) -> None:
    """An office of the other county (白云镇司法所) tries to act on a 青山县 case: refused, by rule."""
    ack = next(e for e in scenario if e["type"] == "ReleaseNoticeAcknowledged")
    r = await systems.post({**ack, "id": f"{ack['id']}-by", "source": "by-jo-1"}, as_agency="by-jo-1")
    error = r.json().get("error", {})
    console.print(
        f"  网关拒绝 gateway refused 白云镇司法所 on {ack['subject']}: {r.status_code} "
        f"[bold]{error.get('rule')}[/] — {error.get('message', '')}"
    )


async def _await_alert(
    hub: Hub, case_ids: list[str], alert: str, console: Console, timeout: float = 60.0
) -> bool:
    """Poll the worker until one of the cases carries ``alert`` (the timer's decision, read back)."""

    def carries(cases: list[dict[str, Any]]) -> bool:
        return any(a.get("type") == alert for c in cases for a in c.get("alerts", []))

    return await _await_cases(hub, case_ids, carries, alert, console, timeout)


async def _await_cases(
    hub: Hub,
    case_ids: list[str],
    until: Callable[[list[dict[str, Any]]], bool],
    what: str,
    console: Console,
    timeout: float = 60.0,
) -> bool:
    """Poll the worker until the cases, as it holds them, satisfy ``until``."""
    deadline = time.monotonic() + timeout
    with console.status(f"时钟推进，等待期限判定 clock moved on, waiting for {what}…"):
        while time.monotonic() < deadline:
            hub.check_workers()
            if until(await _fetch_cases(hub.endpoints.workers[0], case_ids)):
                return True
            await asyncio.sleep(0.2)  # polling a web endpoint: there is no event to wait on here
    return False


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
