"""`fengqiao`: the command line (typer + rich). Staff-facing words are Chinese, integrator-facing English."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fengqiao import logs
from fengqiao.cli_audit import audit_app, dead_app, replay
from fengqiao.cli_connectors import connectors_app
from fengqiao.cli_gateway import gateway_app
from fengqiao.cli_readmodel import readmodel_app
from fengqiao.cli_templates import templates
from fengqiao.cli_webhooks import webhooks_app
from fengqiao.console import date_range, err, fail, out
from fengqiao.settings import Settings

app = typer.Typer(
    name="fengqiao",
    help="Fengqiao Hub 枫桥枢纽: cross-agency handoffs on an event log.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
schemas_app = typer.Typer(help="The Avro event catalogue: docs and compatibility.", no_args_is_help=True)
case_app = typer.Typer(help="Cases 案件.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(case_app, name="case")
policy_app = typer.Typer(help="The versioned deadline policy 期限政策.", no_args_is_help=True)
kpi_app = typer.Typer(help="KPIs the agencies report on 考核指标.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(dead_app, name="deadletters")
app.command()(replay)
app.add_typer(kpi_app, name="kpi")
app.add_typer(connectors_app, name="connectors")
app.add_typer(gateway_app, name="gateway")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(readmodel_app, name="readmodel")
app.command()(templates)

BrokerOpt = Annotated[
    str | None,
    typer.Option(
        "--broker",
        help="kafka://host:port[,host:port]; default: embedded",
        envvar="FENGQIAO_BROKER",
        show_default=False,
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry", help="external schema registry URL", envvar="FENGQIAO_REGISTRY", show_default=False
    ),
]


def settings(broker: str | None = None, registry: str | None = None, **kw: Any) -> Settings:
    s = Settings(**{k: v for k, v in {"broker": broker, "registry": registry, **kw}.items() if v is not None})
    logs.configure(s.log_level)
    return s


def _endpoints(s: Settings) -> Any:
    """Where the running hub is, or a message saying how to start one."""
    from fengqiao.hub import Endpoints, HubError

    try:
        return Endpoints.resolve(s)
    except HubError as e:
        raise fail(str(e)) from None


def _run(coro: Any) -> Any:
    from fengqiao.hub import HubError
    from fengqiao.infra.broker import BrokerError
    from fengqiao.schemas.registry import RegistryError

    try:
        return asyncio.run(coro)
    except (HubError, BrokerError, RegistryError) as e:
        raise fail(str(e)) from None


@app.command()
def up(
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    partitions: Annotated[int | None, typer.Option(help="partitions per workflow topic")] = None,
    max_restarts: Annotated[int, typer.Option(help="restarts allowed in 10 minutes when a part dies")] = 5,
) -> None:
    """Run the hub in the foreground: broker (if embedded), schema registry, workers. Ctrl-C stops it.

    When a worker, the embedded broker or the archiver dies, the hub starts again on its own: the
    ledger puts back every accepted event, and the workers read their decisions back from it.
    """
    from fengqiao.hub import Hub, HubError, lock_data_folder
    from fengqiao.lock import DataFolderLock

    s = settings(broker, registry, partitions=partitions)

    async def run_once(stop: asyncio.Event, lock: DataFolderLock) -> str | None:
        """Run until Ctrl-C (None) or until a part of the hub stops (the reason)."""
        with err.status("starting the hub 正在启动…"):
            hub = await Hub(s, workers=workers, lock=lock).__aenter__()
        try:
            ep = hub.endpoints
            restored = f"  restored {hub.rehydrated} records from the ledger" if hub.rehydrated else ""
            err.print(
                f"[green]枢纽已启动 hub is up[/]  broker [bold]{ep.bootstrap}[/]"
                f"{' (embedded, memory-only)' if s.embedded else ''}  registry [bold]{ep.registry}[/]  "
                f"workers {', '.join(ep.workers)}"
                f"{f'  gateway [bold]{ep.gateway}[/]' if ep.gateway else ''}{restored}\nCtrl-C 停止 to stop."
            )
            while not stop.is_set():
                try:
                    hub.check_workers()
                except HubError as e:
                    return str(e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
            return None
        finally:
            with err.status("stopping 正在停止…"):
                await hub.__aexit__(None, None, None)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # One hub per data folder: the lock first, before anything starts, kept across restarts so
        # no other hub can take the folder in between; the OS releases it if this process dies.
        lock = lock_data_folder(s)
        try:
            restarts: list[float] = []
            while True:
                reason = await run_once(stop, lock)
                if reason is None:
                    err.print("已停止 stopped.")
                    return
                # A part of the hub died: start it all again; the ledger restores every accepted event.
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 600] + [now]
                if len(restarts) > max_restarts:
                    raise HubError(f"{reason} — and it failed {len(restarts)} times in 10 minutes; giving up")
                lock.record(state="restarting")
                err.print(f"[yellow]重新启动 restarting:[/] {reason.split(';')[0]}")
        finally:
            lock.release()

    _run(main())


@app.command()
def worker(
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    web_port: Annotated[int, typer.Option(help="port of the worker's web endpoints")] = 6066,
) -> None:
    """Run one worker against a running broker and registry (to scale out on a real cluster)."""
    from fengqiao.streams.worker import run

    s = settings(broker, registry)
    ep = _endpoints(s)
    run(ep.bootstrap, ep.registry, web_port, s)


@app.command()
def demo(
    cases: Annotated[int, typer.Option(help="cases per workflow")] = 2,
    data_dir: Annotated[Path | None, typer.Option(help="where the demo keeps its files")] = None,
) -> None:
    """Embedded everything: publish a scripted scenario, show progress, print the cases and their handoffs."""
    from fengqiao.demo import run_demo

    s = settings(data_dir=data_dir, log_level=os.environ.get("FENGQIAO_LOG_LEVEL", "WARNING"))
    if not s.embedded:
        raise fail("the demo runs on the embedded broker; unset FENGQIAO_BROKER")
    ok = _run(run_demo(s, out, cases_per_workflow=cases))
    raise typer.Exit(0 if ok else 1)


@app.command()
def publish(
    file: Annotated[str, typer.Argument(help="CloudEvents JSON, one per line; - for standard input")],
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Validate and publish events; refuse each bad line with its number, field and reason."""
    from fengqiao.connectors.publish import publish_lines

    s = settings(broker, registry)
    try:
        stream = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise fail(f"cannot read {file}: {e.strerror}") from None
    with stream:
        report = _run(
            publish_lines(
                s,
                stream,
                on_accept=lambda n, p: out.print(p.event_id),
                on_refuse=lambda n, errs: [err.print(f"[red]line {n}[/]: {e}") for e in errs],
            )
        )
    err.print(f"{report.accepted} accepted 已接收, {report.refused} refused 已拒收")
    raise typer.Exit(0 if report.refused == 0 else 1)


