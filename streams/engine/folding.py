"""`fold`, the only way a case's state changes, and its helpers for the handoff events, an extension's
moved deadline, the workflows' own hub events and the alerts kept on the case. A replay of the log is
`fold` alone: nothing here decides, it reads decisions back."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from fengqiao.schemas.codec import to_json
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope, format_time

from .model import _REGISTRY, HANDOFF_EVENTS, OPEN_STATES, Case
from .state import new_case, status

# What of a case a newer state shares with an older one until it changes it: the case mapping itself
# and the containers fold changes in place (handoffs are copied on each change, see `_own_handoff`).
SHARED = ("case", "events", "facts", "handoffs")


def fold(
    case: Case | None,
    env: Envelope,
    record: dict[str, Any],
    workflow: str,
    copy: bool = True,
    as_json: bool = False,
) -> tuple[Case, bool]:
    """Apply one event; returns (case, applied). An event id seen before changes nothing.

    By default ``case`` is left untouched and a new case returned (the live worker keeps the old one
    until the decisions are on the log). ``copy=False`` applies the event in place and returns
    ``case`` itself: for a caller that owns the case and keeps no earlier state of it (replay).
    ``as_json=True``: the record is in JSON form already (what `to_json` gives: instants as RFC 3339
    text, dates ISO) and the caller hands it over: the case keeps it as it is instead of a copy, so
    the caller must not change it afterwards (replay, decoding each record afresh).
    """
    folded, applied = fold_shared(case, env, record, workflow, set(SHARED) if copy else None, as_json)
    return (dict(folded) if copy and folded is case else folded), applied


def fold_shared(
    case: Case | None,
    env: Envelope,
    record: dict[str, Any],
    workflow: str,
    shared: set[str] | None,
    as_json: bool = False,
) -> tuple[Case, bool]:
    """`fold`, copying on write: ``shared`` names what of ``case`` (of `SHARED`) still belongs to an
    older state, and loses each name as fold copies it; None: the caller owns all of it. A decider
    keeps one set over all the decisions of an event, so each container is copied once, not per fold
    (a full copy per fold cost more than the fold itself). A duplicate returns ``case`` itself."""
    if not case:
        case, shared = new_case(env.subject, workflow), None
    else:
        # Scanned in C, newest first: a duplicate is most often a decision just made.
        if env.id in map(_ID, reversed(case["events"])):
            return case, False
        if shared is not None and "case" in shared:
            shared.discard("case")
            case = dict(case)
    rec = record if as_json else to_json(record)
    # The timeline is kept in (time, id) order, not arrival order: the hub's decisions reach the log a
    # moment after the agency events that follow them, so arrival order differs between the live path
    # and a replay of the log, while the set of events — and so this order — does not.
    entry = {"id": env.id, "type": env.type, "source": env.source, "time": _time_text(env.time)}
    events = _own(case, "events", shared)
    last = events[-1] if events else None
    if last is None or (last["time"], last["id"]) <= (entry["time"], entry["id"]):
        events.append(entry)  # the usual case; where insort would put it too
    else:
        bisect.insort(events, entry, key=lambda e: (e["time"], e["id"]))
    case["version"] += 1
    case["updated_at"] = max(case["updated_at"] or "", entry["time"])
    wf = _REGISTRY.get(workflow)
    if env.type in HANDOFF_EVENTS:
        _fold_handoff(case, env.type, rec, shared)
    elif wf is not None and env.type == wf.extension_announce:
        _fold_extension(case, rec, shared)
    elif env.source == HUB_SOURCE:
        _fold_hub_event(case, env.type, rec, shared)
        if wf is not None and env.type in wf.closed_by and not case["closed_at"]:
            case["closed_at"] = format_time(env.time)  # the workflow's own decision ends the case
    else:
        _own(case, "facts", shared)[env.type] = rec
        if case["opened_at"] is None and wf is not None and env.type not in wf.opened_by:
            case["held"] = [*case["held"], {"id": env.id, "type": env.type}]  # decided once the case opens
        elif case["opened_at"] is None:
            case["opened_at"] = format_time(env.time)
            case["held"] = []  # `handle` decides them now, in their order
        if wf is not None and env.type in wf.closed_by:
            case["closed_at"] = format_time(env.time)
    if env.policyversion and not case["policy_version"]:
        case["policy_version"] = env.policyversion
    case["status"] = status(case)
    return case, True


_ID = itemgetter("id")
_TIMES: dict[datetime, str] = {}


def _time_text(t: datetime) -> str:
    """`format_time`, kept for the instants that recur (every decision of an event has its instant)."""
    if t.tzinfo is not UTC:
        return format_time(t)
    text = _TIMES.get(t)
    if text is None:
        if len(_TIMES) > 4096:
            _TIMES.clear()
        text = _TIMES[t] = format_time(t)
    return text


def _own(case: Case, key: str, shared: set[str] | None) -> Any:
    """The case's container under ``key``, copied first if it is still the old case's."""
    if shared is not None and key in shared:
        shared.discard(key)
        case[key] = type(case[key])(case[key])
    return case[key]


def _own_handoff(case: Case, hid: str, shared: set[str] | None) -> dict[str, Any] | None:
    """The handoff, to change: copied first unless the caller owns all of the case, so a handoff
    someone read before (the decider, an older state) never changes under them."""
    h = case["handoffs"].get(hid)
    if h is not None and shared is not None:
        h = _own(case, "handoffs", shared)[hid] = dict(h)
    return h


def _fold_handoff(case: Case, etype: str, r: dict[str, Any], shared: set[str] | None = None) -> None:
    hid = r["handoff_id"]
    if etype == "HandoffAssigned":
        _own(case, "handoffs", shared)[hid] = {
            "id": hid,
            "step": r["step"],
            "rule_id": (r.get("deadline") or {}).get("rule_id"),
            "obliged": r["obliged"],
            "task": r["task"],
            "state": "assigned",
            "deadline": r.get("deadline"),
            "assigned_at": r["assigned_at"],
            "acknowledged_at": None,
            "fulfilled_at": None,
            "fulfilled_by": None,
            "late": None,
            "overdue_at": None,
            "escalated_to": [],
            "informed": r.get("informed", []),
            "routed_for": (r.get("routed_for") or {}).get("code"),
        }
        case["policy_version"] = case["policy_version"] or r["policy_version"]
        return
    h = _own_handoff(case, hid, shared)
    if etype in ("HandoffOverdue", "HandoffEscalated") and h is not None and _due(h) != _due(r):
        # A timer finding about a deadline the handoff no longer has (it was re-routed meanwhile): the
        # escalation still happened and is kept, the state is not touched — so whichever order the
        # finding and the re-routing reach the log in, the case comes out the same.
        if etype == "HandoffEscalated":
            h["escalated_to"] = [*h["escalated_to"], r["escalated_to"]]
        return
    if h is None:  # an engine event for a handoff this case never had: keep it visible, change nothing
        _alert(case, {"type": etype, "handoff_id": hid, "problem": "unknown handoff"}, shared)
        return
    if etype == "HandoffAcknowledged":
        h["acknowledged_at"] = r["acknowledged_at"]
        if _due(r) != _due(h):
            # The receipt started the next clock (a receipt rule gave way to the step's own rule): the
            # receipt's lateness stays on record, the handoff owes its disposition by the new deadline —
            # or by none yet, when the next clock waits on a date no event has given (no deadline).
            if h["overdue_at"]:
                h["receipt_overdue_at"] = h["overdue_at"]
            rule_id = (r.get("deadline") or {}).get("rule_id") or h["rule_id"]
            h.update(deadline=r.get("deadline"), rule_id=rule_id, overdue_at=None)
            h.pop("missing", None)
            if h["state"] in OPEN_STATES:
                h["state"] = "acknowledged"
        elif h["state"] == "assigned":
            h["state"] = "acknowledged"
    elif etype == "HandoffFulfilled":
        h.update(
            state="fulfilled", fulfilled_at=r["fulfilled_at"], fulfilled_by=r["by_event_type"], late=r["late"]
        )
    elif etype == "HandoffOverdue":
        h["overdue_at"] = r["detected_at"]
        h["missing"] = r["missing"]
        if h["state"] in ("assigned", "acknowledged"):
            h["state"] = "overdue"
    elif etype == "HandoffEscalated":
        h["escalated_to"] = [*h["escalated_to"], r["escalated_to"]]
        if h["state"] in OPEN_STATES:
            h["state"] = "escalated"
    elif etype == "HandoffReassigned":
        h.update(
            obliged=r["to_agency"],
            deadline=r.get("deadline"),
            state="assigned",
            overdue_at=None,
            acknowledged_at=None,
        )
        if (r.get("deadline") or {}).get("rule_id"):
            h["rule_id"] = r["deadline"]["rule_id"]
        h["reassigned_from"] = [*h.get("reassigned_from", []), r["from_agency"]]
        h.pop("missing", None)  # the new office owes everything again
    elif etype == "HandoffCancelled":
        h.update(state="cancelled", cancelled_reason=r["reason"])


def _fold_extension(case: Case, r: dict[str, Any], shared: set[str] | None = None) -> None:
    """A deadline moved by an extension (延长): the new deadline, with the old one and the reason kept."""
    h = _own_handoff(case, r["handoff_id"], shared)
    if h is None:
        unknown = {"type": "extension", "handoff_id": r["handoff_id"], "problem": "unknown handoff"}
        _alert(case, unknown, shared)
        return
    moved = {
        "from": (r.get("previous_deadline") or {}).get("due"),
        "to": _due(r),
        "reason": r["reason"],
        "by_event_id": r.get("by_event_id"),
        "extended_at": r.get("extended_at"),
    }
    h.update(deadline=r["deadline"], extensions=[*h.get("extensions", []), moved])


def _due(d: dict[str, Any]) -> str | None:
    return (d.get("deadline") or {}).get("due")


def _alert(case: Case, alert: dict[str, Any], shared: set[str] | None = None) -> None:
    """Alerts are kept in (instant, type) order, so findings folded in either order give one list."""
    if shared is not None:
        case["alerts"] = list(case["alerts"])  # rare: copied whenever the case is not the caller's own
    bisect.insort(
        case["alerts"],
        alert,
        key=lambda a: (a.get("detected_at") or a.get("failed_at") or "", a["type"], repr(a)),
    )


def _fold_hub_event(case: Case, etype: str, r: dict[str, Any], shared: set[str] | None = None) -> None:
    """The workflows' own hub events: alerts and flags; the handoff state is in the engine events."""
    if "alerted" in r or etype in ("RoutingFailed", "DeadlineNotComputable"):
        _alert(
            case,
            {"type": etype, **{k: r[k] for k in ("detected_at", "failed_at", "reason", "alerted") if k in r}},
            shared,
        )
    rule = (r.get("deadline") or {}).get("rule_id")
    if "alerted" in r and rule and rule not in case["breaches"]:  # a rule's breach event (PickupMissed, ...)
        breaches = list(case["breaches"])
        bisect.insort(breaches, rule)
        case["breaches"] = breaches
    if r.get("notice_late"):
        case["flags"] = {**case.get("flags", {}), "notice_late": True}
    _own(case, "facts", shared)[etype] = r


def _copy(case: Case) -> Case:
    out = dict(case)
    out["events"] = list(case["events"])
    out["facts"] = dict(case["facts"])
    out["held"] = list(case["held"])
    out["handoffs"] = {
        k: {n: list(x) if isinstance(x, list) else x for n, x in v.items()}
        for k, v in case["handoffs"].items()
    }
    out["breaches"] = list(case["breaches"])
    out["alerts"] = list(case["alerts"])
    if "flags" in case:
        out["flags"] = dict(case["flags"])
    return out
