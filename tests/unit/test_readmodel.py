"""The SQL read model without a broker: the writer, idempotence, KPIs from SQL, migrations, rebuild.

The log is made by the real engine (``handle`` for agency events, ``tick`` for the timer), every
event and decision recorded in log order with a topic, partition and offset, as the worker would
put them on the log. The release cases are test_kpi's four (A on time, B late notice, C missed
pick-up, D lost contact) plus E (re-routed by a disputed residence) and F (a held event, then
closed). Each database test runs on SQLite and, marked integration, on PostgreSQL in a schema of
its own (``FENGQIAO_TEST_PG_URL`` names another server; skipped with the reason when none answers).
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from helpers import PRISON, RELEASE, ReleaseDriver, throwaway_sealer
from sqlalchemy import Engine, create_engine, insert, select, text, update

from fengqiao.connectors.readmodel import kpi as sql_kpi
from fengqiao.connectors.readmodel import tables as t
from fengqiao.connectors.readmodel.harness import ReadModelHarness
from fengqiao.connectors.readmodel.rebuild import rebuild
from fengqiao.connectors.readmodel.sink import ReadModelConfig, ReadModelSink
from fengqiao.connectors.readmodel.store import ReadModel, connect, current_revision, head_revision, migrate
from fengqiao.connectors.runtime import Positions
from fengqiao.connectors.sdk import ConnectorContext, ConnectorFailed, RecordError, RetriableError, SinkRecord
from fengqiao.reporting.kpi import release as kpi
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope
from fengqiao.schemas.samples import sample_event
from fengqiao.settings import Settings
from fengqiao.streams import engine, topics
from fengqiao.streams.engine import Case, Context
from fengqiao.streams.ledger import LedgerRecord
from fengqiao.streams.workflows import load_context

HOME_1 = {"code": "339901001001", "name": None}  # qs-jo-1
HOME_2 = {"code": "339901002001", "name": None}  # qs-jo-2
HOME_3 = {"code": "339901003001", "name": None}  # qs-jo-3
TOPIC = topics.workflow_topic("release")
PG_URL = os.environ.get("FENGQIAO_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# -- the log -------------------------------------------------------------------------------------------------
SEALER = throwaway_sealer(load_context().catalogue)


class Log:
    """Records in log order, each with its place on the log, and the cases as the engine holds them."""

    def __init__(self) -> None:
        self.records: list[SinkRecord] = []
        self.cases: dict[str, Case] = {}
        self.plain: set[str] = set()  # the personal texts before sealing: none may reach the tables
        self._next: dict[int, int] = {}

    def put(self, env: Envelope, record: dict[str, Any]) -> SinkRecord:
        partition = zlib.crc32(env.subject.encode()) % 4  # keyed by case: one case, one partition
        offset = self._next.get(partition, 0)
        self._next[partition] = offset + 1
        rec = SinkRecord(TOPIC, partition, offset, env.subject, env, record, b"")
        self.records.append(rec)
        return rec


class Driver(ReleaseDriver):
    """One release case driven like the worker does, every event and decision put on the log."""

    def __init__(self, log: Log, ctx: Context, case_id: str, office: str) -> None:
        self.log = log
        super().__init__(ctx, case_id, office)

    @property
    def case(self) -> Case | None:
        return self.log.cases.get(self.case_id)

    @case.setter
    def case(self, case: Case | None) -> None:
        if case is not None:
            self.log.cases[self.case_id] = case

    def _handle(self, env: Envelope, record: dict[str, Any], now: datetime) -> None:
        sealed = SEALER.seal(env.type, env.subject, record)  # as the intake seals (docs/personal-data.md)
        self.log.plain.update(_opened(record, sealed))
        record = sealed
        self.log.put(env, record)
        outcome = engine.handle(self.case, env, record, self.ctx, now)
        self.log.cases[self.case_id] = outcome.case
        for d_env, d_record in outcome.decisions:
            self.log.put(d_env, d_record)


def _day(n: int, hour: int = 2) -> datetime:
    return RELEASE.replace(hour=hour) + timedelta(days=n)


@pytest.fixture(scope="module")
def ctx() -> Context:
    return load_context()


@pytest.fixture(scope="module")
def log(ctx: Context) -> Log:
    log = Log()
    a = Driver(log, ctx, "A", "qs-jo-1")
    a.notice(datetime(2026, 9, 1, 2, tzinfo=UTC), HOME_1, key_person=True)
    a.acknowledge(datetime(2026, 9, 2, 2, tzinfo=UTC))
    a.plan(datetime(2026, 9, 11, 2, tzinfo=UTC))
    a.release()
    a.received(_day(0, hour=3))
    a.delivered(_day(0, hour=8))
    a.reported(_day(2))
    a.registered(_day(5))
    a.resettlement_plan(_day(7))

    b = Driver(log, ctx, "B", "qs-jo-1")
    b.notice(RELEASE - timedelta(days=10), HOME_1, key_person=False)
    b.acknowledge(RELEASE - timedelta(days=9))
    b.release()
    b.reported(_day(3))
    b.registered(_day(6))
    b.resettlement_plan(_day(8))

    c = Driver(log, ctx, "C", "qs-jo-1")
    c.notice(datetime(2026, 9, 1, 3, tzinfo=UTC), HOME_1, key_person=True)
    c.acknowledge(datetime(2026, 9, 2, 2, tzinfo=UTC))
    c.plan(datetime(2026, 9, 11, 2, tzinfo=UTC))
    c.release()
    assert "PickupMissed" in c.tick(_day(0, hour=16) + timedelta(minutes=1))
    c.received(_day(1, hour=1))
    c.delivered(_day(1, hour=1) + timedelta(minutes=30))
    c.reported(_day(5))
    c.registered(_day(6))
    c.resettlement_plan(_day(8))

    d = Driver(log, ctx, "D", "qs-jo-2")
    d.notice(datetime(2026, 8, 31, 16, 30, tzinfo=UTC), HOME_2, key_person=False)  # 09-01 00:30 Shanghai
    assert "HandoffOverdue" in d.tick(datetime(2026, 9, 5, 2, tzinfo=UTC))
    d.release()
    d.acknowledge(_day(1))
    assert "ContactLost" in d.tick(_day(31))

    e = Driver(log, ctx, "E", "qs-jo-1")
    e.notice(datetime(2026, 9, 1, 2, tzinfo=UTC), HOME_1, key_person=False)
    e.event(
        "ResidenceDisputed",
        datetime(2026, 9, 2, 2, tzinfo=UTC),
        office=e.ref("qs-jo-1"),
        suggested_residence=HOME_3,
    )

    f = Driver(log, ctx, "F", "qs-jo-1")
    f.reported(datetime(2026, 9, 3, 2, tzinfo=UTC))  # before the notice: held until the case opens
    f.notice(datetime(2026, 9, 4, 2, tzinfo=UTC), HOME_1, key_person=False)
    f.event("ResettlementClosed", datetime(2026, 9, 20, 2, tzinfo=UTC), office=f.ref("qs-jo-1"))

    for drv in (a, b, c, d, e, f):
        drv.tick(datetime(2026, 11, 30, 2, tzinfo=UTC))
    return log


# -- databases -----------------------------------------------------------------------------------------------
def _pg_or_skip() -> None:
    probe = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with probe.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as e:
        pytest.skip(f"no PostgreSQL answers at {PG_URL}: {type(e).__name__}: {e}")
    finally:
        probe.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty read model: SQLite in tmp_path, or a fresh PostgreSQL schema dropped after."""
    if request.param == "sqlite":
        eng = connect(f"sqlite:///{tmp_path / 'readmodel.db'}")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    _pg_or_skip()
    schema = f"rm_test_{uuid.uuid4().hex[:12]}"
    eng = connect(PG_URL, schema)
    try:
        migrate(eng)
        yield eng
    finally:
        eng.dispose()
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def apply_all(eng: Engine, records: list[SinkRecord], model: ReadModel) -> list[bool]:
    applied = []
    for rec in records:
        with eng.begin() as conn:
            applied.append(model.apply(conn, rec).applied)
    return applied


