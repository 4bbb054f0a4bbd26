"""`fengqiao schemas docs | check`: the Avro event catalogue's docs and its compatibility over git history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fengqiao.console import err, fail, out

schemas_app = typer.Typer(help="The Avro event catalogue: docs and compatibility.", no_args_is_help=True)


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
