"""The read-model database: connecting, migrating, and the one writer the sink and a rebuild share.

`ReadModel.apply` takes one hub record and, in the caller's transaction, inserts the event (once per
event id), folds it into the case state kept in ``cases.state`` with `engine.fold` (which ignores an
id it has seen) and rewrites the case's rows from that state. The same record twice changes nothing.

Personal data (个人信息, docs/personal-data.md "Read models"): the tables hold personal fields
*sealed*, as they travel on the log (``fq1:…`` in ``events.data`` and ``cases.state``), never in
clear and never masked; the read model needs no key and holds nothing an erasure would leave
behind (the person's key destroyed, every copy here reads as erased). A reader gets them opened or
masked only on the way out, through `fengqiao.connectors.personal_view.PersonalView` with the
deployment's `Protection` (as the gateway and `fengqiao case show` do), which logs clear reads. The
KPI queries use no personal field. A rebuild writes the same sealed values, so it equals the live
sink byte for byte.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select
from sqlalchemy import case as sql_case
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from fengqiao.connectors.sdk import SinkRecord
from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.codec import to_json
from fengqiao.schemas.envelope import Envelope, parse_time
from fengqiao.streams import engine as case_engine
from fengqiao.streams import topics
from fengqiao.streams.acceptance import refusal
from fengqiao.streams.calendar import local_date
from fengqiao.streams.workflows import all_workflows

from . import tables as t

MIGRATIONS = Path(__file__).parent / "migrations"


def connect(url: str, schema: str | None = None) -> Engine:
    """An engine for the read model. ``schema`` (PostgreSQL) is put first on every connection's
    search_path, so the writer, the migrations and the KPI queries all work unqualified."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    backend = u.get_backend_name()
    if schema and backend != "postgresql":
        raise ValueError(f"schema {schema!r}: only a PostgreSQL read model has schemas (url is {backend})")
    if backend == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(u, connect_args={"timeout": 60})
        event.listen(eng, "connect", _sqlite_connect)
        event.listen(eng, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return eng
    eng = create_engine(u, pool_pre_ping=True)
    if schema:
        quoted = eng.dialect.identifier_preparer.quote_identifier(schema)

        @event.listens_for(eng, "connect")
        def _search_path(dbapi_conn: Any, _record: Any) -> None:
            # Outside a transaction, so the pool's rollback-on-return cannot undo it.
            autocommit = dbapi_conn.autocommit
            dbapi_conn.autocommit = True
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET search_path TO {quoted}")
            dbapi_conn.autocommit = autocommit

        eng.update_execution_options(readmodel_schema=quoted)

    return eng


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # BEGIN IMMEDIATE above: one writer, no lock upgrade failures
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # the read model is rebuildable from the ledger
    cur.close()


def alembic_config(conn: Connection) -> AlembicConfig:
    """Alembic's configuration built in code: users need no alembic.ini."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def migrate(eng: Engine, revision: str = "head") -> str | None:
    """Bring the tables to ``revision``; returns the revision the database is at afterwards."""
    schema = eng.get_execution_options().get("readmodel_schema")
    with eng.begin() as conn:
        if schema:
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        command.upgrade(alembic_config(conn), revision)
    return current_revision(eng)


def current_revision(eng: Engine) -> str | None:
    with eng.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": t.VERSION_TABLE})
        return context.get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


@dataclass
class Applied:
    """What `ReadModel.apply` did: ``applied`` False for a record the model already holds."""

    case_id: str
    applied: bool


class ReadModel:
    """The writer: one record at a time, inside the caller's transaction."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.workflows = all_workflows(catalogue)  # also makes them known to fold (opening, closing)
        self.by_topic = {topics.workflow_topic(w): w for w in catalogue.workflows()}

    def topics(self) -> list[str]:
        return sorted(self.by_topic)

    def apply(self, conn: Connection, rec: SinkRecord) -> Applied:
        env, workflow = rec.envelope, self.by_topic[rec.topic]
        case_id = env.subject
        ins = _insert(conn)
        inserted = conn.execute(
            ins(t.events)
            .values(
                event_id=env.id,
                case_id=case_id,
                workflow=workflow,
                type=env.type,
                source=env.source,
                time=env.time,
                topic=rec.topic,
                partition=rec.partition,
                offset=rec.offset,
                causation_id=env.causationid,
                correlation_id=env.correlationid,
                jurisdiction=env.jurisdiction,
                data=to_json(rec.record),
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        ).rowcount
        applied = False
        if inserted:
            state = conn.execute(
                select(t.cases.c.state).where(t.cases.c.case_id == case_id).with_for_update()
            ).scalar_one_or_none()
            case, applied = case_engine.fold(state, env, rec.record, workflow)
            if applied:
                self._write_case(conn, case)
        self.advance(conn, rec.topic, rec.partition, rec.offset + 1)
        return Applied(case_id, applied)

    def advance(self, conn: Connection, topic: str, partition: int, next_offset: int) -> None:
        """Record that the partition is applied up to ``next_offset`` (never backwards: a redelivery
        of older records leaves it where it was)."""
        stmt = _insert(conn)(t.positions).values(topic=topic, partition=partition, next_offset=next_offset)
        held, offered = t.positions.c.next_offset, stmt.excluded.next_offset
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["topic", "partition"],
                set_={"next_offset": sql_case((offered > held, offered), else_=held)},
            )
        )

    def _write_case(self, conn: Connection, case: dict[str, Any]) -> None:
        cid, wf = case["case_id"], case["workflow"]
        opened = parse_time(case["opened_at"]) if case["opened_at"] else None
        row = {
            "workflow": wf,
            "status": case["status"],
            "opened_at": opened,
            "opened_on": local_date(opened) if opened else None,
            "closed_at": case["closed_at"],
            "updated_at": case["updated_at"],
            "policy_version": case["policy_version"],
            "version": case["version"],
            "division_code": self.workflows[wf].division(case) if wf in self.workflows else None,
            "held": len(case["held"]),
            "state": case,
        }
        stmt = _insert(conn)(t.cases).values(case_id=cid, **row)
        conn.execute(stmt.on_conflict_do_update(index_elements=["case_id"], set_=row))
        # The children are few per case and any of them may change with one event: replace them.
        for table in (t.handoffs, t.alerts, t.case_agencies):
            conn.execute(delete(table).where(table.c.case_id == cid))
        if case["handoffs"]:
            conn.execute(insert(t.handoffs), [_handoff_row(cid, wf, h) for h in case["handoffs"].values()])
        if case["alerts"]:
            conn.execute(insert(t.alerts), [_alert_row(cid, i, a) for i, a in enumerate(case["alerts"])])
        parties = _parties(case)
        if parties:
            conn.execute(
                insert(t.case_agencies),
                [{"case_id": cid, "agency_id": a, "relation": r} for a, r in sorted(parties)],
            )

    # -- bookkeeping ---------------------------------------------------------------------------------------
    @staticmethod
    def positions(conn: Connection) -> dict[tuple[str, int], int]:
        rows = conn.execute(select(t.positions.c.topic, t.positions.c.partition, t.positions.c.next_offset))
        return {(r.topic, r.partition): r.next_offset for r in rows}

    @staticmethod
    def database_id(conn: Connection) -> str:
        """This database's identity, made on first use and again by every `clear` (a rebuild)."""
        found = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "database_id")).scalar()
        if found is None:
            found = str(uuid.uuid4())
            conn.execute(insert(t.meta).values(key="database_id", value=found))
        return found

    @staticmethod
    def clear(conn: Connection) -> None:
        """Empty every table (children first) and give the database a new identity."""
        for table in (t.handoffs, t.alerts, t.case_agencies, t.cases, t.events, t.positions, t.meta):
            conn.execute(delete(table))

    @staticmethod
    def snapshot(conn: Connection) -> dict[str, list[dict[str, Any]]]:
        """Every row of the read-model tables in key order: what a rebuild must reproduce."""
        return {
            table.name: [
                dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in t.READ_MODEL
        }

    @staticmethod
    def counts(conn: Connection) -> dict[str, int]:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in t.READ_MODEL
        }


