"""`fengqiao demo`: the whole hub on embedded parts, a scripted scenario, a summary, nothing left behind."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from fengqiao.connectors.cloudevents_json import parse
from fengqiao.demo_agencies import AgencySystems
from fengqiao.hub import Hub, HubError
from fengqiao.infra.broker import open_reader
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
    # run, and a hub restarted on an old ledger would (rightly) apply them once only.
    demo_dir = settings.data_dir / "demo"
    shutil.rmtree(demo_dir, ignore_errors=True)
    demo_dir.mkdir(parents=True)
    settings = settings.model_copy(update={"data_dir": demo_dir})
    clock = FileClock(settings.data_dir / "demo-clock")
    now = datetime.now(UTC)
    scenario = demo_events(cases_per_workflow, now=now)
    clock.set(parse_time(scenario[0]["time"]))
    # gateway_port 0: a free port, so the demo runs beside a hub started with `fengqiao up`.
    settings = settings.model_copy(update={"clock": f"file:{clock.path}", "tick_s": 0.2, "gateway_port": 0})
    with console.status("正在启动 starting the hub…"):
        hub = Hub(settings, workers=1, worker_log_dir=settings.data_dir / "logs")
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
        ok = ok and services and legal_aid and corrections
        total = sum(expected.values())
        joint_text = (
            "a joint-session member overdue and escalated, a dispute escalated one level 联调督办、逐级上调"
            if mediation
            else "NO joint-session escalation"
        )
        police_text = (
            "the police station alerted of a 民转刑 risk 已预警派出所"
            if police_told
            else "NO risk alert delivered to the police station"
        )
        services_text = (
            "requests closed back to the first office, an overdue one escalated 办结回告、逾期督办"
            if services
            else "NO 一所六站点 closure and escalation"
        )
        console.print(
            f"[{'green' if ok else 'red'}]{applied}/{total} agency events applied[/] 已处理; "
            f"{'a missed pick-up was raised 未接回已告警' if missed else 'NO missed pick-up was raised'}; "
            f"{joint_text}; {police_text}; {services_text}; {_legal_aid_text(legal_aid)}; "
            f"{_corrections_text(corrections)}; "
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


def _services_shown(cases: list[dict[str, Any]]) -> bool:
    """The demo's 一所六站点 requests show one closed back to the first office and one escalated."""
    closed = any("ServiceRequestClosed" in c.get("facts", {}) for c in cases)
    escalated = any(h["state"] == "escalated" for c in cases for h in c.get("handoffs", {}).values())
    return closed and escalated


def _services(console: Console, cases: list[dict[str, Any]]) -> None:
    """The 一所六站点 requests: service, body, the handoff's state, escalation, outcome; then the KPIs."""
    from fengqiao.streams.kpi_services import SERVICE_ZH, render_services, services_kpis

    t = Table(title="一所六站点 Six services through the judicial office (首问负责、办结回告)")
    for col in ("案件 case", "服务 service", "办理机构 body", "状态 state", "督办 escalated", "结果 outcome"):
        t.add_column(col)
    for c in cases:
        facts = c.get("facts", {})
        service = (facts.get("ServiceRequestReceived") or {}).get("service", "—")
        h = next(iter(c.get("handoffs", {}).values()), None)
        closed = facts.get("ServiceRequestClosed")
        t.add_row(
            c["case_id"],
            f"{SERVICE_ZH.get(service, service)} {service}",
            (h["obliged"].get("name") or h["obliged"]["agency_id"]) if h else "—",
            STATE_ZH.get(h["state"], h["state"]) if h else "—",
            (", ".join(a.get("name") or a["agency_id"] for a in h["escalated_to"]) if h else "") or "—",
            f"{closed['outcome']} · {closed['days_to_close']} 天 days" if closed else "办理中 open",
        )
    console.print(t)
    render_services(services_kpis(cases), console)


def _legal_aid_shown(cases: list[dict[str, Any]]) -> bool:
    """The demo's legal aid cases show a notice's late assignment escalated to the bureau, an applicant
    exempted by the assistance register and one whose hardship civil affairs checked."""
    escalated = any(
        h["step"] == "assign_notified" and h["state"] == "escalated"
        for c in cases
        for h in c["handoffs"].values()
    )
    facts = [c.get("facts", {}) for c in cases]
    exempt = any((f.get("MeansTestExemptionDecided") or {}).get("exempt") for f in facts)
    checked = any("HardshipCheckRequested" in f and "HardshipStatusReported" in f for f in facts)
    return escalated and exempt and checked


