"""The audit report as CSV (with a BOM, for Excel) and as JSON; the CSV layout is in the package's
docstring."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

CSV_COLUMNS = (
    "kind",
    "case_id",
    "seq",
    "event_id",
    "event_type",
    "agency_id",
    "agency_name",
    "hub_decision",
    "event_time",
    "recorded_at",
    "topic",
    "partition",
    "offset",
    "hash",
    "causation_id",
    "handoff_id",
    "step",
    "task",
    "deadline",
    "rule_id",
    "policy_version",
    "legal_source",
    "state",
    "outcome",
    "outcome_at",
    "escalated_to",
    "detail",
)


def to_csv(report: dict[str, Any]) -> str:
    """The report as CSV text with a BOM; see the module docstring for the layout."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="raise")
    w.writeheader()
    c = report["case"]
    cid = c["case_id"]
    w.writerow(
        _cells(
            kind="case",
            case_id=cid,
            state=c["status"],
            policy_version=c["policy_version"],
            event_time=c["opened_at_bj"],
            outcome_at=c["closed_at_bj"],
            detail=f"workflow={c['workflow']} {c['workflow_zh'] or ''}; opened={c['opened_at_bj'] or ''}; "
            f"closed={c['closed_at_bj'] or ''}; generated_at={report['generated_at_bj']}; "
            f"flags={','.join(c['flags'])}",
        )
    )
    for e in report["timeline"]:
        w.writerow(
            _cells(
                kind="event",
                case_id=cid,
                seq=e["seq"],
                event_id=e["event_id"],
                event_type=e["event_type"],
                agency_id=e["source"],
                agency_name="枢纽决定" if e["hub_decision"] else e["source_name"],
                hub_decision="yes" if e["hub_decision"] else "no",
                event_time=e["event_time_bj"],
                recorded_at=e["recorded_at_bj"],
                topic=e["topic"],
                partition=e["partition"],
                offset=e["offset"],
                hash=e["hash"],
                causation_id=e["causation_id"],
                handoff_id=e["handoff_id"],
                detail=e["detail"],
            )
        )
    for h in report["handoffs"]:
        d = h["deadline"] or {}
        w.writerow(
            _cells(
                kind="handoff",
                case_id=cid,
                handoff_id=h["handoff_id"],
                step=h["step"],
                task=h["task"],
                agency_id=h["obliged"]["agency_id"],
                agency_name=h["obliged"]["name"],
                event_time=h["assigned_at_bj"],
                deadline=d.get("due_bj"),
                rule_id=h["rule_id"],
                policy_version=d.get("policy_version"),
                legal_source=d.get("legal_source"),
                state=h["state"],
                outcome=f"{h['outcome']} {h['outcome_zh']}",
                outcome_at=h["outcome_at_bj"],
                escalated_to="; ".join(
                    f"{x['name'] or x['agency_id']} {x['at_bj'] or ''}".strip() for x in h["escalations"]
                ),
                detail=d.get("limit_zh"),
            )
        )
    for a in report["alerts"]:
        w.writerow(
            _cells(
                kind="alert",
                case_id=cid,
                seq=a["seq"],
                event_id=a["event_id"],
                event_type=a["type"],
                agency_id=(a["responsible"] or {}).get("agency_id"),
                agency_name=(a["responsible"] or {}).get("name"),
                event_time=a["at_bj"],
                handoff_id=a["handoff_id"],
                step=a["step"],
                escalated_to="; ".join(x["name"] or x["agency_id"] or "" for x in a["alerted"]),
                detail=a["reason"],
            )
        )
    return buf.getvalue()


def _cells(**values: Any) -> dict[str, Any]:
    return {k: _cell(values.get(k)) for k in CSV_COLUMNS}


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v  # not a formula when a spreadsheet opens it
    return v


def to_json(report: dict[str, Any]) -> str:
    """The report as JSON text: `build`'s data, Chinese as is."""
    return json.dumps(report, ensure_ascii=False, indent=2)
