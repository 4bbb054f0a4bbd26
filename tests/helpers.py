"""Helpers for the tests: the real broker (wait on conditions, never on fixed sleeps), stories told on the
pure engine (tests/scenarios), and cases driven through it for the KPIs (tests/unit/test_kpi*.py)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fengqiao.connectors.addressing import addressed
from fengqiao.connectors.cloudevents_json import parse
from fengqiao.infra.broker import open_reader
from fengqiao.schemas.codec import Codec, to_json
from fengqiao.schemas.envelope import Envelope
from fengqiao.schemas.samples import sample_event
from fengqiao.streams import engine, topics
from fengqiao.streams.clock import FileClock
from fengqiao.streams.directory import to_ref
from fengqiao.streams.publisher import Publisher
from fengqiao.streams.workflows import load_context


async def collect(
    bootstrap: str, topic: str, match: Callable[[Any], bool], want: int = 1, timeout: float = 60.0
) -> list[Any]:
    """Read ``topic`` from the start until ``want`` records match (or the timeout passes)."""
    consumer = await open_reader(bootstrap, [topic])
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(m for m in records if match(m))
    finally:
        await consumer.stop()
    return found


def header(msg: Any, name: str) -> str | None:
    for k, v in msg.headers or ():
        if k == name:
            return v.decode()
    return None


def release_event(etype: str, case_id: str, t: Any, source: str, **fields: Any) -> tuple[Any, dict[str, Any]]:
    """An agency's event of the release workflow at instant ``t``: (envelope, record), every instant = t."""
    from fengqiao.scenario import stamp_instants
    from fengqiao.schemas.catalogue import load

    ev = load()[etype]
    record = sample_event(ev, case_id)
    stamp_instants(ev.expanded, record, t)
    record.update(fields)
    return Envelope.new(etype, case_id, source=source, time=t), record