@app.command()
def tail(
    topics: Annotated[list[str] | None, typer.Argument(help="topics; default: every hub topic")] = None,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="start at the oldest record")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="stop after N records")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Print decoded events with their envelope as they arrive."""
    from fengqiao.connectors.tail import tail_events

    s = settings(broker, registry)

    def show(rec: dict[str, Any]) -> None:
        if as_json:
            out.print_json(json.dumps(rec, ensure_ascii=False)) if out.is_terminal else print(
                json.dumps(rec, ensure_ascii=False), flush=True
            )
        else:
            e = rec["envelope"]
            out.print(
                f"[dim]{rec['topic']}/{rec['partition']}@{rec['offset']}[/] [bold]{e.get('type')}[/] "
                f"case={e.get('subject')} id={e.get('id')} source={e.get('source')} time={e.get('time')}"
            )
            out.print(rec.get("data") if rec.get("data") is not None else f"[red]{rec.get('error')}[/]")

    with contextlib.suppress(KeyboardInterrupt):
        _run(tail_events(s, topics or None, show, from_beginning=from_beginning, limit=limit))


@case_app.command("show")
def case_show(
    case_id: str,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A case's current state and its events 案件当前状态."""
    import httpx

    s = settings(broker, registry)
    ep = _endpoints(s)
    if not ep.workers:
        raise fail("no worker address known; run this next to `fengqiao up`")
    for worker in ep.workers:  # the worker holding the case's partition answers; the others say 421
        try:
            r = httpx.get(f"{worker}/cases/{case_id}/", timeout=10)
        except httpx.HTTPError as e:
            raise fail(f"worker at {worker} did not answer: {e}") from None
        if r.status_code != 421:
            break
    if r.status_code in (404, 421):
        raise fail(f"未找到案件 no case {case_id!r}", 1)
    r.raise_for_status()
    case = r.json()
    if as_json:
        print(json.dumps(case, ensure_ascii=False, indent=2))
        return
    render_case(case, out)


MET_ZH = {
    "met": "按时 met",
    "late": "逾期完成 late",
    "missed": "逾期 missed",
    "pending": "未到期 pending",
    "cancelled": "撤销 cancelled",
    "no_deadline": "— no deadline",
}


