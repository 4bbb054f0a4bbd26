"""The terminal both CLI modules print to, and how they refuse with a reason."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

# Wide enough for Chinese tables when piped (rich falls back to 80 columns off a terminal).
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 140)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print the reason and return the exit to raise: ``raise fail("...")``."""
    err.print(f"[bold red]错误 error:[/] {message}")
    return typer.Exit(code)
