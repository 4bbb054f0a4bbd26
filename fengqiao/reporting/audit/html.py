"""The audit report as one self-contained HTML page (inline CSS, no scripts, prints on A4); every
value is HTML-escaped, since case data comes from the agencies."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from fengqiao.schemas.labels import section

from .model import MISSING_ZH, OUTCOME_ZH

# The page's table columns and the case header's lines, each (Chinese, English), from the catalogue.
COLUMNS = section("tables", "audit", "columns")
FIELDS = section("tables", "audit", "case")
OUTCOME_AT = section("handoff_outcomes", "report_at")  # the word before the outcome's instant

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


def _field(key: str) -> str:
    """The label of one line of the case's header table."""
    return _label(*FIELDS[key])


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
        (_field("case_id"), f"<b class=mono>{_e(c['case_id'])}</b>"),
        (_field("workflow"), wf),
        (_field("status"), status),
        (_field("policy_version"), _e(c["policy_version"])),
        (_field("opened"), _e(c["opened_at_bj"])),
        (_field("closed"), _e(c["closed_at_bj"])),
        (
            _field("events"),
            f"{s['events']}（机构 {s['agency_events']}，枢纽决定 {s['hub_decisions']}）",
        ),
        (_field("handoffs"), f"{s['handoffs']}（{counts}）"),
        (_field("alerts"), str(s["alerts"])),
    ]
    if c["held"]:
        meta.append((_field("held"), "、".join(_e(t) for t in c["held"])))
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
    out.append(_table_head("handoffs"))
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
        when = OUTCOME_AT.get(h["outcome"], "")
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


def _table_head(cls: str) -> str:
    """A table's opening and its header row, each column labelled in Chinese with English below."""
    heads = "".join(f"<th>{_label(zh, en)}</th>" for zh, en in COLUMNS[cls])
    return f"<table class={cls}><thead><tr>{heads}</tr></thead><tbody>"


def _html_alerts(alerts: list[dict[str, Any]]) -> list[str]:
    out = [f"<h2>告警 <small>Alerts</small>（{len(alerts)}）</h2>"]
    if not alerts:
        return [*out, "<p>无 none</p>"]
    out.append(_table_head("alerts"))
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
    out.append(_table_head("timeline"))
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
            f"<td class=mono title='{_e(e['hash'])}'>{_e((e['hash'] or '')[:12])}</td></tr>"
        )
    return [*out, "</tbody></table>"]
