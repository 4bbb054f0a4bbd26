"""`fengqiao demo`: the whole hub on embedded parts with a scripted scenario (`fengqiao.demo`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from fengqiao.cli.common import run_coro, settings
from fengqiao.console import fail, out


def demo(
    cases: Annotated[int, typer.Option(help="cases per workflow")] = 2,
    data_dir: Annotated[Path | None, typer.Option(help="where the demo keeps its files")] = None,
) -> None:
    """Embedded everything: publish a scripted scenario, show progress, print the cases and their handoffs."""
    from fengqiao.demo import run_demo

    s = settings(data_dir=data_dir, log_level=os.environ.get("FENGQIAO_LOG_LEVEL", "WARNING"))
    if not s.embedded:
        raise fail("the demo runs on the embedded broker; unset FENGQIAO_BROKER")
    ok = run_coro(run_demo(s, out, cases_per_workflow=cases))
    raise typer.Exit(0 if ok else 1)