def decode(rec: Any, codec: Any, by_topic: dict[str, str]) -> SinkRecord | None:
    """A ledger record as the sink runner would hand it over, or None where the runner skips it.

    Mirrors `runtime.SinkRunner._decode` (what the workers refuse is skipped: streams/acceptance.py),
    so a rebuild and the live sink apply the same records.
    """
    if rec.topic not in by_topic or rec.value is None:
        return None
    try:
        env = Envelope.from_headers(rec.headers)
        ev, record = codec.decode(rec.value)
    except Exception:
        return None
    key = (rec.key or b"").decode("utf-8", "replace")
    if refusal(rec.topic, key, env, ev, record):
        return None
    return SinkRecord(rec.topic, rec.partition, rec.offset, key, env, record, rec.value, tuple(rec.headers))


# -- rows from the case state -----------------------------------------------------------------------------
def _handoff_row(case_id: str, workflow: str, h: dict[str, Any]) -> dict[str, Any]:
    deadline = h.get("deadline") or {}
    obliged = h.get("obliged") or {}
    return {
        "handoff_id": h["id"],
        "case_id": case_id,
        "workflow": workflow,
        "step": h["step"],
        "task": h["task"],
        "obliged_agency_id": obliged.get("agency_id", ""),
        "obliged_agency_type": obliged.get("agency_type", ""),
        "state": h["state"],
        "rule_id": deadline.get("rule_id") or h.get("rule_id"),
        "due_at": deadline.get("due"),
        "legal_source": deadline.get("source"),
        "assigned_at": h.get("assigned_at"),
        "acknowledged_at": h.get("acknowledged_at"),
        "fulfilled_at": h.get("fulfilled_at"),
        "fulfilled_by": h.get("fulfilled_by"),
        "late": h.get("late"),
        "overdue_at": h.get("overdue_at"),
        "missing": h.get("missing"),
        "escalated_to": h.get("escalated_to") or [],
        "cancelled_reason": h.get("cancelled_reason"),
        "routed_for": h.get("routed_for"),
    }


def _alert_row(case_id: str, position: int, a: dict[str, Any]) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "position": position,
        "type": a["type"],
        "detected_at": a.get("detected_at") or a.get("failed_at"),
        "reason": a.get("reason") or a.get("problem"),
        "alerted": a.get("alerted") or [],
    }


def _parties(case: dict[str, Any]) -> set[tuple[str, str]]:
    """The agencies a case involves as `kpi.involves` reads them: obliged by a handoff, or a fact's office."""
    out = {
        (h["obliged"]["agency_id"], "obliged")
        for h in case["handoffs"].values()
        if (h.get("obliged") or {}).get("agency_id")
    }
    for r in case["facts"].values():
        office = r.get("office") if isinstance(r, dict) else None
        if isinstance(office, dict) and office.get("agency_id"):
            out.add((office["agency_id"], "office"))
    return out
