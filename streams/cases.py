"""The case: the hub's state for one case id, folded from its events (pure, no I/O).

A case is a plain JSON-able dict so that a Faust table, the ledger replay and the tests hold the
very same thing. Applying an event whose id the case has already seen changes nothing, which is
what makes redelivery and replay safe (DESIGN principle 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fengqiao.schemas.envelope import Envelope, format_time

Case = dict[str, Any]


@dataclass
class Outcome:
    """What handling one event did: the case after it, the hub's decisions, or nothing (duplicate)."""

    case: Case
    duplicate: bool = False
    decisions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (event type, record)


def new_case(case_id: str, workflow: str) -> Case:
    return {
        "case_id": case_id,
        "workflow": workflow,
        "status": "open",
        "version": 0,
        "opened_at": None,
        "updated_at": None,
        "events": [],
    }


def apply(case: Case | None, env: Envelope, workflow: str, applied_at: datetime) -> Outcome:
    """Record ``env`` on the case. The workflow rules plug in here as they land."""
    case = dict(case) if case else new_case(env.subject, workflow)
    if any(e["id"] == env.id for e in case["events"]):
        return Outcome(case, duplicate=True)
    case["events"] = [
        *case["events"],
        {
            "id": env.id,
            "type": env.type,
            "source": env.source,
            "time": format_time(env.time),
            "recorded_at": format_time(applied_at),
        },
    ]
    case["version"] += 1
    case["opened_at"] = case["opened_at"] or format_time(env.time)
    case["updated_at"] = format_time(env.time)
    case["status"] = "open"
    return Outcome(case)