def run_cli(data_dir: Any, *args: str, stdin: str | None = None, timeout: float = 120) -> Any:
    """``fengqiao ARGS`` in a subprocess, as a user runs it next to a hub whose data folder is given."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "FENGQIAO_DATA_DIR": str(data_dir),
        "FENGQIAO_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "fengqiao.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


# -- the real broker (tests/integration) ----------------------------------------------------------------
def throwaway_sealer(catalogue: Any) -> Any:
    """A `Sealer` over a key store in a fresh temporary folder (unit tests of what travels sealed)."""
    import tempfile
    from pathlib import Path

    from fengqiao.settings import Settings
    from fengqiao.streams.personal.protection import Protection

    folder = Path(tempfile.mkdtemp(prefix="fq-keys-"))
    return Protection.from_settings(Settings(data_dir=folder), catalogue, read_log=False).sealer


class HubBroker:
    """Publish through the real broker, move the worker's clock, wait on a case's state.

    A workflow's test subclasses it, naming its ``workflow`` (whose topic `decisions` reads) and adding
    its agencies' events."""

    workflow = ""

    def __init__(self, hub: Any, settings: Any) -> None:
        self.hub, self.settings = hub, settings
        self.clock = FileClock(settings.data_dir / "clock")

    def send(self, *events: tuple[Any, dict[str, Any]]) -> None:
        """Publish agencies' events, each (envelope, record), in order."""

        async def go() -> None:
            assert self.hub.codec is not None
            async with Publisher(self.hub.bootstrap, self.hub.codec) as pub:
                for env, record in events:
                    await pub.publish(env, record)

        asyncio.run(go())

    def publish(self, case_id: str, etype: str, t: datetime, source: str, **fields: Any) -> None:
        self.send(release_event(etype, case_id, t, source, **fields))

    def case(self, case_id: str) -> dict[str, Any] | None:
        r = httpx.get(f"{self.hub.endpoints.workers[0]}/cases/{case_id}/", follow_redirects=True, timeout=30)
        return r.json() if r.status_code == 200 else None

    def wait(
        self, case_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            case = self.case(case_id)
            if case is not None and until(case):
                return case
            time.sleep(0.05)  # polling the worker's view: the condition, not the sleep, ends the wait
        pytest.fail(f"{case_id} did not reach the expected state in {timeout}s: {self.case(case_id)}")

    def decisions(self, case_id: str, etype: str, want: int = 1) -> list[tuple[Any, dict[str, Any]]]:
        """The hub's ``etype`` decisions on the case, as they are on the workflow's topic."""
        assert self.hub.codec is not None
        found = asyncio.run(
            collect(
                self.hub.bootstrap,
                topics.workflow_topic(self.workflow),
                lambda m: m.key == case_id.encode() and header(m, "ce_type") == etype,
                want,
            )
        )
        return [(m, self.hub.codec.decode(m.value)[1]) for m in found]

    def addressed_to(self, case_id: str, etype: str) -> tuple[str, ...]:
        """The agencies the hub's (single) ``etype`` decision on the case is delivered to."""
        [(msg, record)] = self.decisions(case_id, etype)
        return addressed(etype, "hub", header(msg, "ce_source") or "", record).agencies


def handoff(case: dict[str, Any], step: str, n: int = 1) -> dict[str, Any]:
    """The case's ``n``th handoff of ``step``, or {} while there is none."""
    return case["handoffs"].get(f"{case['case_id']}/{step}/{n}") or {}


# -- stories on the pure engine (tests/scenarios) -------------------------------------------------------
class EngineStory:
    """One case told through the engine, keeping every event on 'the log' for replay.

    A workflow's story subclasses it, naming its ``workflow`` and the ``first_id`` a story takes."""

    workflow = ""
    first_id = ""

    def __init__(self, case_id: str | None = None, ctx: engine.Context | None = None) -> None:
        self.ctx = ctx or load_context()
        self.case_id = case_id or self.first_id
        self.case: engine.Case | None = None
        self.log: list[tuple[Any, dict[str, Any]]] = []
        self.decided: list[tuple[Any, dict[str, Any]]] = []

    def publish(self, etype: str, t: datetime, source: str, **fields: Any) -> list[str]:
        """An agency's event at ``t``, handled at ``t``: the types of the hub's decisions."""
        env, record = release_event(etype, self.case_id, t, source, **fields)
        return self.publish_env(env, record, t)

    def publish_env(self, env: Any, record: dict[str, Any], now: datetime) -> list[str]:
        out = engine.handle(self.case, env, record, self.ctx, now)
        self.case = out.case
        if not out.duplicate:
            self.log.append((env, record))
        self.log += out.decisions
        self.decided += out.decisions
        return [e.type for e, _ in out.decisions]

    def time_passes(self, now: datetime) -> list[str]:
        assert self.case is not None
        decisions = engine.tick(self.case, self.ctx, now)
        for env, record in decisions:  # the worker reads them back from the topic and folds them
            self.case, _ = engine.fold(self.case, env, record, self.workflow)
            self.log.append((env, record))
            self.decided.append((env, record))
        return [e.type for e, _ in decisions]

    def handoff(self, step: str, n: int = 1) -> dict[str, Any]:
        assert self.case is not None
        return self.case["handoffs"][f"{self.case_id}/{step}/{n}"]

    def decisions(self, etype: str) -> list[dict[str, Any]]:
        return [to_json(r) for e, r in self.decided if e.type == etype]

    def replayed(self) -> engine.Case:
        case = None
        for env, record in self.log:
            case, _ = engine.fold(case, env, record, self.workflow)
        assert case is not None
        return case


# -- cases driven through the engine for the KPIs (tests/unit/test_kpi*.py) -----------------------------
class EngineDriver:
    """One case driven like the worker does: agency events through `handle`, the timer's decisions folded.

    A workflow's driver subclasses it, naming its ``workflow`` and adding its agencies' events."""

    workflow = ""

    def __init__(self, ctx: engine.Context, case_id: str) -> None:
        self.ctx, self.case_id = ctx, case_id
        self.case: engine.Case | None = None

    def ref(self, agency_id: str) -> dict[str, Any]:
        return to_ref(self.ctx.directory.get(agency_id))

    def event(self, etype: str, at: datetime, source: str, **fields: Any) -> None:
        record = sample_event(self.ctx.catalogue[etype], self.case_id)
        record.update(fields)
        env = Envelope.new(etype, self.case_id, source=source, time=at)
        self._handle(env, record, at)

    def _handle(self, env: Envelope, record: dict[str, Any], now: datetime) -> None:
        self.case = engine.handle(self.case, env, record, self.ctx, now).case

    def tick(self, now: datetime) -> list[str]:
        """The timer at ``now``: its decisions folded into the case; their types."""
        assert self.case is not None
        decisions = engine.tick(self.case, self.ctx, now)
        for env, record in decisions:
            self.case, _ = engine.fold(self.case, env, record, self.workflow)
        return [env.type for env, _ in decisions]


RELEASE = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)  # the release day of ReleaseDriver's cases, 10:00 Shanghai
PRISON = "zj-prison-2"


