"""`fengqiao templates`: the spreadsheet templates (表格模板) township offices fill in.

Registered in `fengqiao.cli` as a command: ``app.command()(templates)``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fengqiao.console import err, fail, out


class TemplateFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


def templates(
    out_dir: Annotated[Path, typer.Option("--out", help="folder to write the templates into")] = Path(
        "templates"
    ),
    fmt: Annotated[
        TemplateFormat, typer.Option("--format", help="xlsx (Excel/WPS) or csv (UTF-8 with BOM)")
    ] = TemplateFormat.xlsx,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", help="an event type, e.g. ReleaseNoticeIssued (repeatable); default: all"),
    ] = None,
) -> None:
    """Write one spreadsheet template per event type agencies send 生成表格模板 (docs/spreadsheets.md).

    Headers are in Chinese, required columns marked *, with a note and an example per column.
    Filled-in files go into the inbox folder of a `spreadsheet` connector.
    """
    from fengqiao.connectors.spreadsheet.columns import MissingLabel, UnsupportedEvent
    from fengqiao.connectors.spreadsheet.template import generate

    try:
        written = generate(out_dir, fmt.value, types)
    except (ValueError, MissingLabel, UnsupportedEvent) as e:
        raise fail(str(e)) from None
    for path in written:
        out.print(str(path))
    err.print(f"[green]已生成 {len(written)} 个模板[/] wrote {len(written)} template(s) to {out_dir}")
