"""Case audit report (案件审计报告): one case's timeline, handoffs and alerts, for an auditor.

Pure rendering: `render(case, records, fmt)` takes the case state (as `engine.fold` builds it) and
the case's ledger records in log order, and returns the report as a string — no file, network or
clock access besides ``datetime.now`` when no ``generated_at`` is given.

A ledger record is a dict with ``event_id``, ``event_type``, ``source`` (the publishing agency's id,
or ``fengqiao-hub`` for the hub's decisions), ``event_time`` (when the agency says it happened),
``recorded_at`` (when the ledger stored it), ``topic``, ``partition``, ``offset``, ``hash`` (hex),
``causation_id`` and ``data`` (the decoded event, JSON form). Instants are shown in Beijing time;
a limit that runs out at midnight reads as 24:00 of its last day, as the law counts.

Formats:

* ``html``: one self-contained UTF-8 page (inline CSS, no scripts, prints on A4); every value is
  HTML-escaped, since case data comes from the agencies.
* ``csv``: starts with a BOM (U+FEFF) so Excel reads it as UTF-8; one header row (`CSV_COLUMNS`),
  then rows told apart by the ``kind`` column: one ``case`` row, one ``event`` row per ledger
  record in log order, one ``handoff`` row per handoff, one ``alert`` row per alert. The
  ``agency_id``/``agency_name`` columns hold the publisher of an event, the obliged agency of a
  handoff, the responsible agency of an alert. Times are Beijing time; hashes in full. A text cell
  starting with ``= + - @`` is prefixed with ``'`` so a spreadsheet does not run it as a formula.
* ``json``: the same content structured (`build`), with UTC instants next to the Beijing ones.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fengqiao.schemas.codec import SHANGHAI
from fengqiao.schemas.envelope import HUB_SOURCE
from fengqiao.streams.workflows import DECLARED

Format = Literal["html", "csv", "json"]
REPORT_VERSION = 1

WORKFLOW_ZH: dict[str, str] = {wf.name: wf.title_zh for wf in DECLARED}
STATUS_ZH = {"awaiting_opening": "待立案", "open": "办理中", "overdue": "有逾期", "closed": "已结案"}
STATE_ZH = {
    "assigned": "已交办",
    "acknowledged": "已签收",
    "fulfilled": "已办结",
    "overdue": "已超期",
    "escalated": "已督办",
    "cancelled": "已撤销",
}
OUTCOME_ZH = {
    "met": "按时完成",
    "late": "逾期完成",
    "missed": "逾期未完成",
    "pending": "未到期",
    "cancelled": "已撤销",
    "no_deadline": "无期限",
}
EVENT_ZH = {
    "HandoffAssigned": "交办",
    "HandoffAcknowledged": "签收回执",
    "HandoffFulfilled": "办结",
    "HandoffOverdue": "超期",
    "HandoffEscalated": "上报督办",
    "HandoffReassigned": "改派",
    "HandoffCancelled": "撤销",
    "RoutingFailed": "路由失败",
    "DeadlineNotComputable": "期限无法计算",
    "ReleaseNoticeIssued": "刑满释放人员通知书",
    "ReleaseNoticeAcknowledged": "通知书回执",
    "ReleaseHandoffAssigned": "衔接任务交办",
    "ReleaseHandoffReassigned": "衔接任务重新指派",
    "ResidenceDisputed": "居住地异议",
    "PickupPlanned": "必接必送接送方案",
    "PickupEscortRequested": "请求协助接回",
    "PersonReleased": "刑满释放",
    "PersonReceived": "门口接回",
    "PersonDelivered": "送回居住地",
    "PersonReported": "报到",
    "HouseholdRegistered": "落户",
    "PickupMissed": "未接回",
    "DeliveryMissed": "未送回",
    "ContactLost": "失联",
    "AssistanceRequested": "救助申请",
    "AssistanceGranted": "救助批准",
    "AssistanceDenied": "不予救助",
    "ResettlementPlanCreated": "安置帮教方案",
    "ResettlementClosed": "安置帮教期满解除",
}
MISSING_ZH = {"receipt": "缺回执", "disposition": "缺处置"}

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


def render(
    case: dict[str, Any],
    records: list[dict[str, Any]],
    fmt: Format = "html",
    *,
    generated_at: datetime | None = None,
    agencies: Mapping[str, str] | None = None,
) -> str:
    """The case's audit report as HTML, CSV (with BOM) or JSON.

    ``generated_at`` (default: now) is printed and is the instant a handoff's deadline is judged
    against; ``agencies`` maps agency ids to names, beyond those the records themselves carry.
    """
    report = build(case, records, generated_at=generated_at, agencies=agencies)
    if fmt == "html":
        return to_html(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2)
    raise ValueError(f"format {fmt!r}: one of html, csv, json")


# -- the content -------------------------------------------------------------------------------------
def build(
    case: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    generated_at: datetime | None = None,
    agencies: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The report as plain JSON data: header, timeline, handoffs, alerts, consistency checks."""
    from fengqiao.reporting.case import handoff_met  # the same verdict as `fengqiao case show`

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


