"""`fengqiao readmodel`: the SQL read model's migrations, its rebuild from the ledger, KPIs from SQL.

They work with the hub stopped: `rebuild` reads the ledger and the registry store in the data
folder, as `fengqiao replay` does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from fengqiao.cli.common import DataDir, LedgerOpt, cli_table, data_settings, open_codec, open_ledger
from fengqiao.console import date_range, err, fail, ledger_progress, out

readmodel_app = typer.Typer(
    help="SQL read models 读模型: cases, handoffs and events as tables.", no_args_is_help=True
)
kpi_app = typer.Typer(help="KPIs from the read model's SQL 考核指标.", no_args_is_help=True)
readmodel_app.add_typer(kpi_app, name="kpi")

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="SQLAlchemy URL of the read model; default: SQLite readmodel.db in the data folder",
        envvar="FENGQIAO_READMODEL_URL",
        show_default=False,
    ),
]
SchemaOpt = Annotated[str | None, typer.Option("--schema", help="PostgreSQL schema of the tables")]


def _engine(url: str | None, schema: str | None, data_dir: Path | None) -> tuple[Any, str]:
    from fengqiao.connectors.readmodel.sink import _safe, default_url
    from fengqiao.connectors.readmodel.store import connect

    url = url or default_url(data_settings(data_dir).data_dir)
    try:
        return connect(url, schema), _safe(url) + (f" (schema {schema})" if schema else "")
    except Exception as e:  # a malformed URL, a missing driver, a schema on SQLite
        raise fail(f"--url {url!r}: {e}") from None


@readmodel_app.command("migrate")
def migrate(url: UrlOpt = None, schema: SchemaOpt = None, data_dir: DataDir = None) -> None:
    """Create or upgrade the read model's tables (Alembic, to the newest revision)."""
    from sqlalchemy.exc import SQLAlchemyError

    from fengqiao.connectors.readmodel.store import current_revision, migrate

    eng, shown = _engine(url, schema, data_dir)
    try:
        before = current_revision(eng)
        after = migrate(eng)
    except SQLAlchemyError as e:
        raise fail(f"{shown}: {e}") from None
    finally:
        eng.dispose()
    if before == after:
        out.print(f"[green]✓[/] {shown} 已是最新 is up to date (revision {after})")
    else:
        out.print(f"[green]✓[/] {shown} migrated 已迁移: {before or 'empty 空'} → {after}")


@readmodel_app.command("rebuild")
def rebuild(
    url: UrlOpt = None,
    schema: SchemaOpt = None,
    data_dir: DataDir = None,
    ledger: LedgerOpt = None,
) -> None:
    """Empty the read model and write it again from the ledger, with the live sink's own writer.

    Stop the sql-read-model connector first; started again, it reads on from where the ledger ended.
    """
    from fengqiao.connectors.readmodel.rebuild import ledger_records
    from fengqiao.connectors.readmodel.rebuild import rebuild as rebuild_from
    from fengqiao.connectors.readmodel.store import ReadModel

    s = data_settings(data_dir, ledger)
    led, codec = open_ledger(s), open_codec(s)
    eng, shown = _engine(url, schema, data_dir)
    model = ReadModel(codec.catalogue)
    total = led.count(topics=model.topics())
    started = time.perf_counter()
    try:
        with ledger_progress("重建 rebuilding") as bar:
            task = bar.add_task("rebuild", total=total)
            result = rebuild_from(
                eng, ledger_records(led, model), codec, progress=lambda n: bar.update(task, completed=n)
            )
    finally:
        eng.dispose()
        led.close()
    elapsed = time.perf_counter() - started
    out.print(f"[green]✓[/] 读模型已重建 read model rebuilt: {shown}")
    t = cli_table("readmodel_rows")
    for name, n in result.rows.items():
        t.add_row(name, str(n))
    out.print(t)
    out.print(
        f"{result.records} 条记录 ledger records in {elapsed:.1f}s: {result.applied} applied, "
        f"{result.repeated} repeated ids, {result.skipped} skipped (undecodable or forged), "
        f"{len(result.failed)} failed"
    )
    for line in result.failed[:20]:
        err.print(f"[red]✗[/] {line}")
    if result.failed:
        raise typer.Exit(1)


@kpi_app.command("release")
def kpi_release(
    url: UrlOpt = None,
    schema: SchemaOpt = None,
    data_dir: DataDir = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="YYYY-MM-DD, cases opened on or after")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, cases opened on or before")] = None,
    agency: Annotated[str | None, typer.Option(help="only cases this agency is involved in")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Release hand-over KPIs 安置帮教衔接指标, computed by SQL over the read model."""
    from sqlalchemy.exc import SQLAlchemyError

    from fengqiao.connectors.readmodel.kpi import release_kpis
    from fengqiao.connectors.readmodel.store import current_revision
    from fengqiao.reporting.kpi.release import render_release

    start, end = date_range(date_from, date_to)
    eng, shown = _engine(url, schema, data_dir)
    try:
        if current_revision(eng) is None:
            raise fail(
                f"{shown} 没有读模型表 has no read-model tables: run `fengqiao readmodel migrate` "
                "and the sql-read-model connector, or `fengqiao readmodel rebuild`"
            )
        with eng.connect() as conn:
            kpis = release_kpis(conn, start=start, end=end, agency=agency)
    except SQLAlchemyError as e:
        raise fail(f"{shown}: {e}") from None
    finally:
        eng.dispose()
    if as_json:
        print(json.dumps(kpis, ensure_ascii=False, indent=2))
    else:
        render_release(kpis, out)