def _legal_aid_text(shown: bool) -> str:
    if not shown:
        return "NO legal aid escalation or register exemption"
    return "a late lawyer assignment escalated, a register exemption, a hardship check 指派督办、免审、核查"


def _legal_aid(console: Console, cases: list[dict[str, Any]]) -> None:
    """The legal aid cases: route, the means test, the decision, the lawyer; then the KPIs."""
    from fengqiao.streams.kpi_legal_aid import ROUTES, legal_aid_kpis, render_legal_aid
    from fengqiao.streams.workflows.legal_aid import ON_REGISTER, route

    t = Table(title="法律援助 Legal aid (通知辩护、申请、救助名单免审)")
    for col in ("案件 case", "来源 route", "经济困难审查 means test", "决定 decision", "指派 lawyer"):
        t.add_column(col)
    for c in cases:
        facts = c.get("facts", {})
        exemption = facts.get("MeansTestExemptionDecided")
        means = "—" if exemption is None else "免审 exempt" if exemption["exempt"] else "核查 checked"
        if "HardshipStatusReported" in facts:
            status = facts["HardshipStatusReported"]["status"]
            means += f": {ON_REGISTER.get(status, '无')} {status}"
        decision = "给予 granted" if "LegalAidGranted" in facts else "—"
        decision = "不予 denied" if decision == "—" and "LegalAidDenied" in facts else decision
        assign = [h for h in c["handoffs"].values() if h["step"] in ("assign_notified", "assign_granted")]
        lawyer = ", ".join(
            STATE_ZH.get(h["state"], h["state"]) + (" (逾期 late)" if h.get("late") else "") for h in assign
        )
        kind = route(c)
        t.add_row(c["case_id"], f"{ROUTES[kind]} {kind}", means, decision, lawyer or "—")
    console.print(t)
    render_legal_aid(legal_aid_kpis(cases), console)


def _corrections_shown(cases: list[dict[str, Any]]) -> bool:
    """The demo's corrections cases show an absconder with revocation grounds after a month, a change of
    execution place handed to 白云县's agency, and a revocation ruled late."""
    handoffs = [h for c in cases for h in c.get("handoffs", {}).values()]
    grounds = any("RevocationGroundsArisen" in c.get("facts", {}) for c in cases)
    moved = any(h["step"] == "transfer" and h["obliged"]["agency_id"].startswith("by-") for h in handoffs)
    late = any(h["step"] == "revocation_ruling" and h.get("late") for h in handoffs)
    return grounds and moved and late


def _corrections_text(shown: bool) -> str:
    if not shown:
        return "NO absconder, change of place or late ruling in corrections"
    return "an absconder with revocation grounds, a move to 白云县, a late ruling 脱管·变更执行地·逾期裁定"


CORRECTIONS_DECISIONS = ("CorrectionAbsconded", "RevocationGroundsArisen", "CorrectionTerminationNotified")


def _corrections(console: Console, cases: list[dict[str, Any]]) -> None:
    """The corrections cases: kind, the agency in charge, reporting, what the hub decided; then the KPIs."""
    from fengqiao.streams.kpi_corrections import corrections_kpis, render_corrections
    from fengqiao.streams.workflows.corrections import responsible

    t = Table(title="社区矫正 Community corrections (交付衔接、报到、脱管、撤销、变更执行地)")
    for col in ("案件 case", "类别 kind", "社区矫正机构 agency", "报到 reported", "平台决定 hub decisions"):
        t.add_column(col)
    for c in cases:
        facts = c.get("facts", {})
        kind = (facts.get("CommunityCorrectionOrdered") or {}).get("kind") or "调查评估 investigation"
        agency = responsible(c) or next((h["obliged"] for h in c["handoffs"].values()), None)
        report = c["handoffs"].get(f"{c['case_id']}/report/1")
        reported = "—" if report is None else STATE_ZH.get(report["state"], report["state"])
        if report and report.get("late"):
            reported += " (逾期 late)"
        hub = [e["type"] for e in c["events"] if e["type"] in CORRECTIONS_DECISIONS]
        hub += [
            f"{h['step']}:{STATE_ZH.get(h['state'], h['state'])}" + (" (逾期 late)" if h.get("late") else "")
            for h in c["handoffs"].values()
            if h["step"] in ("investigation", "transfer", "revocation_ruling")
        ]
        t.add_row(
            c["case_id"],
            kind,
            (agency.get("name") or agency["agency_id"]) if agency else "—",
            reported,
            ", ".join(hub) or "—",
        )
    console.print(t)
    render_corrections(corrections_kpis(cases), console)


