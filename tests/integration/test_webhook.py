"""The webhook sink against the real broker and a real HTTP receiver (the sink's conformance harness).

A prison's release notice makes the hub assign the hand-over to the judicial office qs-jo-1 and
inform the county bureau qs-jb; both are parties of the case, so both get its updates too.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import collect, header, release_event

from fengqiao.connectors import runtime
from fengqiao.connectors.addressing import addressed
from fengqiao.connectors.webhooks.harness import WebhookHarness
from fengqiao.connectors.webhooks.sink import WebhookSink
from fengqiao.connectors.webhooks.state import DeliveryLog
from fengqiao.hub import Hub
from fengqiao.infra.broker import open_reader
from fengqiao.schemas.envelope import Envelope
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.clock import FileClock
from fengqiao.streams.publisher import Publisher

pytestmark = pytest.mark.integration

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
RELEASE = datetime(2026, 10, 13, 1, 0, tzinfo=UTC)
HOME = {"code": "339901001001", "name": "东溪村"}  # 青山镇: routed to qs-jo-1
TOPICS = ("fengqiao.release", topics.CASE_UPDATES)


async def until(what: str, cond: Callable[[], Awaitable[bool] | bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if await got if isinstance(got, Awaitable) else got:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


class Running:
    """The sink under `runtime.run_connector`, as `fengqiao connectors run webhook` runs it."""

    def __init__(self, link: runtime.HubLink, settings: Settings, name: str, config: dict[str, Any]) -> None:
        self.ctx = runtime.context_for(name, settings, link)
        # From now on: the session's earlier records are other tests' (a new endpoint's usual start).
        self.config = WebhookSink.parse_config({"start": "latest", **config})
        self.stop_event = asyncio.Event()
        self.task: asyncio.Future[Any] | None = None

    async def start(self) -> Running:
        started = asyncio.Event()
        self.stop_event = asyncio.Event()
        self.task = asyncio.ensure_future(
            runtime.run_connector(WebhookSink, self.config, self.ctx, self.stop_event, started=started)
        )
        await until("the sink to start", lambda: started.is_set() or self.task.done())  # type: ignore[union-attr]
        if self.task.done():
            self.task.result()
        return self

    async def stop(self) -> None:
        self.stop_event.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 60)

    async def past(self, records: list[Any]) -> None:
        """Wait until the sink's positions are past every one of ``records``."""

        def done() -> bool:
            assert self.task is not None
            if self.task.done():
                self.task.result()
                pytest.fail("the sink stopped")
            positions = self.ctx.runner.positions
            return all(int(positions.get(f"offset:{r.topic}:{r.partition}") or 0) > r.offset for r in records)

        await until("the sink to pass the case's records", done)


@pytest.fixture
async def link(hub: Hub, hub_settings: Settings) -> AsyncIterator[runtime.HubLink]:
    FileClock(hub_settings.data_dir / "clock").set(T0)  # no deadline of these cases passes meanwhile
    link = await runtime.HubLink.connect(hub_settings)
    yield link
    link.close()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[WebhookHarness]:
    h = WebhookHarness(tmp_path / "harness")
    await h.open()
    yield h
    await h.close()


def sink_settings(hub_settings: Settings, tmp_path: Path) -> Settings:
    return hub_settings.model_copy(update={"data_dir": tmp_path / "sink-data"})


async def publish(link: runtime.HubLink, *events: tuple[Envelope, dict[str, Any]]) -> None:
    async with Publisher(link.bootstrap, link.codec, link.ledger) as pub:
        for env, record in events:
            await pub.publish(env, record)


def notice(case_id: str) -> tuple[Envelope, dict[str, Any]]:
    return release_event(
        "ReleaseNoticeIssued",
        case_id,
        T0,
        "zj-prison-2",
        key_person=False,
        residence=HOME,
        expected_release_date=RELEASE.date(),
    )


