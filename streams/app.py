"""The worker's Faust app: web pages over the worker's cases, the deadline timer, the case processor.

The case processor (`streams/processor.py`) reads the workflow topics in batches, runs each record
through the pure core (`engine.handle`), keeps the cases of the partitions it holds, and puts the
decisions, the case updates and the dead letters on the log. The app serves those cases to the
gateway, the CLI and the demo (`/cases/`, `/tasks/`, `/ready/`), its metrics to Prometheus (`/metrics/`),
and turns passed deadlines into events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import faust

from fengqiao import metrics
from fengqiao.schemas.codec import Codec
from fengqiao.settings import Settings

from . import engine
from .clock import Clock, system_clock
from .processor import CaseProcessor
from .producing import owner_partition
from .worker_metrics import COLLECTOR


class HubApp(faust.App):
    """The worker's Faust app: its web pages, its timer and its lifecycle. The workflow topics are read by
    the case processor (`streams/processor.py`), a service of this app, in batches rather than one event
    at a time through Faust's streams."""


def create_app(
    settings: Settings,
    bootstrap: str,
    codec: Codec,
    ctx: engine.Context,
    *,
    web_port: int = 6066,
    clock: Clock = system_clock,
) -> HubApp:
    app = HubApp(
        settings.app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        stream_recovery_delay=0.0,
        web_enabled=True,
        web_bind="127.0.0.1",
        web_port=web_port,
        web_host="127.0.0.1",
        web_in_thread=False,
    )
    processor = CaseProcessor(settings, bootstrap, codec, ctx, clock)
    COLLECTOR.watch(processor)  # one worker per process: the gauges read this processor

    @app.task
    async def cases() -> None:
        """The case processor, for as long as the worker runs."""
        await processor.run()

    @app.timer(interval=settings.tick_s)
    async def deadlines() -> None:
        """Passed deadlines become events (HandoffOverdue, PickupMissed, HandoffEscalated, ...)."""
        await processor.tick()

    @app.page("/cases/{case_id}/")
    async def case_view(web: Any, request: Any, case_id: str) -> Any:
        case = processor.cases.get(case_id)
        if case is not None:
            return web.json(case)
        partition = owner_partition(case_id, settings.partitions)
        if not any(tp.partition == partition for tp in processor.assignment()):
            # Another worker holds the case's partition: the caller asks the next worker.
            return web.json(
                {"error": f"case {case_id} is on another worker", "partition": partition}, status=421
            )
        return web.json({"error": f"no case {case_id}"}, status=404)

    @app.page("/cases/")
    async def cases_view(web: Any, request: Any) -> Any:
        """This worker's cases (its partitions), optionally of one workflow: for KPIs and boards."""
        workflow = request.query.get("workflow")
        return web.json(
            [c for c in processor.cases.values() if not workflow or c.get("workflow") == workflow]
        )

    @app.page("/tasks/")
    async def tasks_view(web: Any, request: Any) -> Any:
        """Open handoffs of this worker's cases that an agency must act on (the gateway's /v1/tasks)."""
        agency = request.query.get("agency")
        if not agency:
            return web.json({"error": "give the agency: /tasks/?agency=ID"}, status=400)
        return web.json(agency_tasks(processor.cases.values(), agency))

    @app.page("/metrics/")
    async def prometheus(web: Any, request: Any) -> Any:
        """This worker's Prometheus metrics (docs/operations.md), for the operator's scraper."""
        # In the headers: aiohttp refuses a content_type argument that carries a charset.
        return web.bytes(metrics.exposition(), headers={"Content-Type": metrics.CONTENT_TYPE})

    @app.page("/ready/")
    async def ready(web: Any, request: Any) -> Any:
        assigned = len(processor.assignment())
        ok = assigned > 0
        # caught_up: the records the ledger put back after a restart are all folded in again.
        body = {
            "ready": ok,
            "assigned": assigned,
            "caught_up": processor.caught_up(),
            "snapshots_settled": processor.settled(),
            "cases": len(processor.cases),
        }
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
