"""The SQL read model against the real hub: the live sink, a rebuild from the ledger, KPIs, the CLI, the kit.

Release cases are published as the prison and the office would, the worker decides, and the
`ReadModelSink` (run as `fengqiao connectors run` runs it) writes the tables. Each database test runs
on SQLite and on PostgreSQL (a schema of its own, dropped after; skipped with the reason when no
server answers at 127.0.0.1:5432 or ``FENGQIAO_TEST_PG_URL``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import release_event
from sqlalchemy import create_engine, select, text

from fengqiao.connectors import runtime
from fengqiao.connectors.kit import run_suite
from fengqiao.connectors.readmodel import ReadModelSink
from fengqiao.connectors.readmodel import kpi as sql_kpi
from fengqiao.connectors.readmodel import tables as t
from fengqiao.connectors.readmodel.store import ReadModel, connect
from fengqiao.hub import Hub
from fengqiao.reporting.kpi import release as kpi
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.clock import FileClock
from fengqiao.streams.ledger import Ledger
from fengqiao.streams.publisher import Publisher

pytestmark = pytest.mark.integration

PG_URL = os.environ.get("FENGQIAO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
RELEASE = datetime(2026, 10, 13, 1, 0, tzinfo=UTC)
HOME = {"code": "339901001001", "name": "东溪村"}


@dataclass
class Database:
    url: str
    schema: str | None

    def args(self) -> list[str]:
        return ["--url", self.url, *(["--schema", self.schema] if self.schema else [])]


def _pg_or_skip() -> None:
    probe = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as e:
        pytest.skip(f"no PostgreSQL answers at {PG_URL}: {type(e).__name__}: {e}")
    finally:
        probe.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], Database]]:
    """Makes empty read-model databases of one kind: SQLite files, or PostgreSQL schemas dropped after."""
    schemas: list[str] = []
    if request.param == "postgresql":
        _pg_or_skip()

    def make(name: str) -> Database:
        if request.param == "sqlite":
            return Database(f"sqlite:///{tmp_path / name}.db", None)
        schemas.append(f"rm_{name}_{uuid.uuid4().hex[:10]}")
        return Database(PG_URL, schemas[-1])

    yield make
    if schemas:
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            for s in schemas:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{s}" CASCADE')
        admin.dispose()


class LiveSink:
    """`ReadModelSink` run by the connector runtime on the test's loop, with a data folder of its own."""

    def __init__(self, hub_settings: Settings, db: Database, state: Path) -> None:
        self.hub_settings, self.db, self.state = hub_settings, db, state
        self.stop_event = asyncio.Event()
        self.task: asyncio.Future[Any] | None = None

    async def __aenter__(self) -> LiveSink:
        link = await runtime.HubLink.connect(self.hub_settings)
        settings = self.hub_settings.model_copy(update={"data_dir": self.state})
        config = ReadModelSink.parse_config({"url": self.db.url, "schema": self.db.schema})
        started = asyncio.Event()
        self.task = asyncio.ensure_future(
            runtime.run_connector(
                ReadModelSink,
                config,
                runtime.context_for("sql-read-model", settings, link),
                self.stop_event,
                started=started,
            )
        )
        await asyncio.wait({self.task, asyncio.ensure_future(started.wait())}, return_when="FIRST_COMPLETED")
        if self.task.done():
            self.task.result()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop_event.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 60)


class Hubside:
    """Publish as the agencies do, move the worker's clock, read the worker's cases."""

    def __init__(self, hub: Hub, settings: Settings) -> None:
        self.hub, self.settings = hub, settings
        self.clock = FileClock(settings.data_dir / "clock")

    async def publish(self, *events: tuple[Any, dict[str, Any]]) -> None:
        assert self.hub.codec is not None
        async with Publisher(self.hub.bootstrap, self.hub.codec) as pub:
            for env, record in events:
                await pub.publish(env, record)

    async def cases(self, workflow: str = "release") -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        async with httpx.AsyncClient(timeout=10, follow_redirects=True) as http:
            for w in self.hub.endpoints.workers:
                r = await http.get(f"{w}/cases/", params={"workflow": workflow})
                r.raise_for_status()
                out.update({c["case_id"]: c for c in r.json()})
        return out