class Logged:
    """One record of the case as it sits on the log."""

    def __init__(self, msg: Any, env: Envelope, record: dict[str, Any]) -> None:
        self.topic, self.partition, self.offset = msg.topic, msg.partition, msg.offset
        self.env, self.record = env, record


async def case_log(link: runtime.HubLink, case_id: str, applied: int) -> list[Logged]:
    """The case's records on the sink's topics, in log order, once the hub applied ``applied`` events."""
    await collect(link.bootstrap, topics.CASE_UPDATES, lambda m: m.key == case_id.encode(), want=applied)
    consumer = await open_reader(link.bootstrap, TOPICS)
    out: list[Logged] = []
    try:
        idle = 0
        while idle < 3:  # a reader has no "end": three empty fetches once the hub has applied them
            batches = await consumer.getmany(timeout_ms=200)
            idle = 0 if batches else idle + 1
            for msgs in batches.values():
                for m in msgs:
                    if m.key == case_id.encode():
                        _, record = link.codec.decode(m.value)
                        out.append(Logged(m, Envelope.from_headers(m.headers), record))
    finally:
        await consumer.stop()
    return sorted(out, key=lambda r: (r.topic, r.offset))


def is_addressed(link: runtime.HubLink, r: Logged) -> bool:
    return bool(addressed(r.env.type, link.codec.catalogue[r.env.type].direction, r.env.source, r.record))


def expected(link: runtime.HubLink, records: list[Logged], agencies: set[str]) -> list[tuple[str, str, str]]:
    """(agency, topic, event id) each configured agency must receive: decisions naming it, and every
    update of the case (both agencies are its parties from the notice's hand-over on)."""
    out = []
    for r in records:
        to = addressed(r.env.type, link.codec.catalogue[r.env.type].direction, r.env.source, r.record)
        names = agencies if to.case_parties else set(to.agencies) & agencies
        out += [(a, r.topic, r.env.id) for a in sorted(names)]
    return out


async def test_an_endpoint_failing_three_times_gets_each_event_once_in_order_signed(
    link: runtime.HubLink, harness: WebhookHarness, hub_settings: Settings, tmp_path: Path
) -> None:
    case_id = f"WH-FLAKY-{uuid.uuid4().hex[:6]}"
    harness.fail_next(3, case_id=case_id)
    sink = await Running(link, sink_settings(hub_settings, tmp_path), "webhook", harness.config()).start()
    try:
        await publish(
            link,
            notice(case_id),
            release_event("ReleaseNoticeAcknowledged", case_id, T0 + timedelta(days=1), "qs-jo-1"),
        )
        records = await case_log(link, case_id, applied=2)
        want = expected(link, records, set(harness.secrets))
        assert {t for _, t, _ in want} == set(TOPICS), want  # decisions and case updates, to both
        topic_of = {r.env.id: r.topic for r in records}

        def got() -> list[tuple[str, str, str]]:
            return [(x.agency, topic_of[x.event_id], x.event_id) for x in harness.taken(case_id=case_id)]

        await until("every delivery of the case", lambda: set(want) <= set(got()))
        await sink.past(records)
    finally:
        await sink.stop()

    assert Counter(got()) == Counter(want)  # each event once per agency, nothing else
    for agency in harness.secrets:
        for topic in TOPICS:
            in_log = [e for a, t, e in want if a == agency and t == topic]
            assert [e for a, t, e in got() if a == agency and t == topic] == in_log, (agency, topic)
    failures = [x for x in harness.attempts if x[2] == 500]
    assert len(failures) == 3 and all(e in topic_of for _, e, _ in failures)
    assert any(x.attempt > 1 for x in harness.taken(case_id=case_id))  # the retries came from the sink
    assert harness.bad_signatures == []
    for x in harness.taken(case_id=case_id):
        assert abs(x.signed_at - time.time()) < 300 and x.body["id"] == x.event_id
        assert x.body["subject"] == case_id and x.body["specversion"] == "1.0"

    # A restart that lost its positions (a crash before they were saved) reads the case again:
    # the deliveries are on record, nothing goes out twice.
    before = len(harness.log)
    runtime.Positions(sink.ctx.state_dir).delete("offset:")
    await sink.start()
    try:
        await sink.past(records)
    finally:
        await sink.stop()
    assert [x for x in harness.log[before:] if x.case_id == case_id] == []


