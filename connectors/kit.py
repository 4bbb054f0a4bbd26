"""The conformance suite itself: `run_suite(ConnectorClass, hub_settings, workdir)`.

It runs the connector under test through the same runtime as `fengqiao connectors run`, against a
running hub, and drives it through the connector's harness (conformance.py). A source is fed
events of its own ``event_types`` from its own ``agency`` (kit_events.py: the catalogue's samples,
placed in the agency's area); a generic source that declares no types, and every sink, get
release notices (ReleaseNoticeIssued) from the demo prison, zj-prison-2. Case ids are fresh, so
the suite can run again and again against one hub.

One module (~500 lines) because `Suite` is the list of checks an integrator reads top to bottom to
see what their connector must do; its helpers (`kit_events`, `conformance`) live apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fengqiao.infra.broker import open_reader
from fengqiao.streams import topics

from .conformance import Harness, SinkHarness, SourceHarness
from .kit_events import NotPublishable, break_one, check_declaration, generate, release_notices
from .runtime import HubLink, Outbox, Positions, SinkRunner, context_for, run_connector
from .sdk import Connector, ConnectorContext, ErrorPolicy, SinkRecord

PRISON = "zj-prison-2"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


class CheckFailed(AssertionError):
    pass


async def wait_for(what: str, cond: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


class Running:
    """One run of the connector under test (start → stop), in a task."""

    def __init__(self, cls: type[Connector[Any]], config: Any, ctx: ConnectorContext) -> None:
        self.stop_event = asyncio.Event()
        self.started = asyncio.Event()
        self.task = asyncio.ensure_future(
            run_connector(cls, config, ctx, self.stop_event, started=self.started)
        )
        self.ctx = ctx

    async def wait_started(self, timeout: float = 60.0) -> None:
        done, _ = await asyncio.wait(
            {self.task, asyncio.ensure_future(self.started.wait())},
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self.task.done():
            self.task.result()
            raise CheckFailed("the connector returned while starting")
        if not done:
            raise CheckFailed(f"the connector did not start in {timeout:.0f}s")

    async def stop(self) -> Connector[Any]:
        self.stop_event.set()
        return await asyncio.wait_for(self.task, 60)


class Suite:
    def __init__(self, cls: type[Connector[Any]], hub_settings: Any, workdir: Path) -> None:
        self.cls = cls
        self.name = f"kit-{getattr(cls, '__name__', 'connector').lower()}"
        self.hub_settings = hub_settings
        self.workdir = workdir
        self.run_id = uuid.uuid4().hex[:6]
        self.hub: HubLink | None = None
        self.harness: Harness | None = None
        self._n = 0
        self._running: list[Running] = []
        self.agency = PRISON
        self.types: list[str] = list(getattr(cls, "event_types", ()) or ())

    def fresh(self, n: int) -> list[dict[str, Any]]:
        """``n`` events for new cases: the connector's own types in turn, one event per case."""
        self._n += 1
        run = f"{self.run_id}{self._n}"
        if not self.types or self.hub is None:
            return release_notices(n, run)
        catalogue, directory, types = self.hub.codec.catalogue, self.hub.directory, self.types
        try:
            check_declaration(catalogue, directory, self.agency, self.types)
        except NotPublishable as e:
            raise CheckFailed(str(e)) from None
        return [
            generate(catalogue, directory, self.agency, types[i % len(types)], f"KIT-{run}-{i:03d}", i)
            for i in range(n)
        ]

    async def start(self) -> Running:
        assert self.hub is not None and self.harness is not None
        raw = self.harness.config()
        if isinstance(self.harness, SinkHarness):  # the kit's own records only, not the hub's history
            raw = {**raw, "start": "latest"}
        config = self.cls.parse_config(raw)
        settings = self.hub_settings.model_copy(update={"data_dir": self.workdir / "state"})
        ctx = context_for(self.name, settings, self.hub)
        if isinstance(self.harness, SourceHarness):  # the source's outbox.took(ref) reaches the harness
            ctx.on_taken = self.harness.note_taken
        r = Running(self.cls, config, ctx)
        self._running.append(r)
        await r.wait_started()
        return r

    async def run(self, report: Callable[[Check], None]) -> list[Check]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hub = await HubLink.connect(self.hub_settings)
        self.harness = self.cls.conformance(self.workdir / "harness")
        self.harness.state_dir = self.workdir / "state" / "connectors" / self.name
        if isinstance(self.harness, SourceHarness):
            self.agency = self.harness.agency or getattr(self.cls, "agency", None) or PRISON
            self.harness.agency = self.agency
        await self.harness.open()
        checks = self.source_checks() if isinstance(self.harness, SourceHarness) else self.sink_checks()
        results = []
        try:
            for name, check in checks:
                try:
                    detail = await check()
                    results.append(Check(name, True, detail))
                except Exception as e:  # a check's failure is its result, the suite goes on
                    results.append(Check(name, False, f"{type(e).__name__}: {e}"))
                for r in self._running:  # what a failed check left running
                    if not r.task.done():
                        with contextlib.suppress(Exception):
                            await r.stop()
                self._running.clear()
                report(results[-1])
        finally:
            await self.harness.close()
            self.hub.close()
        return results

    # ---- sources -------------------------------------------------------------------------------

    def source_checks(self) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
        return [
            ("start-stop", self.start_stop),
            ("durable-before-answer", self.src_durable),
            ("redelivery", self.src_redelivery),
            ("dead-letter", self.src_refusal),
            ("restart", self.src_restart),
        ]

    async def start_stop(self) -> str:
        r = await self.start()
        running = r.ctx.instance.health().status
        connector = await r.stop()
        health = connector.health()
        if running != "running" or health.status != "stopped":
            raise CheckFailed(
                f"health was {running!r} when running, {health.status!r} after stop ({health.detail})"
            )
        return "started (health: running) and stopped (health: stopped) cleanly"

    def _in_ledger(self, event: dict[str, Any]) -> int:
        """How many records of the event's type and source the ledger holds for its case.

        A source may give events ids of its own (a file's digest and row, a row version), so the
        kit counts by case: each of its cases gets exactly one event of a type.
        """
        assert self.hub is not None and self.hub.ledger is not None
        return sum(
            1
            for rec in self.hub.ledger.read(case_id=event["subject"])
            if rec.event_type == event["type"] and rec.source == event["source"]
        )

    async def src_durable(self) -> str:
        harness = self._source()
        events = self.fresh(5)
        r = await self.start()
        try:
            await harness.feed(events)
            missing = [e["id"] for e in events if not self._in_ledger(e)]
        finally:
            await r.stop()
        if missing:
            raise CheckFailed(await self._why_missing(missing))
        return f"{len(events)} events in the ledger when the source answered"

    async def _why_missing(self, missing: list[str]) -> str:
        """What the source did wrong when events it answered for are not in the ledger."""
        refused = await self._source().refusals()
        if refused:  # the hub said why: the source's mapping made an event the hub cannot take
            return (
                f"the source refused valid {', '.join(self.types) or 'ReleaseNoticeIssued'} events "
                f"{missing}; the hub's reasons: {'; '.join(r[:160] for r in refused[-3:])}"
            )
        return (
            f"the source answered (feed returned) before it had published {missing}: await "
            "outbox.publish(event, agency=...) for each, then outbox.took(ref), before answering"
        )

    async def src_redelivery(self) -> str:
        harness = self._source()
        events = self.fresh(3)
        r = await self.start()
        try:
            await harness.feed(events)
            await harness.feed(events)
        finally:
            await r.stop()
        counts = {e["subject"]: self._in_ledger(e) for e in events}
        if any(c != 1 for c in counts.values()):
            raise CheckFailed(
                f"the same input fed twice gave these records per case: {counts}; derive each event's "
                "id from the input (not at random), so the hub applies it once"
            )
        return "the same input twice gave one record per event"

    async def src_refusal(self) -> str:
        harness = self._source()
        bad, good = self.fresh(2)
        assert self.hub is not None
        field = break_one(self.hub.codec.catalogue, bad)
        before = len(await harness.refusals())
        r = await self.start()
        try:
            await harness.feed_invalid(bad)
            await harness.feed([good])
        finally:
            await r.stop()
        refusals = (await harness.refusals())[before:]
        named = ("身份",) if field == "id_number" else ()
        if not any(field in x or any(z in x for z in named) for x in refusals):
            raise CheckFailed(
                f"the source did not tell its sender why it refused an event with a bad {field}: "
                f"no refusal names {field}; got {refusals}"
            )
        if self._in_ledger(bad):
            raise CheckFailed(f"the source published an event with an invalid {field}")
        if not self._in_ledger(good):
            raise CheckFailed(
                "the source stopped publishing after an invalid event: the valid one after it is not "
                "in the ledger"
            )
        return f"refused with its reason: {refusals[-1][:120]}"

    async def src_restart(self) -> str:
        harness = self._source()
        first, second = self.fresh(3), self.fresh(3)
        r = await self.start()
        await harness.feed(first)
        await r.stop()
        r = await self.start()
        try:
            await harness.feed(second)
        finally:
            await r.stop()
        counts = {e["id"]: self._in_ledger(e) for e in first + second}
        lost = [i for i, c in counts.items() if c == 0]
        twice = [i for i, c in counts.items() if c > 1]
        if lost or twice:
            raise CheckFailed(
                f"across a restart the source lost {lost} and published twice {twice}: save its "
                "position after publish returns, and give each input a stable event id"
            )
        return f"{len(first) + len(second)} events across a restart, each once"

    def _source(self) -> SourceHarness:
        assert isinstance(self.harness, SourceHarness)
        return self.harness

    # ---- sinks ---------------------------------------------------------------------------------

    def sink_checks(self) -> list[tuple[str, Callable[[], Awaitable[str]]]]:
        return [
            ("start-stop", self.start_stop),
            ("delivery-in-order", self.sink_order),
            ("redelivery", self.sink_redelivery),
            ("dead-letter", self.sink_dead_letter),
            ("backpressure", self.sink_backpressure),
            ("restart", self.sink_restart),
        ]

    def _sink(self) -> SinkHarness:
        assert isinstance(self.harness, SinkHarness)
        return self.harness

    async def publish(self, events: list[dict[str, Any]]) -> None:
        """Publish as the prison would, and wait until the hub has applied each (its decisions are out)."""
        assert self.hub is not None
        outbox = Outbox("kit", self.hub, ErrorPolicy(), Positions(self.workdir / "kit"))
        await outbox.open()
        try:
            for e in events:
                await outbox.publish(e)
        finally:
            await outbox.close()
            outbox.positions.close()
        await self._applied({e["subject"] for e in events})

    async def _applied(self, cases: set[str]) -> None:
        assert self.hub is not None
        consumer = await open_reader(self.hub.bootstrap, [topics.CASE_UPDATES])
        seen: set[str] = set()
        try:
            deadline = time.monotonic() + 60
            while not cases <= seen:
                if time.monotonic() > deadline:
                    raise CheckFailed(f"the hub did not apply {sorted(cases - seen)} in 60s")
                for msgs in (await consumer.getmany(timeout_ms=200)).values():
                    seen |= {(m.key or b"").decode() for m in msgs}
        finally:
            await consumer.stop()

    async def expected(self, r: Running, cases: set[str]) -> list[SinkRecord]:
        """The records of ``cases`` on the sink's topics that the running sink wants, in log order."""
        runner: SinkRunner = r.ctx.runner
        sink = runner.sink
        consumer = await open_reader(runner.hub.bootstrap, sink.topics())
        out: list[SinkRecord] = []
        try:
            idle = 0
            while idle < 3:  # the reader has no "end"; three empty fetches after the hub applied them
                batches = await consumer.getmany(timeout_ms=200)
                idle = 0 if batches else idle + 1
                for msgs in batches.values():
                    for m in msgs:
                        if (m.key or b"").decode() in cases:
                            rec = await runner._decode(m)
                            if rec is not None and sink.wants(rec):
                                out.append(rec)
        finally:
            await consumer.stop()
        return out

    async def caught_up(self, r: Running, records: list[SinkRecord], timeout: float = 120.0) -> None:
        runner: SinkRunner = r.ctx.runner

        async def done() -> bool:
            if r.task.done():
                r.task.result()
                raise CheckFailed("the connector stopped")
            return all(
                int(runner.positions.get(f"offset:{x.topic}:{x.partition}") or 0) > x.offset for x in records
            )

        await wait_for("the sink to reach the records", done, timeout)

    async def _deliver(self, n: int) -> tuple[Running, list[SinkRecord]]:
        events = self.fresh(n)
        r = await self.start()
        await self.publish(events)
        records = await self.expected(r, {e["subject"] for e in events})
        if not records:
            await r.stop()
            raise CheckFailed("the sink wants none of the hub's records for a release notice")
        await self.caught_up(r, records)
        return r, records

    async def sink_order(self) -> str:
        r, records = await self._deliver(3)
        try:
            got = await self._sink().received()
        finally:
            await r.stop()
        missing = [x.event_id for x in records if x.event_id not in got]
        if missing:
            raise CheckFailed(f"not delivered: {missing}")
        # Order holds per case within a topic: a case's facts and decisions are one ordered stream,
        # its updates (fengqiao.case-updates) another, read side by side.
        for case, topic in {(x.key, x.topic) for x in records}:
            want = list(dict.fromkeys(x.event_id for x in records if x.key == case and x.topic == topic))
            seen = [i for i in dict.fromkeys(got) if i in want]
            if seen != want:
                raise CheckFailed(f"case {case} on {topic}: delivered {seen}, the log's order is {want}")
        return f"{len(records)} records delivered, in log order per case and topic"

    async def sink_redelivery(self) -> str:
        r, records = await self._deliver(2)
        await r.stop()
        before = await self._sink().received()
        positions = Positions(r.ctx.state_dir)
        first: dict[tuple[str, int], int] = {}  # as after a crash before the positions were saved
        for x in records:
            first[(x.topic, x.partition)] = min(x.offset, first.get((x.topic, x.partition), x.offset))
        for (topic, partition), offset in first.items():
            positions.put(f"offset:{topic}:{partition}", str(offset))
        positions.close()
        r = await self.start()
        try:
            await self.caught_up(r, records)
            after = await self._sink().received()
        finally:
            await r.stop()
        ids = {x.event_id for x in records}
        again = [i for i in after[len(before) :] if i in ids]
        if again:
            raise CheckFailed(f"records read again took effect again downstream: {again}")
        return f"{len(records)} records read again, no second effect"

    async def sink_dead_letter(self) -> str:
        harness = self._sink()
        bad, good = self.fresh(2)
        harness.fail_case(bad["subject"])
        r = await self.start()
        try:
            await self.publish([bad, good])
            records = await self.expected(r, {bad["subject"], good["subject"]})
            await self.caught_up(r, records)
            got = await harness.received()
        finally:
            await r.stop()
        good_ids = [x.event_id for x in records if x.key == good["subject"]]
        if not all(i in got for i in good_ids):
            raise CheckFailed("records after the failing one were not delivered")
        letters = await self._dead_letters(bad["subject"])
        if not letters:
            raise CheckFailed(f"no dead letter for case {bad['subject']} on {topics.DEAD_LETTERS}")
        return f"dead-lettered with context: {letters[0][:140]}"

    async def _dead_letters(self, case_id: str) -> list[str]:
        assert self.hub is not None
        consumer = await open_reader(self.hub.bootstrap, [topics.DEAD_LETTERS])
        found: list[str] = []
        try:
            idle = 0
            while idle < 3:
                batches = await consumer.getmany(timeout_ms=200)
                idle = 0 if batches else idle + 1
                for msgs in batches.values():
                    for m in msgs:
                        headers = dict(m.headers or ())
                        if (m.key or b"").decode() == case_id and headers.get(
                            "__connect.errors.connector.name"
                        ) == self.name.encode():
                            _, rec = self.hub.codec.decode(m.value)
                            found.append(f"{rec['error_kind']}: {rec['reason']}")
        finally:
            await consumer.stop()
        return found

    async def sink_backpressure(self) -> str:
        harness = self._sink()
        harness.slow(0.02)
        try:
            r, records = await self._deliver(10)
            runner: SinkRunner = r.ctx.runner
            await r.stop()
        finally:
            harness.slow(0)
        if runner.in_flight_max > runner.batch:
            raise CheckFailed(f"held {runner.in_flight_max} records at once (bound {runner.batch})")
        held = runner.in_flight_max
        return f"{len(records)} records through a slow downstream, at most {held} held at once"

    async def sink_restart(self) -> str:
        harness = self._sink()
        events = self.fresh(6)
        harness.slow(0.05)
        r = await self.start()
        try:
            await self.publish(events)
            records = await self.expected(r, {e["subject"] for e in events})
            ids = {x.event_id for x in records}

            async def some() -> bool:
                return any(i in ids for i in await harness.received())

            await wait_for("a first delivery", some)
        finally:
            await r.stop()
            harness.slow(0)
        r = await self.start()
        try:
            await self.caught_up(r, records)
            got = await harness.received()
        finally:
            await r.stop()
        lost = [i for i in ids if i not in got]
        if lost:
            raise CheckFailed(f"lost across the restart: {lost}")
        return f"stopped mid-stream and started again: all {len(ids)} records delivered"


async def run_suite(
    cls: type[Connector[Any]],
    hub_settings: Any,
    workdir: Path,
    report: Callable[[Check], None] = lambda c: None,
) -> list[Check]:
    return await Suite(cls, hub_settings, workdir).run(report)