async def until(what: str, cond: Callable[[], Awaitable[Any]], timeout: float = 180.0) -> Any:
    """Poll ``cond`` until it returns something truthy; fail naming ``what`` (the condition ends the wait)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await cond()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


def sql(db: Database, query: Any) -> list[Any]:
    eng = connect(db.url, db.schema)
    try:
        with eng.connect() as conn:
            return list(conn.execute(query))
    finally:
        eng.dispose()


def snapshot(db: Database) -> dict[str, Any]:
    eng = connect(db.url, db.schema)
    try:
        with eng.connect() as conn:
            return {**ReadModel.snapshot(conn), "positions": ReadModel.positions(conn)}
    finally:
        eng.dispose()


def readmodel(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``fengqiao readmodel ARGS`` in a subprocess, as a user runs it (the sub-app itself, so the test
    does not depend on how fengqiao/cli/__init__.py mounts it)."""
    env = {**os.environ, "FENGQIAO_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    if data_dir is not None:
        env["FENGQIAO_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-c", "from fengqiao.cli.readmodel import readmodel_app; readmodel_app()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def notice(case_id: str, *, key: bool, issued: datetime = T0) -> tuple[Any, dict[str, Any]]:
    return release_event(
        "ReleaseNoticeIssued",
        case_id,
        issued,
        "zj-prison-2",
        key_person=key,
        residence=HOME,
        expected_release_date=RELEASE.date(),
    )


@pytest.fixture
def hubside(hub: Hub, hub_settings: Settings) -> Hubside:
    side = Hubside(hub, hub_settings)
    side.clock.set(T0)
    return side


async def test_live_sink_rebuild_and_kpis(
    hubside: Hubside, hub_settings: Settings, databases: Callable[[str], Database], tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6].upper()
    ok, late, missed = f"RM-{run}-OK", f"RM-{run}-LATE", f"RM-{run}-MISS"
    live = databases("live")
    async with LiveSink(hub_settings, live, tmp_path / "state"):
        await hubside.publish(
            notice(ok, key=True),
            notice(missed, key=True),
            notice(late, key=False, issued=RELEASE - timedelta(days=9)),
        )
        for c in (ok, missed):
            await hubside.publish(
                release_event("ReleaseNoticeAcknowledged", c, T0 + timedelta(days=1), "qs-jo-1"),
                release_event("PickupPlanned", c, T0 + timedelta(days=20), "qs-jo-1"),
            )
        hubside.clock.set(RELEASE)
        await hubside.publish(
            release_event("PersonReleased", ok, RELEASE, "zj-prison-2", released_at=RELEASE),
            release_event("PersonReleased", missed, RELEASE, "zj-prison-2", released_at=RELEASE),
            release_event("PersonReceived", ok, RELEASE + timedelta(minutes=20), "qs-jo-1"),
            release_event("PersonDelivered", ok, RELEASE + timedelta(hours=4), "qs-jo-1"),
        )

        # The tables show the hub's decisions: handoffs the worker opened and closed.
        async def ok_received() -> bool:
            rows = sql(live, select(t.handoffs.c.step, t.handoffs.c.state).where(t.handoffs.c.case_id == ok))
            return dict(rows).get("gate_pickup") == "fulfilled" and dict(rows).get("delivery") == "fulfilled"

        await until(f"{ok}'s gate pick-up and delivery fulfilled in the handoffs table", ok_received)
        hubside.clock.set(RELEASE + timedelta(days=1))  # the release day is over: nobody met `missed`

        async def missed_escalated() -> Any:
            alerts = sql(live, select(t.alerts.c.type).where(t.alerts.c.case_id == missed))
            gate = sql(
                live,
                select(t.handoffs.c.state, t.handoffs.c.escalated_to).where(
                    t.handoffs.c.handoff_id == f"{missed}/gate_pickup/1"
                ),
            )
            return ("PickupMissed",) in alerts and gate and gate[0].state == "escalated" and gate[0]

        gate = await until(
            f"{missed}'s PickupMissed alert and escalated pick-up in the tables", missed_escalated
        )
        assert {a["agency_id"] for a in gate.escalated_to} >= {"qs-jb"}
        [status] = sql(live, select(t.cases.c.status).where(t.cases.c.case_id == missed))
        assert status == ("overdue",)

        # The case state in SQL is the worker's, and so the KPIs from SQL are kpi.py's.
        async def same_as_workers() -> tuple[dict[str, Any], dict[str, Any]] | None:
            workers = await hubside.cases()
            tables = dict(
                sql(live, select(t.cases.c.case_id, t.cases.c.state).where(t.cases.c.workflow == "release"))
            )
            return (workers, tables) if workers == tables else None

        # The sink reads the session's whole log from its start: in a full run, thousands of records.
        workers, _ = await until(
            "the read model to hold every release case as the workers do", same_as_workers, timeout=240
        )
        assert {ok, late, missed} <= set(workers)
        eng = connect(live.url, live.schema)
        with eng.connect() as conn:
            from_sql = sql_kpi.release_kpis(conn)
            mine = sql_kpi.release_kpis(conn, agency="qs-jo-1", start=T0.date(), end=RELEASE.date())
        eng.dispose()
        from_py = kpi.release_kpis(workers.values())
        for k in from_py["kpis"].values():
            k["exceptions"] = sorted(k["exceptions"])
        assert from_sql == from_py
        assert late in mine["kpis"]["notice_on_time"]["exceptions"]
        assert missed in mine["kpis"]["key_person_pickup"]["exceptions"]
        assert ok not in mine["kpis"]["key_person_pickup"]["exceptions"]

        # The sink has applied what the ledger holds (and the other way round) before the rebuild.
        ledger = Ledger(hub_settings.ledger_url)
        workflow_topics = {topics.workflow_topic(w) for w in hubside.hub.codec.catalogue.workflows()}  # type: ignore[union-attr]

        async def caught_up() -> bool:
            held = {k: v + 1 for k, v in ledger.positions().items() if k[0] in workflow_topics}
            return held == snapshot(live)["positions"]

        await until("the sink and the ledger to hold the same records", caught_up, timeout=240)
        ledger.close()

    rebuilt = databases("rebuilt")
    result = readmodel("rebuild", *rebuilt.args(), "--data-dir", str(hub_settings.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "read model rebuilt" in result.stdout and "0 failed" in result.stdout
    assert snapshot(rebuilt) == snapshot(live)  # every row of every table, positions included

    # The staff-facing KPI table from SQL, and its JSON.
    shown = readmodel("kpi", "release", *rebuilt.args(), "--agency", "qs-jo-1")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "重点对象接回率" in shown.stdout and "机构 agency qs-jo-1" in shown.stdout
    as_json = readmodel("kpi", "release", *rebuilt.args(), "--json")
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    assert json.loads(as_json.stdout) == from_sql


async def test_the_sink_reads_on_after_a_restart_a_rebuild_and_a_new_database(
    hubside: Hubside, hub_settings: Settings, databases: Callable[[str], Database], tmp_path: Path
) -> None:
    """Stopped, the sink misses nothing; pointed at a rebuilt or a new database, it reads from what that
    database holds, not from the offsets the connector kept for the old one."""
    run = uuid.uuid4().hex[:6].upper()
    first, second, third = (f"RM-{run}-{i}" for i in (1, 2, 3))
    db, state = databases("restart"), tmp_path / "state"

    def opened(case_id: str, where: Database) -> Callable[[], Awaitable[bool]]:
        async def cond() -> bool:
            rows = sql(where, select(t.handoffs.c.step).where(t.handoffs.c.case_id == case_id))
            return ("acknowledge",) in rows

        return cond

    async with LiveSink(hub_settings, db, state):
        await hubside.publish(notice(first, key=False))
        await until(f"{first}'s handoffs", opened(first, db))
    await hubside.publish(notice(second, key=False))  # while the sink is stopped
    async with LiveSink(hub_settings, db, state):
        await until(f"{second}'s handoffs after the restart", opened(second, db))
    result = readmodel("rebuild", *db.args(), "--data-dir", str(hub_settings.data_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    await hubside.publish(notice(third, key=False))
    async with LiveSink(hub_settings, db, state):
        await until(f"{third}'s handoffs after the rebuild", opened(third, db))
        cases = {r.case_id for r in sql(db, select(t.cases.c.case_id))}
        assert {first, second, third} <= cases
        events = [r.event_id for r in sql(db, select(t.events.c.event_id))]
        assert len(events) == len(set(events))

    # The same connector (same folder, same offsets) moved to an empty database fills it from the start.
    moved = databases("moved")
    async with LiveSink(hub_settings, moved, state):
        await until(f"{first}, published long before, in the new database", opened(first, moved))
        await until(f"{third} in the new database", opened(third, moved))


def test_migrate_cli(databases: Callable[[str], Database]) -> None:
    db = databases("migrate")
    first = readmodel("migrate", *db.args())
    assert first.returncode == 0, first.stdout + first.stderr
    assert "migrated 已迁移: empty 空 → 0001" in first.stdout
    again = readmodel("migrate", *db.args())
    assert again.returncode == 0 and "is up to date (revision 0001)" in again.stdout
    assert {r.table_name for r in sql(db, text(_TABLES_SQL[db.schema is None]))} >= {
        "cases",
        "handoffs",
        "events",
        "alerts",
        "case_agencies",
    }


_TABLES_SQL = {
    True: "SELECT name AS table_name FROM sqlite_master WHERE type = 'table'",
    False: "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
}


def test_kpi_cli_explains_an_empty_database(tmp_path: Path) -> None:
    result = readmodel("kpi", "release", "--url", f"sqlite:///{tmp_path / 'none.db'}")
    assert result.returncode == 2
    assert "has no read-model tables" in result.stderr and "fengqiao readmodel migrate" in result.stderr


async def test_conformance_kit(hub: Hub, hub_settings: Settings, tmp_path: Path) -> None:
    checks = await run_suite(ReadModelSink, hub_settings, tmp_path / "kit")
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    assert not failed, failed
    assert {c.name for c in checks} >= {"start-stop", "redelivery", "dead-letter", "backpressure", "restart"}
