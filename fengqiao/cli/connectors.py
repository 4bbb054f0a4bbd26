"""`fengqiao connectors list | run | test`: installed connectors, running one, and the conformance kit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.markup import escape

from fengqiao.cli.common import cli_table
from fengqiao.console import err, fail, out
from fengqiao.settings import Settings

connectors_app = typer.Typer(
    help="Connectors 连接器: sources and sinks for agency systems.", no_args_is_help=True
)


def _settings(data_dir: Path | None) -> Settings:
    from fengqiao import logs

    s = Settings(**({"data_dir": data_dir} if data_dir else {}))
    logs.configure(s.log_level)
    return s


def _load(name: str) -> Any:
    from fengqiao.connectors.runtime import UnknownConnector, load_connector

    try:
        return load_connector(name)
    except UnknownConnector as e:
        raise fail(str(e)) from None


def read_config(cls: Any, path: Path | None) -> Any:
    """The connector's configuration from a YAML or JSON file, refused field by field if wrong."""
    raw: Any = {}
    if path is not None:
        if not path.exists():
            raise fail(f"config file {path} not found")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise fail(f"{path} is not YAML/JSON: {e}") from None
        if not isinstance(raw, dict):
            raise fail(f"{path}: the configuration must be a mapping of settings")
    try:
        return cls.parse_config(raw)
    except ValidationError as e:
        lines = [f"  {'.'.join(map(str, x['loc'])) or '(top)'}: {x['msg']}" for x in e.errors()]
        where = path or "the default configuration"
        raise fail(f"{where} is not valid for {cls.__name__}:\n" + "\n".join(lines)) from None


@connectors_app.command("list")
def list_connectors(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The connectors installed (entry point group ``fengqiao.connectors``)."""
    from fengqiao.connectors.runtime import discover

    found, broken = discover()
    rows = [
        {
            "name": name,
            "kind": cls.kind,
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "summary": cls.summary or (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
            "settings": sorted(f.alias or n for n, f in cls.Config.model_fields.items()),
            # what a source declares it publishes (sdk.Source): what the conformance kit feeds it
            "agency": getattr(cls, "agency", None),
            "event_types": list(getattr(cls, "event_types", ())),
        }
        for name, cls in found.items()
    ]
    rows += [{"name": n, "kind": "broken", "summary": why, "settings": []} for n, why in broken.items()]
    if as_json:
        out.print_json(json.dumps(rows, ensure_ascii=False))
        return
    table = cli_table("connectors")
    for r in rows:
        table.add_row(r["name"], r["kind"], r["summary"], ", ".join(r["settings"]))
    out.print(table)


@connectors_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="connector name, see `fengqiao connectors list`")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML or JSON configuration")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="the hub's data folder")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="serve this process's Prometheus metrics on 127.0.0.1:PORT/metrics"),
    ] = None,
) -> None:
    """Run a connector against the running hub until Ctrl-C."""
    from fengqiao.connectors.runtime import HubLink, context_for, run_connector
    from fengqiao.connectors.sdk import ConnectorFailed
    from fengqiao.hub import HubError

    cls = _load(name)
    cfg = read_config(cls, config)
    s = _settings(data_dir)
    if metrics_port is not None:  # a connector is its own process: its counters (webhooks) are here
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")

    async def main() -> None:
        try:
            hub = await HubLink.connect(s)
        except HubError as e:
            raise fail(str(e)) from None
        stop, started = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        ctx = context_for(name, s, hub)
        task = asyncio.ensure_future(run_connector(cls, cfg, ctx, stop, started=started))
        with contextlib.suppress(Exception):
            await asyncio.wait({task, asyncio.ensure_future(started.wait())}, return_when="FIRST_COMPLETED")
        if not task.done():
            err.print(
                f"[green]{name} 运行中 running[/] ({cls.kind}); state in {ctx.state_dir}. "
                "Ctrl-C 停止 to stop."
            )
        try:
            await task
        except ConnectorFailed as e:
            raise fail(str(e), 1) from None
        finally:
            hub.close()
        health = ctx.instance.health() if ctx.instance else None
        if health is not None:
            err.print(f"{name} 已停止 stopped; {health.counters or 'nothing processed'}")

    asyncio.run(main())


@connectors_app.command("test")
def test(
    name: Annotated[str, typer.Argument(help="connector name, see `fengqiao connectors list`")],
    running: Annotated[
        bool, typer.Option("--running", help="use the hub running here instead of a temporary one")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="the running hub's data folder (with --running)")
    ] = None,
) -> None:
    """The conformance kit: start/stop, redelivery, dead letters, backpressure, restart.

    By default on a temporary embedded hub of its own (about 10 s to start), removed afterwards.
    """
    from fengqiao import logs

    cls = _load(name)
    # The checks' lines, not the hub's nor the failures the checks cause on purpose.
    logs.configure(os.environ.get("FENGQIAO_LOG_LEVEL", "ERROR"))
    ok = asyncio.run(_test(cls, name, running, data_dir))
    raise typer.Exit(0 if ok else 1)


async def _test(cls: Any, name: str, running: bool, data_dir: Path | None) -> bool:
    from fengqiao.connectors.kit import Check, run_suite
    from fengqiao.hub import Hub, HubError

    def report(c: Check) -> None:
        mark = "[green]✓ 通过[/]" if c.ok else "[red]✗ 未通过[/]"
        out.print(f"  {mark} {c.name:<22} {escape(c.detail)}")

    with tempfile.TemporaryDirectory(prefix="fengqiao-kit-") as tmp:
        work = Path(tmp)
        out.print(f"[bold]一致性测试 conformance kit[/] · {name} ({cls.kind})")
        hub: Hub | None = None
        try:
            if running:
                hub_settings = _settings(data_dir)
            else:
                # Any free port: a hub running here holds the default one (8400).
                hub_settings = Settings(
                    data_dir=work / "hub", log_level="WARNING", tick_s=0.5, gateway_port=0
                )
                with err.status("starting a temporary hub 正在启动临时枢纽…"):
                    hub = await Hub(hub_settings, workers=1, worker_log_dir=work / "logs").__aenter__()
            results = await run_suite(cls, hub_settings, work / "kit", report)
        except HubError as e:
            raise fail(str(e)) from None
        finally:
            if hub is not None:
                await hub.__aexit__(None, None, None)
    passed = sum(c.ok for c in results)
    colour = "green" if passed == len(results) else "red"
    out.print(f"[{colour}]{passed}/{len(results)} checks passed 项通过[/]")
    return passed == len(results)
