"""`handle`, the live path: fold an agency's event, decide what it causes — and, when it opens the
case, what the events held until then cause, in their order — and fold those decisions (`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fengqiao.schemas.envelope import HUB_SOURCE, Envelope, parse_time

from .decide import _Decider
from .folding import SHARED, fold_shared
from .model import Case, Context, Decision, Known


@dataclass
class Outcome:
    case: Case
    duplicate: bool = False
    decisions: list[Decision] = field(default_factory=list)


def handle(
    case: Case | None,
    env: Envelope,
    record: dict[str, Any],
    ctx: Context,
    now: datetime,
    known: Known | None = None,
) -> Outcome:
    """Live: fold an agency's event, decide what it causes, fold those decisions.

    ``known`` looks a decision up on the log by its id: a worker catching up after a restart passes
    it, so a decision made before the restart is read back with its original instant and deadline
    instead of being made again (decision ids derive from their cause, so the lookup finds it).
    """
    own = ctx.catalogue[env.type].workflow
    wf = ctx.workflows[own] if own != "*" else None
    if wf is None:
        wf = ctx.workflows[(case or {}).get("workflow", "")]
    held = {h["id"] for h in (case or {}).get("held", [])}
    shared = set(SHARED)  # the caller's case is left untouched: what of it the new state shares
    folded, applied = fold_shared(case, env, record, wf.name, shared)
    if not applied:
        return Outcome(dict(folded), duplicate=True)
    if env.source == HUB_SOURCE or folded["opened_at"] is None:
        return Outcome(folded)  # a decision read back, or held until the case opens
    todo: list[tuple[Envelope, dict[str, Any]]] = [(env, record)]
    if held and not folded["held"]:  # this event opened the case: decide what was held, in order
        todo += [(_held_env(folded, e), _held_record(folded, e)) for e in folded["events"] if e["id"] in held]
    d = _Decider(folded, wf, ctx, now, env, known, shared)
    for e, r in todo:
        d.cause_id = e.id
        d.react(e, r)
        d.drain()
    return Outcome(d.case, decisions=d.decisions)


def _held_record(case: Case, e: dict[str, Any]) -> dict[str, Any]:
    return case["facts"].get(e["type"], {})  # the newest of its type: held events are decided on their facts


def _held_env(case: Case, e: dict[str, Any]) -> Envelope:
    return Envelope(
        id=e["id"], source=e["source"], type=e["type"], subject=case["case_id"], time=parse_time(e["time"])
    )
