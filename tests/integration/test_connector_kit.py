"""The conformance kit against the real hub: a correct sink passes every check, a sink that is not
idempotent fails the redelivery check (so the kit can fail), and the SDK's runtime does the rest."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fengqiao.cli.connectors import connectors_app
from fengqiao.connectors.conformance import SinkHarness
from fengqiao.connectors.kit import Suite, run_suite
from fengqiao.connectors.runtime import HubLink, Positions, context_for, run_connector
from fengqiao.connectors.sdk import (
    ConnectorConfig,
    ConnectorFailed,
    ErrorPolicy,
    RetriableError,
    Sink,
    SinkRecord,
)
from fengqiao.streams import topics

pytestmark = pytest.mark.integration


class Downstream:
    """A system the sink writes to: a SQLite file, plus a control file the harness sets failures in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.control = path.with_suffix(".control.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS taken (seq INTEGER PRIMARY KEY, event_id TEXT, case_id TEXT)"
            )

    def settings(self) -> dict[str, Any]:
        return json.loads(self.control.read_text()) if self.control.exists() else {}

    def set(self, **kw: Any) -> None:
        self.control.write_text(json.dumps({**self.settings(), **kw}))

    async def take(self, event_id: str, case_id: str, dedupe: bool) -> None:
        c = self.settings()
        await asyncio.sleep(c.get("slow", 0))
        if case_id in c.get("fail_cases", []):
            raise RetriableError(f"downstream refuses case {case_id}")
        if c.get("fail_next", 0) > 0:
            self.set(fail_next=c["fail_next"] - 1)
            raise RetriableError("downstream unavailable")
        with sqlite3.connect(self.path) as db:
            if dedupe and db.execute("SELECT 1 FROM taken WHERE event_id = ?", (event_id,)).fetchone():
                return
            db.execute("INSERT INTO taken (event_id, case_id) VALUES (?, ?)", (event_id, case_id))

    def taken(self) -> list[str]:
        with sqlite3.connect(self.path) as db:
            return [r[0] for r in db.execute("SELECT event_id FROM taken ORDER BY seq")]


class FileSinkConfig(ConnectorConfig):
    path: Path


class FileSink(Sink[FileSinkConfig]):
    """Writes the hub's decisions on release cases to a downstream database, once each."""

    Config = FileSinkConfig
    dedupe = True

    def topics(self) -> list[str]:
        return [topics.workflow_topic("release")]

    def wants(self, record: SinkRecord) -> bool:
        return record.envelope.source == "fengqiao-hub"

    async def write(self, record: SinkRecord) -> None:
        await Downstream(self.config.path).take(record.event_id, record.key, self.dedupe)

    @classmethod
    def conformance(cls, workdir: Path) -> FileHarness:
        return FileHarness(workdir)


class ForgetfulSink(FileSink):
    """Takes whatever comes, so a record read twice takes effect twice."""

    dedupe = False


class FileHarness(SinkHarness):
    def __init__(self, workdir: Path) -> None:
        self.down = Downstream(workdir / "downstream.db")

    def config(self) -> dict[str, Any]:
        fast = ErrorPolicy(retries=3, backoff_initial_s=0.01, backoff_max_s=0.05)
        return {"path": str(self.down.path), "errors": fast.model_dump()}

    async def received(self) -> list[str]:
        return self.down.taken()

    def fail_next(self, n: int) -> None:
        self.down.set(fail_next=n)

    def fail_case(self, case_id: str) -> None:
        self.down.set(fail_cases=[*self.down.settings().get("fail_cases", []), case_id])

    def slow(self, seconds: float) -> None:
        self.down.set(slow=seconds)


async def test_a_correct_sink_passes_every_check(hub, hub_settings, tmp_path) -> None:
    results = await run_suite(FileSink, hub_settings, tmp_path)
    assert [(c.name, c.ok) for c in results] == [
        (name, True)
        for name in (
            "start-stop",
            "delivery-in-order",
            "redelivery",
            "dead-letter",
            "backpressure",
            "restart",
        )
    ], "\n".join(f"{c.name}: {c.detail}" for c in results)


async def test_a_sink_that_is_not_idempotent_fails_redelivery(hub, hub_settings, tmp_path) -> None:
    results = {c.name: c for c in await run_suite(ForgetfulSink, hub_settings, tmp_path)}
    assert not results["redelivery"].ok
    assert "took effect again" in results["redelivery"].detail
    assert results["delivery-in-order"].ok