# -- HTML ----------------------------------------------------------------------------------------------------
_CSS = """
@page { size: A4 landscape; margin: 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei",
  "SimSun", sans-serif; color: #111; margin: 24px; font-size: 13px; line-height: 1.45; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 22px 0 6px; border-bottom: 2px solid #333; padding-bottom: 2px; }
small, .en { color: #555; font-size: 10.5px; font-weight: normal; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { border: 1px solid #999; padding: 3px 5px; vertical-align: top; text-align: left; }
th { background: #eee; font-weight: bold; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; break-inside: avoid; }
td.num { text-align: right; white-space: nowrap; }
.nowrap { white-space: nowrap; }
.mono { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 11px; }
.hub td { background: #f4f6fa; }
.meta th { width: 13em; }
.badge { display: inline-block; padding: 0 5px; border: 1px solid; border-radius: 3px; font-weight: bold; }
.met { color: #0a6b2d; } .late { color: #9a5b00; } .missed { color: #b00020; }
.pending, .no_deadline, .cancelled { color: #444; }
.warn { border: 2px solid #b00020; padding: 6px 10px; color: #b00020; margin: 8px 0; }
.note { color: #444; font-size: 11px; }
@media print {
  body { margin: 0; font-size: 10.5px; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"""


def _e(v: Any) -> str:
    return "—" if v is None or v == "" else html.escape(str(v), quote=True)


def _label(zh: str, en: str) -> str:
    return f"{zh} <small>{html.escape(en)}</small>"


def _who(ref: Mapping[str, Any] | None) -> str:
    if not ref:
        return "—"
    if ref.get("name"):
        return f"{_e(ref['name'])} <small class='mono nowrap'>{_e(ref.get('agency_id'))}</small>"
    return f"<span class=mono>{_e(ref.get('agency_id'))}</span>"