def snapshot(eng: Engine) -> dict[str, Any]:
    with eng.connect() as conn:
        return {**ReadModel.snapshot(conn), "positions": ReadModel.positions(conn)}


@pytest.fixture
def model(ctx: Context) -> ReadModel:
    return ReadModel(ctx.catalogue)


def _opened(plain: Any, sealed: Any) -> list[str]:
    """The texts ``sealed`` holds sealed where ``plain`` had them in clear."""
    if isinstance(plain, dict) and isinstance(sealed, dict):
        return [t for k in plain for t in _opened(plain[k], sealed.get(k))]
    if isinstance(plain, list) and isinstance(sealed, list):
        return [t for a, b in zip(plain, sealed, strict=False) for t in _opened(a, b)]
    return [plain] if isinstance(plain, str) and plain != sealed and len(plain) >= 2 else []


# -- the writer ----------------------------------------------------------------------------------------------
def test_the_tables_hold_personal_fields_sealed_never_in_clear(
    tmp_path: Path, log: Log, model: ReadModel
) -> None:
    """docs/personal-data.md "Read models": sealed values stored, opened only on the way to a reader."""
    path = tmp_path / "sealed.db"
    eng = connect(f"sqlite:///{path}")
    migrate(eng)
    apply_all(eng, log.records, model)
    eng.dispose()
    assert log.plain, "the drivers' events carry personal texts"
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("sealed.db*"))
    assert b"fq1:" in stored
    # A sample text may also fill a field that is not personal (an agency's name): not counted.
    clear = {t for r in log.records for t in _texts(r.record) if not t.startswith("fq1:")}
    assert log.plain - clear and [t for t in log.plain - clear if t.encode() in stored] == []


