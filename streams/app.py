"""The Faust app: one agent per workflow topic, case state in a table, decisions back on the log.

The agents are thin: decode, check the envelope, call the pure core (`engine.handle`), store the
case, emit what it decided. Anything that cannot be decoded, fails validation or makes the core
raise goes to the dead-letter topic with the reason and the original record, and the agent goes
on with the next record (DESIGN principle 8).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from fengqiao import logs
from fengqiao.schemas.codec import Codec, UnknownSchema
from fengqiao.schemas.envelope import Envelope, EnvelopeError
from fengqiao.schemas.framing import FramingError, unframe
from fengqiao.schemas.registry import RegistryError
from fengqiao.settings import Settings

from . import engine, topics
from .acceptance import refusal
from .clock import Clock, system_clock
from .ledger import Ledger

log = logs.get(__name__)
REINDEX_S = 10.0  # how often the timer re-reads every local case into its due index


class _Rejected(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


# Faust hard-codes a 1,500 ms fetch wait; the embedded broker never wakes a waiting fetch early,
# so every event would wait that long. These subclasses only lower the wait.
class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_wait_ms = 10

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.fetch_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class HubApp(faust.App):
    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


def create_app(
    settings: Settings,
    bootstrap: str,
    codec: Codec,
    ctx: engine.Context,
    *,
    web_port: int = 6066,
    clock: Clock = system_clock,
) -> HubApp:
    _ConsumerThread.fetch_wait_ms = settings.fetch_wait_ms
    app = HubApp(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_commit_every=100,
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        stream_recovery_delay=0.0,  # Faust waits 3 s after each rebalance by default
        web_enabled=True,
        web_bind="127.0.0.1",
        web_port=web_port,
        web_host="127.0.0.1",
        web_in_thread=False,
        producer_linger_ms=1,
        table_cleanup_interval=3600.0,
        table_standby_replicas=0,  # the timer walks local cases; a standby copy would fire twice
    )
    case_table = app.Table("cases", key_type=bytes, partitions=settings.partitions)
    updates = app.topic(topics.CASE_UPDATES, key_serializer="raw", value_serializer="raw")
    dead = app.topic(topics.DEAD_LETTERS, key_serializer="raw", value_serializer="raw")
    workflow_topics = {
        wf: app.topic(topics.workflow_topic(wf), key_serializer="raw", value_serializer="raw")
        for wf in codec.catalogue.workflows()
    }

    async def dead_letter(event: faust.types.EventT, kind: str, reason: str, case_id: str = "") -> None:
        msg = event.message
        headers = msg.headers.items() if isinstance(msg.headers, dict) else (msg.headers or [])
        record = {
            "case_id": case_id,
            "reason": reason,
            "error_kind": kind,
            "source_topic": msg.topic,
            "source_partition": msg.partition,
            "source_offset": msg.offset,
            "original_key": msg.key,
            "original_value": msg.value,
            "original_headers": {k: bytes(v) for k, v in headers},
            "failed_at": clock(),
        }
        env = Envelope.new("DeadLetter", case_id or "-", dataschema=codec.dataschema("DeadLetter"))
        await dead.send(key=msg.key, value=codec.encode("DeadLetter", record), headers=env.to_headers())
        log.warning(
            "event.dead_lettered",
            kind=kind,
            reason=reason,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
        )

    async def handle(event: faust.types.EventT, workflow: str) -> None:
        msg = event.message
        try:
            env = Envelope.from_headers(msg.headers or [])
        except EnvelopeError as e:
            raise _Rejected("invalid", str(e)) from e
        try:
            if not await codec.ensure(_schema_id(msg.value)):
                raise UnknownSchema(_schema_id(msg.value))
            ev, record = codec.decode(msg.value)
        except (FramingError, UnknownSchema) as e:
            raise _Rejected("undecodable", str(e)) from e
        except RegistryError:
            raise  # the registry is down: handler_failed, with its message, rather than a false verdict
        except Exception as e:  # fastavro raises many kinds for a truncated or foreign body
            raise _Rejected("undecodable", f"Avro body does not decode: {e}") from e
        refused = refusal(msg.topic, (msg.key or b"").decode("utf-8", "replace"), env, ev, record)
        if refused:
            raise _Rejected(*refused)
        with logs.bound(event_id=env.id, correlation_id=env.correlationid, case_id=env.subject):
            now = clock()
            catching_up = msg.offset <= catch_up.get((msg.topic, msg.partition), -1)
            if catching_up:  # decided before the restart: read the decisions back from the ledger
                now = datetime.fromtimestamp(msg.timestamp, UTC) if msg.timestamp else now  # Faust: seconds
            outcome = engine.handle(
                case_table.get(msg.key), env, record, ctx, now, known=known_decision if catching_up else None
            )
            if outcome.duplicate:
                log.debug("event.duplicate", type=env.type)
                return
            # Decisions go on the log before the case shows them: the timer reads the table, and a timer
            # decision about a handoff must never reach the partition before the handoff's assignment.
            for d_env, d_record in outcome.decisions:
                await emit(d_env, d_record, workflow)
            case_table[msg.key] = outcome.case
            index(msg.key, outcome.case)
            upd_env = env.caused("CaseUpdated", dataschema=codec.dataschema("CaseUpdated"))
            update = {
                "case_id": env.subject,
                "workflow": workflow,
                "version": outcome.case["version"],
                "event_id": env.id,
                "event_type": env.type,
                "status": outcome.case["status"],
                "applied_at": now,
            }
            if not catching_up:  # the feed already has this update from before the restart
                await updates.send(
                    key=msg.key, value=codec.encode("CaseUpdated", update), headers=upd_env.to_headers()
                )
            log.debug(
                "event.applied",
                type=env.type,
                version=outcome.case["version"],
                decisions=len(outcome.decisions),
            )

    async def emit(env: Envelope, record: dict[str, Any], workflow: str) -> None:
        """A decision on the case's workflow topic; the agent reads it back as a duplicate (or, from
        the timer, folds it then)."""
        env = env.with_(dataschema=codec.dataschema(env.type))
        topic = workflow_topics[workflow]
        await topic.send(
            key=env.subject.encode(), value=codec.encode(env.type, record), headers=env.to_headers()
        )
        log.info("decision.emitted", type=env.type, case_id=env.subject, event_id=env.id)

    emitted: dict[str, None] = {}  # ids the timer sent and the agent may not have folded yet

    # After a restart on the embedded broker, `up` puts the ledger back on the topics; up to these
    # offsets the worker is catching up: the decisions are on the log, to be read back, not made.
    ledger = Ledger(settings.ledger_url) if settings.ledger_url else None
    wanted = {topics.workflow_topic(w) for w in codec.catalogue.workflows()}
    catch_up = {tp: o for tp, o in (ledger.positions() if ledger else {}).items() if tp[0] in wanted}
    done: dict[tuple[str, int], int] = {}

    def known_decision(event_id: str) -> engine.Decision | None:
        rec = ledger.find_event(event_id) if ledger else None
        if rec is None or rec.value is None:
            return None
        return Envelope.from_headers(rec.headers), codec.decode(rec.value)[1]

    def caught_up() -> bool:
        assigned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()} if app.consumer else set()
        return all(done.get(tp, -1) >= o for tp, o in catch_up.items() if tp in assigned)

    # The next instant each local case needs the timer (engine.next_due), kept as cases change, so
    # a tick visits the cases that are due, not every case. A full pass now and then takes in the
    # partitions a rebalance brought, whose cases came from the changelog, not through `handle`.
    due: dict[bytes, datetime] = {}
    reindexed = [0.0]

    def index(key: bytes, case: engine.Case) -> None:
        when = engine.next_due(case)
        if when is None:
            due.pop(key, None)
        else:
            due[key] = when

    @app.timer(interval=settings.tick_s)
    async def deadlines() -> None:
        """Passed deadlines become events (HandoffOverdue, PickupMissed, HandoffEscalated, ...)."""
        if not caught_up():
            return  # a case half rebuilt would look overdue for handoffs the log fulfils further on
        if time.monotonic() - reindexed[0] > REINDEX_S:
            due.clear()
            for key, case in list(case_table.items()):
                index(key, case)
            reindexed[0] = time.monotonic()
        now = clock()
        for key in [k for k, when in due.items() if when <= now]:
            case = case_table.get(key)
            if case is None:  # its partition went to another worker
                due.pop(key, None)
                continue
            try:
                decisions = engine.tick(case, ctx, now)
            except Exception:  # one broken case must not stop the clock for the others
                log.exception("timer.failed", case_id=case.get("case_id"))
                continue
            for d_env, d_record in decisions:
                if d_env.id not in emitted:
                    emitted[d_env.id] = None
                    await emit(d_env, d_record, case["workflow"])
        while len(emitted) > 100_000:
            emitted.pop(next(iter(emitted)))

    def make_agent(workflow: str) -> None:
        source = workflow_topics[workflow]

        async def agent(stream: faust.StreamT) -> None:
            async for event in stream.events():
                try:
                    await handle(event, workflow)
                except _Rejected as r:
                    await dead_letter(
                        event, r.kind, r.reason, (event.message.key or b"").decode("utf-8", "replace")
                    )
                except Exception as e:  # a bug must not stop the partition: park the record, go on
                    log.exception("handler.failed", topic=event.message.topic, offset=event.message.offset)
                    await dead_letter(event, "handler_failed", f"{type(e).__name__}: {e}")
                done[(event.message.topic, event.message.partition)] = event.message.offset

        agent.__name__ = f"{workflow}_agent"
        agent.__qualname__ = agent.__name__
        app.agent(source, name=f"fengqiao.{workflow}")(agent)

    for wf in workflow_topics:
        make_agent(wf)

    @app.page("/cases/{case_id}/")
    @app.table_route(table=case_table, match_info="case_id")
    async def case_view(web: Any, request: Any, case_id: str) -> Any:
        case = case_table.get(case_id.encode())
        if case is None:
            return web.json({"error": f"no case {case_id}"}, status=404)
        return web.json(case)

    @app.page("/cases/")
    async def cases_view(web: Any, request: Any) -> Any:
        """This worker's cases (its partitions), optionally of one workflow: for KPIs and boards."""
        workflow = request.query.get("workflow")
        return web.json([c for c in case_table.values() if not workflow or c.get("workflow") == workflow])

    @app.page("/tasks/")
    async def tasks_view(web: Any, request: Any) -> Any:
        """Open handoffs of this worker's cases that an agency must act on (the gateway's /v1/tasks)."""
        agency = request.query.get("agency")
        if not agency:
            return web.json({"error": "give the agency: /tasks/?agency=ID"}, status=400)
        return web.json(agency_tasks(case_table.values(), agency))

    @app.page("/ready/")
    async def ready(web: Any, request: Any) -> Any:
        assigned = len(app.consumer.assignment()) if app.consumer else 0
        ok = assigned > 0 and not app.rebalancing
        # caught_up: the records the ledger put back after a restart are all folded in again.
        body = {"ready": ok, "assigned": assigned, "caught_up": ok and caught_up(), "cases": len(case_table)}
        return web.json(body, status=200 if ok else 503)

    return app