async def test_an_endpoint_always_failing_dead_letters_then_redeliver_sends_once(
    link: runtime.HubLink, harness: WebhookHarness, hub_settings: Settings, tmp_path: Path
) -> None:
    case_id = f"WH-DOWN-{uuid.uuid4().hex[:6]}"
    harness.fail_agency("qs-jo-1", case_id=case_id)
    name = "webhook-down"
    settings = sink_settings(hub_settings, tmp_path)
    config = {**harness.config(), "max_attempts": 3}
    sink = await Running(link, settings, name, config).start()
    try:
        await publish(link, notice(case_id))
        records = [r for r in await case_log(link, case_id, applied=1) if is_addressed(link, r)]
        letters = await collect(
            link.bootstrap,
            topics.DEAD_LETTERS,
            lambda m: m.key == case_id.encode() and header(m, "__connect.errors.connector.name") == name,
            want=len(records),
        )
        await sink.past(records)
    finally:
        await sink.stop()

    # Every record of the case reached the county bureau; the office's are dead letters, with context.
    assert {x.event_id for x in harness.taken("qs-jb", case_id)} == {r.env.id for r in records}
    assert harness.taken("qs-jo-1", case_id) == []
    assert len(letters) == len(records)
    for m in letters:
        _, dead = link.codec.decode(m.value)
        assert dead["error_kind"] == "handler_failed"
        assert dead["reason"].startswith(f"[{name}] webhook delivery of ")
        assert (
            "qs-jo-1 after 3 attempts: HTTP 500" in dead["reason"] and "webhooks redeliver" in dead["reason"]
        )
        assert dead["source_topic"] in TOPICS and dead["original_value"]
    state = settings.data_dir / "connectors" / name
    log = DeliveryLog(state)
    try:
        failed = log.failures(agency="qs-jo-1")
    finally:
        log.close()
    assert {f.event_id for f in failed} == {r.env.id for r in records}
    assert all(f.attempts == 3 and f.payload for f in failed)

    # The office's endpoint is back: `fengqiao webhooks redeliver` sends each failure once.
    harness.heal()
    config_file = tmp_path / "webhook.yaml"
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True))
    r = await cli(settings, "redeliver", "--all", "--config", str(config_file), "--name", name)
    assert r[0] == 0, r
    assert "已送达 delivered" in r[1] and r[1].count("qs-jo-1") == len(records)
    taken = harness.taken("qs-jo-1", case_id)
    assert sorted(x.event_id for x in taken) == sorted(r.env.id for r in records)
    assert all(x.attempt == 4 for x in taken) and harness.bad_signatures == []
    r = await cli(settings, "list-failed", "--name", name)
    assert r[0] == 0 and "no failed deliveries" in r[1], r
    r = await cli(settings, "redeliver", "--all", "--config", str(config_file), "--name", name)
    assert r[0] == 0 and "no open failures" in r[1], r

    # Started again from scratch, the sink sends none of it a second time.
    runtime.Positions(state).delete("offset:")
    sink = await Running(link, settings, name, config).start()
    try:
        await sink.past(records)
    finally:
        await sink.stop()
    assert len(harness.taken("qs-jo-1", case_id)) == len(records)


async def cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """The `webhooks` sub-app in a subprocess; this loop keeps the receiver answering meanwhile."""
    import os

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from fengqiao.cli.webhooks import webhooks_app; webhooks_app(prog_name='fengqiao webhooks')",
        *args,
        "--data-dir",
        str(settings.data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "250", "FENGQIAO_LOG_LEVEL": "WARNING"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()
