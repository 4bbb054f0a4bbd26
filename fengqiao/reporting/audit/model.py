"""The audit report's content as plain JSON data (`build`): header, timeline, handoffs, alerts and
consistency checks; the formats (`html`, `csv_json`) only lay it out. See the package's docstring
for what a ledger record holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fengqiao.reporting.case import handoff_met
from fengqiao.schemas.codec import SHANGHAI
from fengqiao.schemas.envelope import HUB_SOURCE
from fengqiao.schemas.labels import section
from fengqiao.streams.workflows import DECLARED

REPORT_VERSION = 1

WORKFLOW_ZH: dict[str, str] = {wf.name: wf.title_zh for wf in DECLARED}
STATUS_ZH = section("case_status")
STATE_ZH = section("handoff_states", "report")
OUTCOME_ZH = section("handoff_outcomes", "report")
EVENT_ZH = section("event_names")
MISSING_ZH = section("handoff_missing")


# -- the content -------------------------------------------------------------------------------------
def build(
    case: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    generated_at: datetime | None = None,
    agencies: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The report as plain JSON data: header, timeline, handoffs, alerts, consistency checks."""
    now = (generated_at or datetime.now(UTC)).astimezone(UTC)
    names = _agency_names(case, records)
    names.update(agencies or {})
    seq = {r["event_id"]: i for i, r in enumerate(records, 1)}
    by_handoff: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        hid = (r.get("data") or {}).get("handoff_id")
        if hid:
            by_handoff.setdefault(hid, []).append(r)

    timeline = [_event(i, r, seq, names) for i, r in enumerate(records, 1)]
    handoffs = [
        _handoff(h, handoff_met(h, now), by_handoff.get(h["id"], []), names)
        for h in case.get("handoffs", {}).values()
    ]
    alerts = _alerts(case, records, seq, names)
    case_ids = [e["id"] for e in case.get("events", [])]
    outcomes: dict[str, int] = {}
    for h in handoffs:
        outcomes[h["outcome"]] = outcomes.get(h["outcome"], 0) + 1
    wf = case.get("workflow") or ""
    return {
        "report": "fengqiao.case-audit",
        "report_version": REPORT_VERSION,
        "generated_at": _iso(now),
        "generated_at_bj": _local(now),
        "timezone": "Asia/Shanghai",
        "case": {
            "case_id": case.get("case_id"),
            "workflow": wf,
            "workflow_zh": WORKFLOW_ZH.get(wf),
            "status": case.get("status"),
            "status_zh": STATUS_ZH.get(case.get("status") or ""),
            "version": case.get("version"),
            "policy_version": case.get("policy_version"),
            "opened_at": case.get("opened_at"),
            "opened_at_bj": _local(case.get("opened_at")),
            "closed_at": case.get("closed_at"),
            "closed_at_bj": _local(case.get("closed_at")),
            "updated_at": case.get("updated_at"),
            "flags": sorted(k for k, v in (case.get("flags") or {}).items() if v),
            "held": [h["type"] for h in case.get("held", [])],
        },
        "summary": {
            "events": len(timeline),
            "agency_events": sum(not e["hub_decision"] for e in timeline),
            "hub_decisions": sum(e["hub_decision"] for e in timeline),
            "handoffs": len(handoffs),
            "outcomes": outcomes,
            "alerts": len(alerts),
        },
        "timeline": timeline,
        "handoffs": handoffs,
        "alerts": alerts,
        "consistency": {  # the case state and the ledger must tell the same story
            "missing_from_ledger": [i for i in case_ids if i not in seq],
            "not_in_case_state": [i for i in seq if i not in set(case_ids)],
        },
    }


def _event(i: int, r: dict[str, Any], seq: Mapping[str, int], names: Mapping[str, str]) -> dict[str, Any]:
    data = r.get("data") or {}
    cause = r.get("causation_id")
    if cause is None:
        cause_text = None
    elif cause in seq:
        cause_text = f"#{seq[cause]}"
    elif str(cause).startswith("timer/"):
        cause_text = "定时器 timer"
    else:
        cause_text = _short(str(cause), 8)
    source = r.get("source") or ""
    return {
        "seq": i,
        "event_id": r.get("event_id"),
        "event_type": r.get("event_type"),
        "event_zh": EVENT_ZH.get(r.get("event_type") or ""),
        "source": source,
        "source_name": None if source == HUB_SOURCE else names.get(source),
        "hub_decision": source == HUB_SOURCE,
        "event_time": _iso(r.get("event_time")),
        "event_time_bj": _local(r.get("event_time")),
        "recorded_at": _iso(r.get("recorded_at")),
        "recorded_at_bj": _local(r.get("recorded_at")),
        "topic": r.get("topic"),
        "partition": r.get("partition"),
        "offset": r.get("offset"),
        "hash": _hex(r.get("hash")),
        "causation_id": cause,
        "cause": cause_text,
        "cause_seq": seq.get(cause) if cause else None,
        "handoff_id": data.get("handoff_id"),
        "detail": _detail(data, names, hub=source == HUB_SOURCE),
    }