async def test_with_tolerance_none_a_failing_record_stops_the_sink_where_it_failed(
    hub, hub_settings, tmp_path
) -> None:
    """Kafka Connect's errors.tolerance=none: the connector stops, the record is not skipped."""
    suite = Suite(FileSink, hub_settings, tmp_path)
    harness = FileHarness(tmp_path / "harness")
    bad = suite.fresh(1)[0]
    harness.fail_case(bad["subject"])
    config = {**harness.config(), "errors": {"tolerance": "none", "retries": 1, "backoff_initial_s": 0.01}}
    hub_link = await HubLink.connect(hub_settings)
    settings = hub_settings.model_copy(update={"data_dir": tmp_path / "state"})
    ctx = context_for(suite.name, settings, hub_link)
    positions = Positions(ctx.state_dir)  # start at the log's end: the session's earlier records are not ours
    for (topic, partition), last in hub_link.ledger.positions().items():
        positions.put(f"offset:{topic}:{partition}", str(last + 1))
    positions.close()
    suite.hub = hub_link
    await suite.publish([bad])
    with pytest.raises(ConnectorFailed, match=bad["subject"]):
        await asyncio.wait_for(
            run_connector(FileSink, FileSink.parse_config(config), ctx, asyncio.Event()), 60
        )
    assert ctx.instance.health().status == "failed"
    failed_at = next(
        (r.topic, r.partition, r.offset)
        for r in hub_link.ledger.read(case_id=bad["subject"])
        if r.source == "fengqiao-hub"
    )
    positions = Positions(ctx.state_dir)
    assert int(positions.get(f"offset:{failed_at[0]}:{failed_at[1]}") or 0) <= failed_at[2]
    positions.close()
    hub_link.close()


# ---- sources of any agency: docs/integrators.md's second example, the civil affairs bureau ------

CIVIL = Path(__file__).resolve().parents[2] / "docs" / "examples" / "civil-affairs"
SOURCE_CHECKS = ("start-stop", "durable-before-answer", "redelivery", "dead-letter", "restart")


@pytest.fixture
def civil_affairs():
    sys.path.insert(0, str(CIVIL))
    try:
        yield importlib.import_module("civil_affairs")
    finally:
        sys.path.remove(str(CIVIL))


async def test_a_civil_affairs_source_passes_on_its_own_event_types(
    hub, hub_settings, tmp_path, civil_affairs
) -> None:
    """Not a prison, not a release notice: the kit feeds the bureau's own types, from qs-ca, in 青山县."""
    cls = civil_affairs.CivilAffairsSource
    results = await run_suite(cls, hub_settings, tmp_path)
    assert [(c.name, c.ok) for c in results] == [(n, True) for n in SOURCE_CHECKS], "\n".join(
        f"{c.name}: {c.detail}" for c in results
    )
    assert "jurisdiction" in next(c for c in results if c.name == "dead-letter").detail
    link = await HubLink.connect(hub_settings)
    try:
        published = [
            r for r in link.ledger.read() if r.source == "qs-ca" and (r.case_id or "").startswith("KIT-")
        ]
    finally:
        link.close()
    assert {r.event_type for r in published} == set(cls.event_types)


async def test_a_declaration_the_agency_cannot_publish_fails_naming_it(
    hub, hub_settings, tmp_path, civil_affairs
) -> None:
    class Misdeclared(civil_affairs.CivilAffairsSource):
        event_types = ("ReleaseNoticeIssued",)

    results = {c.name: c for c in await run_suite(Misdeclared, hub_settings, tmp_path)}
    detail = results["durable-before-answer"].detail
    assert not results["durable-before-answer"].ok
    assert "declares ReleaseNoticeIssued" in detail and "ledger" not in detail


def test_connectors_test_runs_beside_a_hub_holding_the_default_gateway_port() -> None:
    """The kit's temporary hub takes free ports: 8400, a running hub's gateway port, is left alone."""
    holder = socket.socket()
    with contextlib.suppress(OSError):  # already held (a hub running here): just as good
        holder.bind(("127.0.0.1", 8400))
        holder.listen()
    try:
        r = CliRunner().invoke(connectors_app, ["test", "http-gateway"])
    finally:
        holder.close()
    assert r.exit_code == 0, r.output
    assert "5/5 checks passed" in r.output
