"""`fengqiao bench`: the measurements of docs/performance.md (`fengqiao.bench*`), one mode per run."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fengqiao.cli.common import run_coro, settings
from fengqiao.console import err, fail, out


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
    personal: Annotated[
        bool,
        typer.Option(
            "--personal/--no-personal",
            help="live: also a second hub with personal data in clear, and the intake's sealing alone "
            "(the cost of sealing, issue 17)",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Measure the hub next to a raw baseline taken in the same run (docs/performance.md).

    One mode per run: --live (default), --latency --rate N, --workers N, --cases N or --replay.
    Each starts a hub of its own in a fresh folder; the figures print with the baseline and the ratio.
    --live also starts a second hub with personal data protection off and prints on next to off
    (--no-personal: the first hub alone).
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

        result = run_coro(bench_cases.run_cases_bench(s, cases, progress=progress, load=load))
        print(json.dumps(result, indent=2)) if as_json else bench_cases.render(result, out)
        return
    if workers > s.partitions:
        raise fail(f"{workers} workers need as many partitions (FENGQIAO_PARTITIONS={s.partitions})", 2)
    result = run_coro(
        live_bench.run_bench(
            s, events, rate=rate if latency else None, workers=workers, personal=personal, progress=progress
        )
    )
    print(json.dumps(result, indent=2)) if as_json else live_bench.render(result, out)