class ReleaseDriver(EngineDriver):
    """One case driven like the worker does: agency events through `handle`, timer decisions read back."""

    workflow = "release"

    def __init__(self, ctx: engine.Context, case_id: str, office: str) -> None:
        super().__init__(ctx, case_id)
        self.office = office

    def event(self, etype: str, at: datetime, source: str | None = None, **fields: Any) -> None:
        super().event(etype, at, source or self.office, **fields)

    def tick(self, now: datetime) -> list[str]:
        assert self.case is not None
        decisions = engine.tick(self.case, self.ctx, now)
        for env, record in decisions:
            self._handle(env, record, now)
        return [env.type for env, _ in decisions]

    def notice(self, at: datetime, residence: dict[str, Any], key_person: bool) -> None:
        self.event(
            "ReleaseNoticeIssued",
            at,
            source=PRISON,
            residence=residence,
            key_person=key_person,
            expected_release_date=RELEASE.date(),
            prison=self.ref(PRISON),
        )

    def acknowledge(self, at: datetime) -> None:
        self.event("ReleaseNoticeAcknowledged", at, office=self.ref(self.office))

    def plan(self, at: datetime) -> None:
        self.event("PickupPlanned", at, office=self.ref(self.office), planned_at=at, meeting_at=RELEASE)

    def release(self) -> None:
        self.event("PersonReleased", RELEASE, source=PRISON, released_at=RELEASE, prison=self.ref(PRISON))

    def received(self, at: datetime) -> None:
        self.event("PersonReceived", at, received_by=self.ref(self.office), received_at=at)

    def delivered(self, at: datetime) -> None:
        self.event("PersonDelivered", at, delivered_by=self.ref(self.office), delivered_at=at)

    def reported(self, at: datetime) -> None:
        self.event("PersonReported", at, office=self.ref(self.office), reported_at=at)

    def registered(self, at: datetime) -> None:
        self.event(
            "HouseholdRegistered", at, source="qs-ps-1", police_station=self.ref("qs-ps-1"), registered_at=at
        )

    def resettlement_plan(self, at: datetime) -> None:
        self.event("ResettlementPlanCreated", at, office=self.ref(self.office), created_at=at)


def demo_cases(
    ctx: engine.Context, now: datetime, prefix: str = "", passes: int = 1
) -> dict[str, engine.Case]:
    """The demo scenario's cases (those whose id starts with ``prefix``), as `fengqiao demo` leaves them:
    the hub's clock held at the first event while the agencies post, then moved on to ``now``, where the
    timer passes ``passes`` times (a decision's own deadline may also have passed)."""
    from fengqiao.scenario import demo_events

    codec = Codec(ctx.catalogue, {e.fullname: i + 1 for i, e in enumerate(ctx.catalogue)})
    scenario = [parse(codec, e) for e in demo_events(2, now=now)]
    clock = scenario[0].envelope.time
    cases: dict[str, engine.Case] = {}
    for acc in scenario:
        env = acc.envelope
        if env.subject.startswith(prefix):
            cases[env.subject] = engine.handle(cases.get(env.subject), env, acc.record, ctx, clock).case
    for _ in range(passes):
        for cid, case in list(cases.items()):
            for env, record in engine.tick(case, ctx, now):
                cases[cid], _ = engine.fold(cases[cid], env, record, case["workflow"])
    return cases


def rate(kpi: dict[str, Any]) -> tuple[int, int]:
    """A rate's (numerator, denominator)."""
    return kpi["numerator"], kpi["denominator"]


@cache
def pg_server() -> tuple[str | None, str]:
    """(URL of a PostgreSQL that answers, "") or (None, why not); asked once per run. The server at
    127.0.0.1:5432, database ``test``, trust auth as ``postgres`` or ``root``; ``FENGQIAO_TEST_PG_URL``
    names another."""
    candidates = (
        [os.environ["FENGQIAO_TEST_PG_URL"]]
        if os.environ.get("FENGQIAO_TEST_PG_URL")
        else [f"postgresql+psycopg://{user}@127.0.0.1:5432/test" for user in ("postgres", "root")]
    )
    why = []
    for url in candidates:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            return url, ""
        except Exception as e:  # no server, no database, no role: all mean "skip"
            why.append(
                f"{make_url(url).render_as_string(hide_password=True)}: {type(e).__name__}: {e}".strip()
            )
        finally:
            engine.dispose()
    return None, "no PostgreSQL answers: " + "; ".join(why)