def to_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    c = report["case"]
    s = report["summary"]
    wf = _e(c["workflow"]) + (f"　{_e(c['workflow_zh'])}" if c["workflow_zh"] else "")
    status = _e(c["status_zh"] or c["status"]) + f" <small>{_e(c['status'])}</small>"
    if c["flags"]:
        status += "　" + "、".join(
            _e("通知书迟延 notice late" if f == "notice_late" else f) for f in c["flags"]
        )
    counts = "；".join(f"{_e(OUTCOME_ZH.get(k, k))} {v}" for k, v in s["outcomes"].items()) or "—"
    meta = [
        (_label("案件编号", "case id"), f"<b class=mono>{_e(c['case_id'])}</b>"),
        (_label("流程", "workflow"), wf),
        (_label("状态", "status"), status),
        (_label("政策版本", "policy version"), _e(c["policy_version"])),
        (_label("立案时间", "opened"), _e(c["opened_at_bj"])),
        (_label("结案时间", "closed"), _e(c["closed_at_bj"])),
        (
            _label("事件", "events"),
            f"{s['events']}（机构 {s['agency_events']}，枢纽决定 {s['hub_decisions']}）",
        ),
        (_label("移交", "handoffs"), f"{s['handoffs']}（{counts}）"),
        (_label("告警", "alerts"), str(s["alerts"])),
    ]
    if c["held"]:
        meta.append((_label("待立案事件", "held"), "、".join(_e(t) for t in c["held"])))
    out = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>案件审计报告 {_e(c['case_id'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>案件审计报告 <small>Case audit report</small>　<span class=mono>{_e(c['case_id'])}</span></h1>",
        f"<p class=note>生成时间 generated at {_e(report['generated_at_bj'])}（北京时间 Beijing time, "
        f"UTC {_e(report['generated_at'])}）· 枫桥枢纽 Fengqiao Hub</p>",
        "<table class=meta><tbody>",
        *(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in meta),
        "</tbody></table>",
    ]
    cons = report["consistency"]
    if cons["missing_from_ledger"] or cons["not_in_case_state"]:
        out.append(
            "<div class=warn><b>不一致 Inconsistent:</b> "
            f"案件状态中有而账本中无 in case state, not in ledger: "
            f"{_e(', '.join(cons['missing_from_ledger']) or '—')}；"
            f"账本中有而案件状态中无 in ledger, not in case state: "
            f"{_e(', '.join(cons['not_in_case_state']) or '—')}</div>"
        )
    out += _html_handoffs(report["handoffs"])
    out += _html_alerts(report["alerts"])
    out += _html_timeline(report["timeline"])
    out.append(
        "<h2>说明 <small>Notes</small></h2><p class=note>"
        "时间均为北京时间（Asia/Shanghai）；期限止于午夜的，记为末日 24:00。"
        "“枢纽决定”为枫桥枢纽依政策作出的决定（交办、超期、督办、告警），来源 fengqiao-hub。"
        "位置为账本中的 主题/分区/偏移；哈希为该分区哈希链的记录哈希（前 12 位，完整值见 CSV/JSON），"
        "可用 <span class=mono>fengqiao audit verify</span> 校验。<br>"
        "<span class=en>All times are Beijing time; a limit ending at midnight reads 24:00 of its last day. "
        "Hub decisions are the hub's own events under the policy. Position is topic/partition/offset in "
        "the ledger; the hash is the record's chain hash (first 12 hex digits).</span></p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_handoffs(handoffs: list[dict[str, Any]]) -> list[str]:
    out = [f"<h2>移交与期限 <small>Handoffs and deadlines</small>（{len(handoffs)}）</h2>"]
    if not handoffs:
        return [*out, "<p>无 none</p>"]
    out.append(
        _table_head(
            "handoffs",
            (
                ("步骤/任务", "step, task"),
                ("承办机构", "obliged agency"),
                ("期限", "deadline"),
                ("规则与依据", "rule, policy, source"),
                ("状态", "state"),
                ("结果", "outcome"),
                ("督办/改派", "escalations"),
            ),
        )
    )
    for h in handoffs:
        d = h["deadline"]
        if d:
            rule = (
                f"<span class=mono>{_e(d['rule_id'])}</span><br>{_e(d['limit_zh'])}"
                f"<br>政策 v{_e(d['policy_version'])}<br><small>依据 {_e(d['legal_source'])}</small>"
            )
            due = f"<span class=nowrap>{_e(d['due_bj'])}</span>"
        else:
            rule = f"<span class=mono>{_e(h['rule_id'])}</span><br><small>无法定期限 no legal clock</small>"
            due = "无 <small>none</small>"
        when = {
            "met": "完成于",
            "late": "完成于",
            "missed": "发现超期",
            "cancelled": "撤销于",
        }.get(h["outcome"], "")
        result = f"<span class='badge {_e(h['outcome'])}'>{_e(h['outcome_zh'])}</span>"
        if h["outcome_at_bj"]:
            result += f"<br><small>{when}</small> <span class=nowrap>{_e(h['outcome_at_bj'])}</span>"
        if h["fulfilled_by"]:
            result += f"<br><small>依据 {_e(h['fulfilled_by'])}</small>"
        if h["missing"] and h["outcome"] == "missed":
            result += f"<br><small>{_e(MISSING_ZH.get(h['missing'], h['missing']))}</small>"
        if h["cancelled_reason"]:
            result += f"<br><small>{_e(h['cancelled_reason'])}</small>"
        state = f"{_e(h['state_zh'] or h['state'])}<br><small>{_e(h['state'])}</small>"
        if h["acknowledged_at_bj"]:
            state += f"<br><small>签收 {_e(h['acknowledged_at_bj'])}</small>"
        esc = [
            f"{_who(x)}"
            + (f" <small>第{_e(x['level'])}级</small>" if x["level"] else "")
            + (f"<br><small class=nowrap>{_e(x['at_bj'])}</small>" if x["at_bj"] else "")
            for x in h["escalations"]
        ]
        esc += [
            f"改派 {_who(x['from'])} → {_who(x['to'])}<br><small class=nowrap>{_e(x['at_bj'])}</small>"
            for x in h["reassignments"]
        ]
        out.append(
            "<tr>"
            f"<td>{_e(h['task'])}<br><small class=mono>{_e(h['step'])} · {_e(h['handoff_id'])}</small>"
            f"<br><small>交办 {_e(h['assigned_at_bj'])}</small></td>"
            f"<td>{_who(h['obliged'])}</td><td>{due}</td><td>{rule}</td><td>{state}</td>"
            f"<td>{result}</td><td>{'<br>'.join(esc) or '—'}</td></tr>"
        )
    return [*out, "</tbody></table>"]


def _table_head(cls: str, columns: tuple[tuple[str, str], ...]) -> str:
    """A table's opening and its header row, each column labelled in Chinese with English below."""
    heads = "".join(f"<th>{_label(zh, en)}</th>" for zh, en in columns)
    return f"<table class={cls}><thead><tr>{heads}</tr></thead><tbody>"


def _html_alerts(alerts: list[dict[str, Any]]) -> list[str]:
    out = [f"<h2>告警 <small>Alerts</small>（{len(alerts)}）</h2>"]
    if not alerts:
        return [*out, "<p>无 none</p>"]
    out.append(
        _table_head(
            "alerts",
            (
                ("告警", "alert"),
                ("时间", "detected"),
                ("责任机构", "responsible"),
                ("通知机构", "alerted"),
                ("原因", "reason"),
                ("事件", "event #"),
            ),
        )
    )
    for a in alerts:
        title = (
            f"{_e(a['type_zh'])} " if a["type_zh"] else ""
        ) + f"<small class=mono>{_e(a['type'])}</small>"
        if a["step"]:
            title += f"<br><small class=mono>{_e(a['step'])}</small>"
        told = [*a["alerted"], *([a["addressed_to"]] if a["addressed_to"] else [])]
        out.append(
            f"<tr><td>{title}</td><td class=nowrap>{_e(a['at_bj'])}</td><td>{_who(a['responsible'])}</td>"
            f"<td>{'<br>'.join(_who(x) for x in told) or '—'}</td><td>{_e(a['reason'])}</td>"
            f"<td class=num>{'#' + _e(a['seq']) if a['seq'] else '—'}</td></tr>"
        )
    return [*out, "</tbody></table>"]


def _html_timeline(timeline: list[dict[str, Any]]) -> list[str]:
    out = [f"<h2>事件时间线 <small>Timeline: who knew what, when</small>（{len(timeline)}）</h2>"]
    if not timeline:
        return [*out, "<p>无 none</p>"]
    out.append(
        _table_head(
            "timeline",
            (
                ("#", ""),
                ("发生时间", "event time"),
                ("记录时间", "recorded"),
                ("事件", "event"),
                ("发布机构", "published by"),
                ("内容", "detail"),
                ("起因", "cause"),
                ("位置", "topic/partition/offset"),
                ("哈希", "hash"),
            ),
        )
    )
    for e in timeline:
        if e["hub_decision"]:
            who = "<b>枢纽决定</b> <small>hub decision</small>"
        else:
            who = _who({"agency_id": e["source"], "name": e["source_name"]})
        event = (f"{_e(e['event_zh'])}<br>" if e["event_zh"] else "") + (
            f"<small class=mono>{_e(e['event_type'])}</small>"
        )
        pos = f"{_e(e['topic'])} / {_e(e['partition'])} / {_e(e['offset'])}"
        out.append(
            f"<tr{' class=hub' if e['hub_decision'] else ''}>"
            f"<td class=num>{e['seq']}</td><td class=nowrap>{_e(e['event_time_bj'])}</td>"
            f"<td class=nowrap>{_e(e['recorded_at_bj'])}</td><td>{event}</td><td>{who}</td>"
            f"<td>{_e(e['detail'])}</td><td class=nowrap>{_e(e['cause'])}</td>"
            f"<td class=mono>{pos}</td>"
            f"<td class=mono title='{_e(e['hash'])}'>{_e(_short(e['hash'] or '', 12))}</td></tr>"
        )
    return [*out, "</tbody></table>"]


# -- CSV -----------------------------------------------------------------------------------------------------
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