def _texts(v: Any) -> list[str]:
    if isinstance(v, dict):
        return [t for x in v.values() for t in _texts(x)]
    if isinstance(v, list):
        return [t for x in v for t in _texts(x)]
    return [v] if isinstance(v, str) else []


def test_the_tables_hold_the_engines_cases(db: Engine, log: Log, model: ReadModel) -> None:
    assert all(apply_all(db, log.records, model))
    with db.connect() as conn:
        states = {r.case_id: r.state for r in conn.execute(select(t.cases.c.case_id, t.cases.c.state))}
        assert states == log.cases  # the very fold the workers run, and nothing else
        row = conn.execute(select(t.cases).where(t.cases.c.case_id == "D")).one()
        assert (row.status, row.opened_on, row.division_code) == ("overdue", date(2026, 9, 1), "339901002001")
        assert row.opened_at == datetime(2026, 8, 31, 16, 30, tzinfo=UTC)
        assert row.version == len(log.cases["D"]["events"])
        closed = conn.execute(select(t.cases).where(t.cases.c.case_id == "F")).one()
        assert closed.status == "closed" and closed.closed_at == datetime(2026, 9, 20, 2, tzinfo=UTC)

        h = {r.handoff_id: r for r in conn.execute(select(t.handoffs))}
        gate = h["C/gate_pickup/1"]
        assert (gate.state, gate.late, gate.rule_id, gate.obliged_agency_id) == (
            "fulfilled",
            True,
            "release.pickup",
            "qs-jo-1",
        )
        assert gate.fulfilled_at == _day(1, hour=1) and gate.fulfilled_by == "PersonReceived"
        assert gate.due_at == datetime.fromisoformat(
            log.cases["C"]["handoffs"]["C/gate_pickup/1"]["deadline"]["due"]
        )
        escalated = h["D/acknowledge/1"]
        assert escalated.overdue_at is not None and escalated.missing == "disposition"
        assert [a["agency_id"] for a in escalated.escalated_to] == [
            a["agency_id"] for a in log.cases["D"]["handoffs"]["D/acknowledge/1"]["escalated_to"]
        ]
        moved = h["E/acknowledge/1"]  # re-routed to the office of the disputed residence
        assert moved.obliged_agency_id == "qs-jo-3" and moved.routed_for == "339901001001"
        assert len(h) == sum(len(c["handoffs"]) for c in log.cases.values())

        alerts = conn.execute(select(t.alerts.c.case_id, t.alerts.c.type).order_by(t.alerts.c.case_id)).all()
        assert ("C", "PickupMissed") in alerts and ("D", "ContactLost") in alerts
        parties = set(conn.execute(select(t.case_agencies)).all())
        assert ("E", "qs-jo-1", "office") in parties and ("E", "qs-jo-3", "obliged") in parties

        events = conn.execute(
            select(t.events).order_by(t.events.c.topic, t.events.c.partition, t.events.c.offset)
        ).all()
        assert [e.event_id for e in events] == [
            r.event_id for r in sorted(log.records, key=lambda r: (r.partition, r.offset))
        ]
        first = next(e for e in events if e.type == "PersonReleased" and e.case_id == "A")
        assert first.data["released_at"] == "2026-10-20T02:00:00.000Z" and first.source == PRISON
        assert first.time == RELEASE and first.workflow == "release"
        decision = next(e for e in events if e.type == "HandoffAssigned")
        assert decision.causation_id and decision.source == "fengqiao-hub"


