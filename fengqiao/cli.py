"""`fengqiao`: the command line (typer + rich). Staff-facing words are Chinese, integrator-facing English."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fengqiao import logs
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

# Wide enough for Chinese tables when piped (rich falls back to 80 columns off a terminal).
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)

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


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]错误 error:[/] {message}")
    return typer.Exit(code)


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
) -> None:
    """Run the hub in the foreground: broker (if embedded), schema registry, workers. Ctrl-C stops it."""
    from fengqiao.hub import Hub

    s = settings(broker, registry, partitions=partitions)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with err.status("starting the hub 正在启动…"):
            hub = await Hub(s, workers=workers).__aenter__()
        try:
            ep = hub.endpoints
            err.print(
                f"[green]枢纽已启动 hub is up[/]  broker [bold]{ep.bootstrap}[/]"
                f"{' (embedded, memory-only)' if s.embedded else ''}  registry [bold]{ep.registry}[/]  "
                f"workers {', '.join(ep.workers)}\nCtrl-C 停止 to stop."
            )
            while not stop.is_set():
                hub.check_workers()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            with err.status("stopping 正在停止…"):
                await hub.__aexit__(None, None, None)
            err.print("已停止 stopped.")

    _run(main())


@app.command()
def worker(
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    web_port: Annotated[int, typer.Option(help="port of the worker's web endpoints")] = 6066,
) -> None:
    """Run one worker against a running broker and registry (to scale out on a real cluster)."""
    from fengqiao.hub import Endpoints, HubError
    from fengqiao.streams.worker import run

    s = settings(broker, registry)
    try:
        ep = Endpoints.resolve(s)
    except HubError as e:
        raise fail(str(e)) from None
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

    from fengqiao.hub import Endpoints, HubError

    s = settings(broker, registry)
    try:
        ep = Endpoints.resolve(s)
    except HubError as e:
        raise fail(str(e)) from None
    if not ep.workers:
        raise fail("no worker address known; run this next to `fengqiao up`")
    try:
        r = httpx.get(f"{ep.workers[0]}/cases/{case_id}/", timeout=10, follow_redirects=True)
    except httpx.HTTPError as e:
        raise fail(f"worker at {ep.workers[0]} did not answer: {e}") from None
    if r.status_code == 404:
        raise fail(f"未找到案件 no case {case_id!r}", 1)
    r.raise_for_status()
    case = r.json()
    if as_json:
        print(json.dumps(case, ensure_ascii=False, indent=2))
        return
    out.print(
        f"[bold]案件 {case['case_id']}[/]  workflow {case['workflow']}  status {case['status']}  "
        f"version {case['version']}"
    )
    t = Table("#", "时间 time", "事件 event", "来源 source", "id")
    for i, e in enumerate(case["events"], 1):
        t.add_row(str(i), e["time"], e["type"], e["source"], e["id"])
    out.print(t)


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
    events: Annotated[int, typer.Option(help="events to push through")] = 5000,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Measure the hub's full path next to a raw aiokafka + fastavro baseline on the same broker."""
    from fengqiao.bench import render, run_bench

    s = settings(log_level="WARNING")
    result = _run(run_bench(s, events, progress=None if as_json else err))
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        render(result, out)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
