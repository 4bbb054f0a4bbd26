"""`fengqiao publish` and `fengqiao tail`: events into the hub, and decoded out of it as they arrive."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Annotated, Any

import typer

from fengqiao.cli.common import BrokerOpt, RegistryOpt, run_coro, settings
from fengqiao.cli.personal import ReasonOpt, RevealOpt, viewer
from fengqiao.console import err, fail, out


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
        report = run_coro(
            publish_lines(
                s,
                stream,
                on_accept=lambda n, p: out.print(p.event_id),
                on_refuse=lambda n, errs: [err.print(f"[red]line {n}[/]: {e}") for e in errs],
            )
        )
    err.print(f"{report.accepted} accepted 已接收, {report.refused} refused 已拒收")
    raise typer.Exit(0 if report.refused == 0 else 1)


def tail(
    topics: Annotated[list[str] | None, typer.Argument(help="topics; default: every hub topic")] = None,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="start at the oldest record")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="stop after N records")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
    reveal: RevealOpt = False,
    reason: ReasonOpt = None,
) -> None:
    """Print decoded events with their envelope as they arrive (personal fields masked unless --reveal)."""
    from fengqiao.connectors.tail import tail_events

    s = settings(broker, registry)
    view, protection = viewer(s, "cli:tail", reveal, reason)

    def show(raw: dict[str, Any]) -> None:
        rec = view(raw, case_id=str(raw.get("envelope", {}).get("subject") or ""))
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

    try:
        with contextlib.suppress(KeyboardInterrupt):
            run_coro(tail_events(s, topics or None, show, from_beginning=from_beginning, limit=limit))
    finally:
        if protection is not None:
            protection.close()