def test_the_same_record_twice_changes_nothing(db: Engine, log: Log, model: ReadModel) -> None:
    apply_all(db, log.records, model)
    before = snapshot(db)
    assert not any(apply_all(db, log.records, model))  # every record again, in order
    assert not any(apply_all(db, list(reversed(log.records)), model))  # and backwards
    assert snapshot(db) == before


def test_a_redelivered_event_at_another_offset_is_one_event(db: Engine, log: Log, model: ReadModel) -> None:
    first = log.records[0]
    again = SinkRecord(first.topic, first.partition, 999, first.key, first.envelope, first.record, b"")
    assert apply_all(db, [first, again], model) == [True, False]
    with db.connect() as conn:
        rows = conn.execute(select(t.events.c.offset)).scalars().all()
        assert rows == [first.offset]  # the first place on the log the event was seen
        assert ReadModel.positions(conn)[(first.topic, first.partition)] == 1000  # read past it all the same
        assert conn.execute(select(t.cases.c.version)).scalar_one() == 1


# -- KPIs ----------------------------------------------------------------------------------------------------
def _same(sql: dict[str, Any], py: dict[str, Any]) -> None:
    for k in py["kpis"].values():
        k["exceptions"] = sorted(k["exceptions"])  # kpi.py lists them in the order it was given the cases
    assert sql == py


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"start": date(2026, 9, 1), "end": date(2026, 9, 1)},
        {"end": date(2026, 8, 31)},
        {"start": date(2026, 9, 2)},
        {"start": date(2027, 1, 1)},
        {"agency": "qs-jo-1"},
        {"agency": "qs-jo-2"},
        {"agency": "qs-jo-3"},
        {"agency": "qs-ps-1"},
        {"agency": "no-such-agency"},
        {"agency": "qs-jo-1", "start": date(2026, 9, 1), "end": date(2026, 9, 30)},
    ],
    ids=repr,
)
def test_kpis_from_sql_equal_kpi_py(db: Engine, log: Log, model: ReadModel, filters: dict[str, Any]) -> None:
    apply_all(db, log.records, model)
    with db.connect() as conn:
        from_sql = sql_kpi.release_kpis(conn, **filters)
    _same(from_sql, kpi.release_kpis(log.cases.values(), **filters))


def test_kpis_from_sql_count_what_the_hand_counts_say(db: Engine, log: Log, model: ReadModel) -> None:
    apply_all(db, log.records, model)
    with db.connect() as conn:
        k = sql_kpi.release_kpis(conn)
    assert k["cases"] == 6
    figures = {key: (v["numerator"], v["denominator"], v["exceptions"]) for key, v in k["kpis"].items()}
    assert figures == {
        "notice_on_time": (5, 6, ["B"]),
        # D acknowledged after the release; E's re-routed office never did; F closed with it open.
        "handover": (3, 6, ["D", "E", "F"]),
        "key_person_pickup": (1, 2, ["C"]),
        "report_within_limit": (3, 4, ["D"]),
        "contact_lost": (1, 4, ["D"]),
        "resettlement_coverage": (3, 4, ["D"]),
    }


def test_a_kpi_follows_the_state_it_reads(db: Engine, log: Log, model: ReadModel) -> None:
    """The SQL reads the columns and the JSON it claims to: change one and the figure moves."""
    apply_all(db, log.records, model)
    with db.begin() as conn:
        conn.execute(
            update(t.handoffs).where(t.handoffs.c.handoff_id == "C/gate_pickup/1").values(late=False)
        )
        k = sql_kpi.release_kpis(conn)["kpis"]
    assert (k["key_person_pickup"]["numerator"], k["key_person_pickup"]["exceptions"]) == (2, [])


# -- migrations ----------------------------------------------------------------------------------------------
def test_the_migration_creates_exactly_the_tables(db: Engine) -> None:
    assert current_revision(db) == head_revision() == "0001"
    with db.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "version_table": t.VERSION_TABLE}),
            t.metadata,
        )
    assert diff == []


