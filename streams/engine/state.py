"""The case state and its reads: a new case's shape, a fact on it, its open handoffs, its status.
Folding, deciding and the KPIs all read the case through these, so they live apart from each."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

from fengqiao.schemas.envelope import parse_time

from .model import OPEN_STATES, Case


def new_case(case_id: str, workflow: str) -> Case:
    return {
        "case_id": case_id,
        "workflow": workflow,
        "status": "awaiting_opening",
        "version": 0,
        "policy_version": None,
        "opened_at": None,
        "updated_at": None,
        "closed_at": None,
        "events": [],
        "facts": {},
        "held": [],
        "handoffs": {},
        "breaches": [],
        "alerts": [],
    }


_PATHS: dict[str, tuple[str, tuple[str, ...]]] = {}  # the paths code and policy name, parsed once


def fact(case: Case, path: str) -> Any:
    """``EventType.field`` (or ``EventType``) from the newest such event on the case, JSON form."""
    parsed = _PATHS.get(path)
    if parsed is None:
        etype, _, fname = path.partition(".")
        parsed = (etype, tuple(fname.split(".")) if fname else ())
        if len(_PATHS) < 10_000:
            _PATHS[path] = parsed
    etype, parts = parsed
    rec = case["facts"].get(etype)
    if rec is None or not parts:
        return rec
    for part in parts:
        rec = rec.get(part) if isinstance(rec, dict) else None
    return rec


def mappings(obj: Any) -> Iterator[Mapping[str, Any]]:
    """Every mapping nested in a record or a case, itself included: how the agencies (``agency_id``)
    and places (``code``) a case names are found, wherever its schema puts them."""
    if isinstance(obj, Mapping):
        yield obj
        for v in obj.values():
            yield from mappings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from mappings(v)


def open_handoffs(case: Case) -> list[dict[str, Any]]:
    return [h for h in case["handoffs"].values() if h["state"] in OPEN_STATES]


def pending(case: Case) -> list[dict[str, Any]]:
    """Open handoffs with a deadline not yet found overdue: all the timer (`tick`) looks at."""
    return [h for h in open_handoffs(case) if h.get("deadline") and not h["overdue_at"]]


def next_due(case: Case) -> datetime | None:
    """The earliest instant the timer has something to decide on the case; None: nothing ever.

    The worker keeps an index of these, so a tick visits only the cases that are due instead of
    every case it holds.
    """
    return min((instant(h["deadline"]["due"]) for h in pending(case)), default=None)


_INSTANTS: dict[str, datetime] = {}


def instant(text: str) -> datetime:
    """`parse_time`, kept: a handoff's deadline is read back on every decision about it."""
    t = _INSTANTS.get(text)
    if t is None:
        if len(_INSTANTS) > 8192:
            _INSTANTS.clear()
        t = _INSTANTS[text] = parse_time(text)
    return t


_LATE = frozenset({"overdue", "escalated"})
_STATE = itemgetter("state")


def status(case: Case) -> str:
    if case["closed_at"]:
        return "closed"
    if case["opened_at"] is None:
        return "awaiting_opening"
    if not _LATE.isdisjoint(map(_STATE, case["handoffs"].values())):  # any handoff late (a C loop)
        return "overdue"
    return "open"