def handoff_met(h: dict[str, Any], now: Any = None) -> str:
    """Whether a handoff met its deadline: met, late (fulfilled after it), missed, pending, cancelled."""
    from datetime import UTC, datetime

    from fengqiao.schemas.envelope import parse_time

    if h["state"] == "cancelled":
        return "cancelled"
    if h["state"] == "fulfilled":
        return "late" if h.get("late") else "met"
    if not h.get("deadline"):
        return "no_deadline"
    if h["state"] in ("overdue", "escalated") or parse_time(h["deadline"]["due"]) < (
        now or datetime.now(UTC)
    ):
        return "missed"
    return "pending"


def render_case(case: dict[str, Any], console: Console) -> None:
    from datetime import timedelta

    from fengqiao.schemas.codec import SHANGHAI
    from fengqiao.schemas.envelope import parse_time

    def local(t: str | None) -> str:
        """Beijing time; a limit ending at midnight reads as 24:00 of its last day, as the law counts."""
        if not t:
            return "—"
        at = parse_time(t).astimezone(SHANGHAI)
        if (at.hour, at.minute, at.second) == (0, 0, 0):
            return f"{(at - timedelta(days=1)):%Y-%m-%d} 24:00"
        return f"{at:%Y-%m-%d %H:%M}"

    console.print(
        f"[bold]案件 {case['case_id']}[/]  流程 workflow {case['workflow']}  状态 status "
        f"[bold]{case['status']}[/]  版本 version {case['version']}  "
        f"政策 policy {case.get('policy_version') or '—'}"
        + ("  [red]通知书迟延 notice late[/]" if case.get("flags", {}).get("notice_late") else "")
    )
    if case.get("handoffs"):
        t = Table(
            "步骤 step",
            "承办机构 obliged",
            "状态 state",
            "期限 due (北京时间)",
            "规则 rule",
            "依据 source",
            "结果 met",
            title="移交 Handoffs",
        )
        for h in case["handoffs"].values():
            d = h.get("deadline") or {}
            rule = f"{d['rule_id']} ({d['length']} {d['clock']}, v{d['policy_version']})" if d else "—"
            t.add_row(
                h["step"],
                h["obliged"].get("name") or h["obliged"]["agency_id"],
                h["state"],
                local(d.get("due")),
                rule,
                d.get("source") or "—",
                MET_ZH[handoff_met(h)],
            )
        console.print(t)
    if case.get("alerts"):
        t = Table("告警 alert", "通知 alerted", "时间 at", title="告警 Alerts")
        for a in case["alerts"]:
            t.add_row(
                a["type"],
                ", ".join(x.get("name") or x["agency_id"] for x in a.get("alerted", [])),
                local(a.get("detected_at") or a.get("failed_at")),
            )
        console.print(t)
    if case.get("held"):
        console.print(
            f"[yellow]待立案事件 held until the case opens:[/] {', '.join(h['type'] for h in case['held'])}"
        )
    t = Table("#", "时间 time (北京时间)", "事件 event", "来源 source", "id", title="事件 Events")
    for i, e in enumerate(case["events"], 1):
        t.add_row(str(i), local(e["time"]), e["type"], e["source"], e["id"])
    console.print(t)


@policy_app.command("show")
def policy_show(
    version: Annotated[str | None, typer.Option(help="policy version; default: the newest")] = None,
    workflow: Annotated[str | None, typer.Option(help="only this workflow's rules")] = None,
    deployment: Annotated[Path | None, typer.Option(help="deployment folder with policies/")] = None,
) -> None:
    """Every rule: what starts the clock, how long, on breach, escalation, source and confidence."""
    from fengqiao.streams.policy import SHOW_COLUMNS, PolicyError, show_rows
    from fengqiao.streams.workflows import load_context

    try:
        policies = load_context(deployment).policies
        policy = policies.get(version) if version else policies.latest
    except (PolicyError, KeyError) as e:
        raise fail(str(e)) from None
    t = Table(title=f"政策 {policy.version}: {policy.title_zh} / {policy.title_en}", show_lines=True)
    for c in SHOW_COLUMNS:
        t.add_column(c, no_wrap=c in ("id", "clock", "length", "confidence"))
    for row in show_rows(policy):
        if workflow and not row["id"].startswith(f"{workflow}."):
            continue
        t.add_row(*(row[c] for c in SHOW_COLUMNS))
    Console(width=max(out.width, 220)).print(t)  # ten columns of bilingual text need the room
    out.print(
        "confidence: L = in the law itself 法律原文; P = local practice 地方做法; U = unconfirmed 待核实"
    )


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="a policy YAML file")]) -> None:
    """Validate a policy file; each problem names the rule and the field, or the workflow, step and
    rule id a version lacks."""
    from fengqiao.streams.policy import check

    if not file.exists():
        raise fail(f"no such file: {file}")
    problems = check(file)
    for p in problems:
        err.print(f"[red]✗[/] {p}", highlight=False)
    if any(" has no rule " in p for p in problems):
        err.print(
            '缺少规则：请补全，或用 extends: "2026.1" 继承已有版本、只写要改的规则 '
            "(add the missing rules, or extend a version and list only the rules you change)"
        )
    if problems:
        raise fail(f"{len(problems)} problem(s) in {file}", 1)
    out.print(f"[green]✓[/] {file} is a valid policy")