def test_migrating_twice_is_harmless(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(insert(t.meta).values(key="probe", value="kept"))
    assert migrate(db) == "0001"
    with db.connect() as conn:
        assert conn.execute(select(t.meta.c.value).where(t.meta.c.key == "probe")).scalar_one() == "kept"


def test_a_schema_is_only_for_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only a PostgreSQL read model has schemas"):
        connect(f"sqlite:///{tmp_path / 'x.db'}", "hub")


# -- rebuild -------------------------------------------------------------------------------------------------
def _ledger_of(log: Log, codec: Codec, extra: tuple[LedgerRecord, ...] = ()) -> list[LedgerRecord]:
    encoded = [
        LedgerRecord.from_kafka(
            r.topic,
            r.partition,
            r.offset,
            r.key.encode(),
            codec.encode(r.type, r.record),
            r.envelope.to_headers(),
        )
        for r in log.records
    ]
    return [*encoded, *extra]


@pytest.fixture(scope="module")
def codec(ctx: Context) -> Codec:
    return Codec(ctx.catalogue, {ev.fullname: i for i, ev in enumerate(ctx.catalogue, 1)})


def test_a_rebuild_equals_the_live_writer(db: Engine, log: Log, model: ReadModel, codec: Codec) -> None:
    apply_all(db, log.records, model)
    live = snapshot(db)
    # What the live sink runner skips, a rebuild skips too: a decision not made by the hub, a value
    # no schema decodes, a record of a topic the sink does not read.
    cancelled = sample_event(codec.catalogue["HandoffCancelled"], "A")
    forged = Envelope.new("HandoffCancelled", "A", source="qs-jo-1")
    junk = Envelope.new("PersonReported", "A", source="qs-jo-1")
    extra = (
        LedgerRecord.from_kafka(
            TOPIC, 9, 0, b"A", codec.encode("HandoffCancelled", cancelled), forged.to_headers()
        ),
        LedgerRecord.from_kafka(TOPIC, 9, 1, b"A", b"\0\0\0\0\1junk", junk.to_headers()),
        LedgerRecord.from_kafka(topics.CASE_UPDATES, 0, 0, b"A", b"", ()),
    )
    seen: list[int] = []
    result = rebuild(db, _ledger_of(log, codec, extra), codec, progress=seen.append, batch=7)
    n = len(log.records)
    assert (result.records, result.applied, result.repeated, result.skipped) == (n + 3, n, 0, 3)
    assert result.failed == [] and seen[-1] == n + 3 and seen == sorted(seen)
    rebuilt = snapshot(db)
    assert rebuilt["positions"].pop((TOPIC, 9)) == 2  # read past what it skipped, as the runner does
    assert rebuilt == live


def test_a_rebuild_replaces_what_was_there(db: Engine, log: Log, model: ReadModel, codec: Codec) -> None:
    apply_all(db, log.records[:5], model)
    with db.begin() as conn:
        before = ReadModel.database_id(conn)
        conn.execute(update(t.cases).values(status="tampered"))
    rebuild(db, _ledger_of(log, codec), codec)
    with db.connect() as conn:
        assert "tampered" not in conn.execute(select(t.cases.c.status)).scalars().all()
        assert ReadModel.database_id(conn) != before  # a sink pointed here must not trust its own offsets
    assert {r.case_id: r.state for r in _states(db)} == log.cases


def _states(eng: Engine) -> list[Any]:
    with eng.connect() as conn:
        return conn.execute(select(t.cases.c.case_id, t.cases.c.state)).all()


# -- the sink: error mapping, resume, harness ---------------------------------------------------------------
def _sink(tmp_path: Path, url: str | None = None) -> ReadModelSink:
    settings = Settings(data_dir=tmp_path / "hub")
    context = ConnectorContext("sql-read-model", tmp_path / "hub" / "connectors" / "rm", settings, None)
    return ReadModelSink(ReadModelConfig.model_validate({"url": url} if url else {}), context)


async def test_driver_failures_are_sorted_retried_or_dead_lettered(tmp_path: Path, log: Log) -> None:
    harness = ReadModelHarness(tmp_path / "kit")
    await harness.open()
    sink = _sink(tmp_path, harness.config()["url"])
    await sink.start()
    try:
        first, second = log.records[0], next(r for r in log.records if r.key == "B")
        harness.fail_next(1)
        with pytest.raises(RetriableError, match="database is locked"):
            await sink.write(first)
        await sink.write(first)  # the retry goes through
        harness.fail_case("B")
        with pytest.raises(RecordError, match=r"refused .* case B") as refused:
            await sink.write(second)
        assert refused.value.kind == "handler_failed"
        await sink.write(first)  # again: idempotent, and other cases still go through
        assert await harness.received() == [first.event_id]
        assert harness.cases() == ["A"]
        assert sink.health().counters == {"applied": 1, "already_applied": 1}
    finally:
        await sink.stop()
        await harness.close()


async def test_a_sink_pointed_at_another_database_reads_from_what_it_holds(tmp_path: Path, log: Log) -> None:
    url = f"sqlite:///{tmp_path / 'rm.db'}"
    sink = _sink(tmp_path, url)
    await sink.start()
    for rec in log.records[:3]:
        await sink.write(rec)
    await sink.stop()
    positions = Positions(sink.context.state_dir)
    positions.put(f"offset:{TOPIC}:0", "77")  # the runner's own offsets, past what the database holds
    positions.put(f"offset:{TOPIC}:1", "5")
    positions.close()
    again = _sink(tmp_path, url)
    await again.start()  # the same database: the runner's offsets stand
    await again.stop()
    positions = Positions(sink.context.state_dir)
    assert positions.get(f"offset:{TOPIC}:0") == "77"
    positions.close()

    eng = connect(url)
    with eng.begin() as conn:  # what a rebuild does: a new identity and the ledger's positions
        ReadModel.clear(conn)
        ReadModel(load_context().catalogue).advance(conn, TOPIC, 0, 2)
    eng.dispose()
    rebuilt = _sink(tmp_path, url)
    await rebuilt.start()
    await rebuilt.stop()
    positions = Positions(sink.context.state_dir)
    assert positions.get(f"offset:{TOPIC}:0") == "2"
    assert positions.get(f"offset:{TOPIC}:1") is None  # nothing held: read it from the start
    positions.close()


async def test_the_default_database_is_in_the_data_folder(tmp_path: Path) -> None:
    sink = _sink(tmp_path)
    await sink.start()
    await sink.stop()
    assert (tmp_path / "hub" / "readmodel.db").exists()
    assert sink.topics() == sorted(topics.workflow_topic(w) for w in load_context().catalogue.workflows())


async def test_tables_not_as_migrated_stop_the_sink(tmp_path: Path, log: Log) -> None:
    url = f"sqlite:///{tmp_path / 'rm.db'}"
    sink = _sink(tmp_path, url)
    await sink.start()
    assert sink.engine is not None
    with sink.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE events")
    try:
        with pytest.raises(ConnectorFailed, match="fengqiao readmodel migrate"):
            await sink.write(log.records[0])
    finally:
        await sink.stop()


async def test_a_database_from_a_newer_hub_is_refused_at_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rm.db'}"
    eng = connect(url)
    migrate(eng)
    with eng.begin() as conn:
        conn.execute(text(f"UPDATE {t.VERSION_TABLE} SET version_num = '0099'"))
    eng.dispose()
    with pytest.raises(ConnectorFailed, match=r"cannot be migrated.*0099"):
        await _sink(tmp_path, url).start()


def test_config_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="tabel"):
        ReadModelConfig.model_validate({"url": "sqlite://", "tabel": "x"})
    assert ReadModelConfig.model_validate({"schema": "hub"}).schema_ == "hub"