def _handoff(
    h: dict[str, Any], outcome: str, recs: list[dict[str, Any]], names: Mapping[str, str]
) -> dict[str, Any]:
    d = h.get("deadline") or None
    data = [(r["event_type"], r.get("data") or {}, r) for r in recs]
    escalations = [
        {
            **_ref(x.get("escalated_to"), names),
            "level": x.get("level"),
            "at": _iso(x.get("escalated_at") or r.get("event_time")),
            "at_bj": _local(x.get("escalated_at") or r.get("event_time")),
            "reason": x.get("reason"),
        }
        for t, x, r in data
        if t == "HandoffEscalated"
    ]
    if not escalations:  # no ledger records for them: the case state still says whom
        escalations = [
            {**_ref(a, names), "level": None, "at": None, "at_bj": None, "reason": None}
            for a in h.get("escalated_to", [])
        ]
    reassignments = [
        {
            "from": _ref(x.get("from_agency"), names),
            "to": _ref(x.get("to_agency"), names),
            "at": _iso(x.get("reassigned_at") or r.get("event_time")),
            "at_bj": _local(x.get("reassigned_at") or r.get("event_time")),
            "reason": x.get("reason"),
        }
        for t, x, r in data
        if t == "HandoffReassigned"
    ]
    cancelled_at = next(
        (x.get("cancelled_at") or r.get("event_time") for t, x, r in data if t == "HandoffCancelled"), None
    )
    outcome_at = {
        "met": h.get("fulfilled_at"),
        "late": h.get("fulfilled_at"),
        "missed": h.get("overdue_at"),
        "cancelled": cancelled_at,
    }.get(outcome)
    deadline = None
    if d:
        deadline = {
            "due": _iso(d.get("due")),
            "due_bj": _limit(d.get("due")),
            "rule_id": d.get("rule_id"),
            "policy_version": d.get("policy_version"),
            "clock": d.get("clock"),
            "length": d.get("length"),
            "limit_zh": _limit_zh(d.get("clock"), d.get("length")),
            "legal_source": d.get("source"),
        }
    return {
        "handoff_id": h.get("id"),
        "step": h.get("step"),
        "task": h.get("task"),
        "obliged": _ref(h.get("obliged"), names),
        "state": h.get("state"),
        "state_zh": STATE_ZH.get(h.get("state") or ""),
        "rule_id": h.get("rule_id") or (d or {}).get("rule_id"),
        "deadline": deadline,
        "assigned_at": _iso(h.get("assigned_at")),
        "assigned_at_bj": _local(h.get("assigned_at")),
        "acknowledged_at": _iso(h.get("acknowledged_at")),
        "acknowledged_at_bj": _local(h.get("acknowledged_at")),
        "outcome": outcome,
        "outcome_zh": OUTCOME_ZH.get(outcome, outcome),
        "outcome_at": _iso(outcome_at),  # fulfilled (met, late), found overdue (missed), cancelled
        "outcome_at_bj": _local(outcome_at),
        "fulfilled_by": h.get("fulfilled_by"),
        "missing": h.get("missing"),
        "escalations": escalations,
        "reassignments": reassignments,
        "cancelled_reason": h.get("cancelled_reason"),
    }