def agency_tasks(cases: Iterable[engine.Case], agency_id: str) -> list[dict[str, Any]]:
    """Open handoffs obliged on ``agency_id`` or escalated to it, one row each, by deadline."""
    rows = []
    for case in cases:
        for h in engine.open_handoffs(case):
            escalated = any(a.get("agency_id") == agency_id for a in h.get("escalated_to") or ())
            obliged = (h.get("obliged") or {}).get("agency_id")
            if obliged != agency_id and not escalated:
                continue
            deadline = h.get("deadline") or {}
            rows.append(
                {
                    "case_id": case["case_id"],
                    "workflow": case["workflow"],
                    "handoff_id": h["id"],
                    "step": h["step"],
                    "task": h["task"],
                    "state": h["state"],
                    "role": "obliged" if obliged == agency_id else "escalated_to",
                    "obliged": obliged,
                    "deadline": deadline.get("due"),
                    "rule": h.get("rule_id") or deadline.get("rule_id"),
                }
            )
    return sorted(rows, key=lambda r: (r["deadline"] is None, r["deadline"] or "", r["handoff_id"]))


def _schema_id(value: bytes | None) -> int:
    try:
        return unframe(value or b"")[0]
    except FramingError as e:
        raise _Rejected("undecodable", str(e)) from e
