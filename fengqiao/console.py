"""The terminal both CLI modules print to, and how they refuse with a reason."""

from __future__ import annotations

import sys
from datetime import date

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

# Wide enough for Chinese tables when piped (rich falls back to 80 columns off a terminal).
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print the reason and return the exit to raise: ``raise fail("...")``."""
    err.print(f"[bold red]错误 error:[/] {message}")
    return typer.Exit(code)


def ledger_progress(label: str) -> Progress:
    """The bar of a command reading the ledger (replay, rebuild): on stderr, only on a terminal."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def date_range(date_from: str | None, date_to: str | None) -> tuple[date | None, date | None]:
    """``--from``/``--to`` as dates, or a refusal naming the format."""
    try:
        return (
            date.fromisoformat(date_from) if date_from else None,
            date.fromisoformat(date_to) if date_to else None,
        )
    except ValueError as e:
        raise fail(f"--from/--to take YYYY-MM-DD: {e}") from None
