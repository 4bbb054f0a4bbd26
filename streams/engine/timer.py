"""`tick`, the timer's path: every passed deadline on a case becomes decisions (`HandoffOverdue`, the
rule's breach event, `HandoffEscalated`), with ids stable across timer passes."""

from __future__ import annotations

from datetime import datetime

from .decide import _Decider
from .model import Case, Context, Decision
from .state import pending


def tick(case: Case, ctx: Context, now: datetime) -> list[Decision]:
    """The timer: every passed deadline becomes decisions, with ids stable across timer passes."""
    if not pending(case):
        return []
    wf = ctx.workflows[case["workflow"]]
    d = _Decider(case, wf, ctx, now, f"timer/{case['case_id']}")
    d.overdue()
    d.drain()
    return d.decisions