# Options of every `fengqiao kpi` command (also --agency, --broker, --registry); services counts requests.
CasesFrom = Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD, cases opened on or after")]
CasesTo = Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, cases opened on or before")]
RequestsFrom = Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD, requests received on or after")]
RequestsTo = Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, requests received on or before")]
NamingAgency = Annotated[str | None, typer.Option(help="only cases that name this agency")]
AsJson = Annotated[bool, typer.Option("--json")]


@kpi_app.command("release")
def kpi_release(
    since: CasesFrom = None,
    until: CasesTo = None,
    agency: Annotated[str | None, typer.Option(help="only cases this agency had a handoff in")] = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Release hand-over KPIs 安置帮教衔接指标, from the cases' state, with the counts behind each rate."""
    from fengqiao.streams.kpi import release_kpis, render_release

    _show_kpis("release", release_kpis, render_release, since, until, agency, as_json, broker, registry)


@kpi_app.command("mediation")
def kpi_mediation(
    since: CasesFrom = None,
    until: CasesTo = None,
    agency: NamingAgency = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Mediation KPIs 矛盾纠纷调解指标, overall, by door and by lead agency, with the counts behind each."""
    from fengqiao.streams.kpi_mediation import mediation_kpis, render_mediation

    _show_kpis("mediation", mediation_kpis, render_mediation, since, until, agency, as_json, broker, registry)


@kpi_app.command("legal-aid")
def kpi_legal_aid(
    since: CasesFrom = None,
    until: CasesTo = None,
    agency: NamingAgency = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Legal aid KPIs 法律援助指标: days to assignment, decisions within 7 days, grant rate for eligible
    applicants, overall and by route (notice or application), with the counts behind each."""
    from fengqiao.streams.kpi_legal_aid import legal_aid_kpis, render_legal_aid

    _show_kpis("legal_aid", legal_aid_kpis, render_legal_aid, since, until, agency, as_json, broker, registry)


@kpi_app.command("corrections")
def kpi_corrections(
    since: CasesFrom = None,
    until: CasesTo = None,
    agency: NamingAgency = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Community corrections KPIs 社区矫正指标: on-time reporting, absconders, investigations on time."""
    from fengqiao.streams.kpi_corrections import corrections_kpis, render_corrections

    _show_kpis(
        "corrections", corrections_kpis, render_corrections, since, until, agency, as_json, broker, registry
    )


@kpi_app.command("services")
def kpi_services(
    since: RequestsFrom = None,
    until: RequestsTo = None,
    agency: Annotated[str | None, typer.Option(help="only requests that name this agency")] = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """一所六站点 KPIs 法律服务办结指标: closure rate, median days to close, overdue share by body."""
    from fengqiao.streams.kpi_services import render_services, services_kpis

    _show_kpis("services", services_kpis, render_services, since, until, agency, as_json, broker, registry)


def _show_kpis(
    workflow: str,
    compute: Callable[..., dict[str, Any]],
    render: Callable[[dict[str, Any], Console], None],
    since: str | None,
    until: str | None,
    agency: str | None,
    as_json: bool,
    broker: str | None,
    registry: str | None,
) -> None:
    """What every `fengqiao kpi` command does: the workflow's cases from the running hub, its KPIs over
    the period and agency asked for, printed as JSON or as tables."""
    start, end = date_range(since, until)
    cases = _all_cases(settings(broker, registry), workflow)
    kpis = compute(cases, start=start, end=end, agency=agency)
    if as_json:
        print(json.dumps(kpis, ensure_ascii=False, indent=2, default=str))
    else:
        render(kpis, out)


def _all_cases(s: Settings, workflow: str) -> list[dict[str, Any]]:
    """Every case of a workflow, from every worker (each holds the cases of its partitions)."""
    import httpx

    ep = _endpoints(s)
    cases: dict[str, dict[str, Any]] = {}
    for w in ep.workers:
        try:
            r = httpx.get(f"{w}/cases/", params={"workflow": workflow}, timeout=30, follow_redirects=True)
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise fail(f"worker at {w} did not answer: {e}") from None
        cases.update({c["case_id"]: c for c in r.json()})
    return list(cases.values())


@schemas_app.command("docs")
def schemas_docs(out_file: Annotated[Path, typer.Option("--out")] = Path("docs/events.md")) -> None:
    """Generate the event catalogue docs/events.md from the schemas."""
    from fengqiao.schemas.docs import write_docs

    path = write_docs(out_file)
    out.print(f"wrote {path}")


@schemas_app.command("check")
def schemas_check(repo: Annotated[Path, typer.Option(help="git work tree")] = Path(".")) -> None:
    """BACKWARD_TRANSITIVE: every schema must read every earlier version of itself in git history."""
    from fengqiao.schemas.catalogue import CatalogueError
    from fengqiao.schemas.compat import HistoryError, check_history

    try:
        problems = check_history(repo)
    except (CatalogueError, HistoryError) as e:
        raise fail(str(e)) from None
    if problems:
        for p in problems:
            err.print(f"[red]✗[/] {p}")
        raise fail(f"{len(problems)} compatibility problem(s)", 1)
    out.print("[green]✓[/] every schema is backward compatible with all its earlier versions")


@app.command()
def bench(
    events: Annotated[int, typer.Option(help="events of the demo's five-workflow mix to send")] = 5000,
    live: Annotated[bool, typer.Option("--live", help="throughput, decided and archived (default)")] = False,
    replay: Annotated[
        bool, typer.Option("--replay", help="replay from the ledger vs its raw read + decode rate")
    ] = False,
    latency: Annotated[bool, typer.Option("--latency", help="publish-to-decision latency at --rate")] = False,
    rate: Annotated[float, typer.Option(help="events per second for --latency")] = 1000.0,
    workers: Annotated[int, typer.Option(help="also run with N workers: the scale-out factor")] = 1,
    cases: Annotated[
        int,
        typer.Option(
            help="N cases in one worker: its memory, the store on disk, restart to ready, live rate"
        ),
    ] = 0,
    load: Annotated[
        str,
        typer.Option(
            help="with --cases: live (through the broker), ledger (the folder written with the hub's "
            "code, then the hub started on it) or auto (live up to 100,000 cases)"
        ),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Measure the hub next to a raw baseline taken in the same run (docs/performance.md).

    One mode per run: --live (default), --latency --rate N, --workers N, --cases N or --replay.
    Each starts a hub of its own in a fresh folder; the figures print with the baseline and the ratio.
    """
    from fengqiao.bench import live as live_bench

    modes = (("--latency", latency), ("--workers", workers > 1), ("--cases", cases > 0), ("--replay", replay))
    chosen = [m for m, on in modes if on]
    if len(chosen) > 1 or (live and chosen):
        raise fail(f"choose one mode per run, not {' and '.join(['--live'] * live + chosen)}", 2)
    if latency and rate <= 0:
        raise fail("--rate must be above 0 events/s", 2)
    if workers < 1:
        raise fail("--workers must be 1 or more", 2)
    if load not in ("auto", "live", "ledger"):
        raise fail(f"--load must be auto, live or ledger, not {load!r}", 2)
    s = settings(log_level="WARNING")
    progress = None if as_json else err
    if replay:
        from fengqiao.bench import replay as bench_replay

        result = bench_replay.run_replay_bench(events, progress=progress)
        print(json.dumps(result, indent=2)) if as_json else bench_replay.render(result, out)
        return
    if cases:
        from fengqiao.bench import cases as bench_cases

        result = _run(bench_cases.run_cases_bench(s, cases, progress=progress, load=load))
        print(json.dumps(result, indent=2)) if as_json else bench_cases.render(result, out)
        return
    if workers > s.partitions:
        raise fail(f"{workers} workers need as many partitions (FENGQIAO_PARTITIONS={s.partitions})", 2)
    result = _run(
        live_bench.run_bench(s, events, rate=rate if latency else None, workers=workers, progress=progress)
    )
    print(json.dumps(result, indent=2)) if as_json else live_bench.render(result, out)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