def test_every_record_applies_in_its_own_transaction(db: Engine, log: Log, model: ReadModel) -> None:
    """A failure part-way through a record leaves no trace of it: the retry starts from nothing."""
    rec = log.records[0]

    class Boom(Exception):
        pass

    with pytest.raises(Boom), db.begin() as conn:
        model.apply(conn, rec)
        raise Boom
    with db.connect() as conn:
        assert conn.execute(select(t.events)).all() == [] and conn.execute(select(t.cases)).all() == []
    assert apply_all(db, [rec], model) == [True]


# -- the documentation's SQL ---------------------------------------------------------------------------------
DOC = Path(__file__).parents[2] / "docs" / "read-models.md"


def _doc_queries() -> list[tuple[str, str]]:
    """(database, SQL) of every ```sql block of docs/read-models.md; its first line names the database."""
    text_ = DOC.read_text("utf-8")
    blocks = [b.split("```", 1)[0] for b in text_.split("```sql\n")[1:]]
    out = []
    for block in blocks:
        first, _, body = block.partition("\n")
        assert first in ("-- both", "-- PostgreSQL", "-- SQLite"), f"name the database of: {block[:60]}"
        out.append((first[3:].lower(), body.strip().rstrip(";")))
    return out


def test_every_example_query_of_the_docs_runs(db: Engine, log: Log, model: ReadModel) -> None:
    apply_all(db, log.records, model)
    queries = [(which, q) for which, q in _doc_queries() if which in ("both", db.dialect.name)]
    assert len(queries) >= 6
    with db.connect() as conn:
        empty = [q for _, q in queries if not conn.execute(text(q)).all()]
    assert not empty, empty  # each example finds something in these cases