def _alerts(
    case: dict[str, Any], records: list[dict[str, Any]], seq: Mapping[str, int], names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The case's alerts, each matched to the ledger record that raised it when there is one."""
    used: set[str] = set()
    out = []
    for a in case.get("alerts", []):
        at = a.get("detected_at") or a.get("failed_at")
        rec = next(
            (
                r
                for r in records
                if r["event_type"] == a["type"]
                and r["event_id"] not in used
                and _iso((r.get("data") or {}).get("detected_at") or (r.get("data") or {}).get("failed_at"))
                == _iso(at)
            ),
            None,
        )
        x = (rec or {}).get("data") or {}
        if rec:
            used.add(rec["event_id"])
        out.append(
            {
                "type": a["type"],
                "type_zh": EVENT_ZH.get(a["type"]),
                "event_id": rec["event_id"] if rec else None,
                "seq": seq.get(rec["event_id"]) if rec else None,
                "handoff_id": a.get("handoff_id") or x.get("handoff_id"),
                "step": x.get("step"),
                "responsible": _ref(x["responsible"], names) if x.get("responsible") else None,
                "alerted": [_ref(r, names) for r in a.get("alerted") or x.get("alerted") or []],
                "addressed_to": _ref(x["addressed_to"], names) if x.get("addressed_to") else None,
                "at": _iso(at),
                "at_bj": _local(at),
                "reason": a.get("reason") or a.get("problem"),
            }
        )
    return out


def _detail(x: dict[str, Any], names: Mapping[str, str], hub: bool) -> str:
    """A one-line reading of an event: the step, who must act, who was told, the hub's reason.

    An agency's free text (a refusal's reason, notes) may be personal data: it stays out of the
    report, which names the event for the auditor to look up in the ledger.
    """

    def nm(ref: Any) -> str:
        r = _ref(ref, names)
        return r["name"] or r["agency_id"] or "?"

    parts: list[str] = []
    if x.get("step"):
        parts.append(f"步骤 {x['step']}")
    if isinstance(x.get("obliged"), dict) and not x.get("to_agency"):
        parts.append(f"承办 {nm(x['obliged'])}")
    if x.get("to_agency"):
        parts.append(f"改派 {nm(x.get('from_agency'))} → {nm(x['to_agency'])}")
    if x.get("escalated_to"):
        parts.append(f"督办 {nm(x['escalated_to'])}" + (f"（第{x['level']}级）" if x.get("level") else ""))
    if x.get("responsible"):
        parts.append(f"责任 {nm(x['responsible'])}")
    for key, label in (("alerted", "告警"), ("informed", "抄送"), ("shared_with", "共享")):
        if x.get(key):
            parts.append(f"{label} " + "、".join(nm(a) for a in x[key]))
    if x.get("addressed_to"):
        parts.append(f"送达 {nm(x['addressed_to'])}")
    if x.get("by_event_type"):
        parts.append(f"依据 {x['by_event_type']}")
    if x.get("missing"):
        parts.append(MISSING_ZH.get(x["missing"], x["missing"]))
    if x.get("late") is True:
        parts.append("逾期")
    if x.get("notice_late") is True:
        parts.append("通知书迟延")
    if hub and x.get("reason"):
        parts.append(f"原因 {x['reason']}")
    return "；".join(parts)


# -- helpers -------------------------------------------------------------------------------------------------
def _instant(v: Any) -> datetime | None:
    if v is None or v == "":
        return None
    t = v if isinstance(v, datetime) else datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(v: Any) -> str | None:
    t = _instant(v)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z") if t else None


def _local(v: Any) -> str | None:
    """Beijing time, ``YYYY-MM-DD HH:MM:SS``."""
    t = _instant(v)
    return f"{t.astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}" if t else None


def _limit(v: Any) -> str | None:
    """A deadline in Beijing time; one ending at midnight reads as 24:00 of its last day."""
    t = _instant(v)
    if t is None:
        return None
    at = t.astimezone(SHANGHAI)
    if (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0):
        return f"{at - timedelta(days=1):%Y-%m-%d} 24:00:00"
    return f"{at:%Y-%m-%d %H:%M:%S}"


def _limit_zh(clock: str | None, length: int | None) -> str | None:
    if clock is None:
        return None
    n = length or 0
    return {
        "working_days": f"{n}个工作日",
        "calendar_days": "当日" if n == 0 else f"{n}日",
        "hours": f"{n}小时",
        "before_event": f"提前{n}日",
    }.get(clock, f"{n} {clock}")


def _hex(v: Any) -> str | None:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return str(v) if v is not None else None


def _short(s: str, n: int) -> str:
    return s[:n]


def _ref(ref: Any, names: Mapping[str, str]) -> dict[str, Any]:
    """An agency reference as ``{agency_id, name}``, the name from the directory when given."""
    if not isinstance(ref, Mapping):
        return {"agency_id": str(ref) if ref else None, "name": names.get(str(ref)) if ref else None}
    aid = ref.get("agency_id")
    return {"agency_id": aid, "name": names.get(aid or "") or ref.get("name")}


def _agency_names(case: dict[str, Any], records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Agency names the case's own records carry (obliged, informed, alerted agencies...)."""
    names: dict[str, str] = {}

    def walk(v: Any) -> None:
        if isinstance(v, Mapping):
            if isinstance(v.get("agency_id"), str) and isinstance(v.get("name"), str) and v["name"]:
                names.setdefault(v["agency_id"], v["name"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for h in case.get("handoffs", {}).values():
        walk(h.get("obliged"))
    for r in records:
        if r.get("source") == HUB_SOURCE:  # the hub's decisions carry names from the directory
            walk(r.get("data"))
    return names