def _mediation_shown(cases: list[dict[str, Any]]) -> bool:
    """The demo's mediation cases show a joint session member escalated, a dispute escalated one level
    and a risk alert to the police station."""
    joint = any(
        h["step"] == "joint_accept" and h["state"] == "escalated"
        for c in cases
        for h in c["handoffs"].values()
    )
    escalated = any(e["type"] == "DisputeEscalated" for c in cases for e in c.get("events", []))
    alerted = any(a.get("type") == "EscalationRiskAlerted" for c in cases for a in c.get("alerts", []))
    return joint and escalated and alerted


LEVEL_ZH = {"village": "村级", "township": "乡镇", "joint": "一庭两所", "county": "县级"}


def _mediation(console: Console, cases: list[dict[str, Any]]) -> None:
    """The mediation cases: door, level, the joint session's members, escalations, outcome; then the KPIs."""
    from fengqiao.streams.kpi_mediation import DOOR_ZH, mediation_kpis, outcome, render_mediation

    t = Table(title="矛盾纠纷调解 Mediation (一庭两所, 诉调·警调·访调对接)")
    for col in (
        "案件 case",
        "来源 door",
        "层级 level",
        "联调成员 joint session",
        "上调 escalated",
        "结果 outcome",
    ):
        t.add_column(col)
    for c in cases:
        facts = c.get("facts", {})
        door = (facts.get("DisputeReferred") or {}).get("door") or "own_intake"
        levels = [e for e in c["events"] if e["type"] == "MediationAssigned"]
        level = (facts.get("MediationAssigned") or {}).get("level", "—")
        joint = ", ".join(
            f"{h['obliged'].get('name') or h['obliged']['agency_id']}:{STATE_ZH.get(h['state'], h['state'])}"
            for h in c["handoffs"].values()
            if h["step"] == "joint_accept"
        )
        up = facts.get("DisputeEscalated")
        t.add_row(
            c["case_id"],
            f"{DOOR_ZH.get(door, door)} {door}",
            f"{LEVEL_ZH.get(level, level)} {level}" + (f" (×{len(levels)})" if len(levels) > 1 else ""),
            joint or "—",
            f"{up['from_level']} → {up['to_level']}" if up else "—",
            outcome(c) + (" · 退回法院 returned to court" if "ReturnedToCourt" in facts else ""),
        )
    console.print(t)
    render_mediation(mediation_kpis(cases), console)


def _alerts(console: Console, cases: list[dict[str, Any]]) -> None:
    rows = [(c["case_id"], a) for c in cases for a in c.get("alerts", [])]
    if not rows:
        return
    t = Table(title="告警 Alerts")
    for col in ("案件 case", "告警 alert", "通知 alerted"):
        t.add_column(col)
    for case_id, a in rows:
        t.add_row(
            case_id, a["type"], ", ".join(x.get("name") or x["agency_id"] for x in a.get("alerted", []))
        )
    console.print(t)


STATE_ZH = {
    "assigned": "待签收",
    "acknowledged": "已签收",
    "fulfilled": "已完成",
    "overdue": "逾期",
    "escalated": "已督办",
    "cancelled": "已撤销",
}


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
        handoffs = (c.get("handoffs") or {}).values()
        h = ", ".join(f"{x['step']}:{STATE_ZH.get(x['state'], x['state'])}" for x in handoffs) or "—"
        t.add_row(
            c["case_id"],
            c.get("workflow", "?"),
            c.get("status", "?"),
            str(len(c.get("events", []))),
            last,
            h,
        )
    console.print(t)
