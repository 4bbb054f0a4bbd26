"""Prometheus metrics (指标): one definition per metric, shared by the gateway, the workers, the archiver
and the webhook sink. docs/operations.md lists them and where each is scraped.

Each process exposes the default registry: the hub process (gateway and archiver) at the gateway's
``GET /metrics``, each worker at its web server's ``GET /metrics/``. Labels are bounded sets (rules,
error kinds, event types, workflows, agencies, partitions), never case or event ids, so a busy hub
does not grow series; the hot path pays one counter increment per record.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST

# -- the gateway ------------------------------------------------------------------------------------
GATEWAY_ACCEPTED = Counter(
    "fengqiao_gateway_events_accepted",
    "Events the gateway accepted (held in the ledger), batches counted per event",
)
GATEWAY_REFUSED = Counter(
    "fengqiao_gateway_refusals",
    "Requests or batch items the gateway refused, by the rule in the answer",
    ["rule"],
)

# -- the workers ------------------------------------------------------------------------------------
EVENTS_IN = Counter(
    "fengqiao_worker_events",
    "Records the case processor applied live (not folded or caught up), by workflow and origin (agency, hub)",
    ["workflow", "origin"],
)
DEAD_LETTERS = Counter(
    "fengqiao_worker_dead_letters", "Records the case processor put on the dead letters, by kind", ["kind"]
)
DECISIONS = Counter(
    "fengqiao_worker_decisions", "Decisions the hub made (events it emitted), by event type", ["type"]
)

# -- the archiver -----------------------------------------------------------------------------------
LEDGER_APPEND = Histogram(
    "fengqiao_ledger_append_seconds",
    "Time of one ledger append (one fetched batch of records) in the archiver",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LEDGER_RECORDS = Counter("fengqiao_ledger_records_appended", "Records the archiver added to the ledger")

# -- the webhook sink -------------------------------------------------------------------------------
WEBHOOK_DELIVERIES = Counter(
    "fengqiao_webhook_deliveries",
    "Webhook deliveries by agency and outcome (delivered, or failed after the retries)",
    ["agency", "outcome"],
)
WEBHOOK_RETRIES = Counter(
    "fengqiao_webhook_retries", "Webhook attempts that failed and were retried", ["agency"]
)


@cache
def child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, looked up once: the workers' per-record increments skip the label
    check and lock (the label sets are bounded, so is this cache)."""
    return metric.labels(*labels)


def exposition() -> bytes:
    """This process's metrics in the Prometheus text format."""
    return generate_latest(REGISTRY)
