"""One case as staff read it: whether each handoff met its deadline, and the case's tables
(`fengqiao case show`, `fengqiao replay --case`); the audit report gives the same verdicts."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from fengqiao.schemas.labels import section

MET_ZH = section("handoff_outcomes", "cli")
TABLES = section("tables", "case")  # the handoffs, alerts and events tables' titles and columns


def _table(name: str) -> Table:
    spec = TABLES[name]
    return Table(*spec["columns"], title=spec["title"])


def handoff_met(h: dict[str, Any], now: Any = None) -> str:
    """Whether a handoff met its deadline: met, late (fulfilled after it), missed, pending, cancelled."""
    from datetime import UTC, datetime

    from fengqiao.schemas.envelope import parse_time

    if h["state"] == "cancelled":
        return "cancelled"
    if h["state"] == "fulfilled":
        return "late" if h.get("late") else "met"
    if not h.get("deadline"):
        return "no_deadline"
    if h["state"] in ("overdue", "escalated") or parse_time(h["deadline"]["due"]) < (
        now or datetime.now(UTC)
    ):
        return "missed"
    return "pending"


def render_case(case: dict[str, Any], console: Console) -> None:
    from datetime import timedelta

    from fengqiao.schemas.codec import SHANGHAI
    from fengqiao.schemas.envelope import parse_time

    def local(t: str | None) -> str:
        """Beijing time; a limit ending at midnight reads as 24:00 of its last day, as the law counts."""
        if not t:
            return "—"
        at = parse_time(t).astimezone(SHANGHAI)
        if (at.hour, at.minute, at.second) == (0, 0, 0):
            return f"{(at - timedelta(days=1)):%Y-%m-%d} 24:00"
        return f"{at:%Y-%m-%d %H:%M}"

    console.print(
        f"[bold]案件 {case['case_id']}[/]  流程 workflow {case['workflow']}  状态 status "
        f"[bold]{case['status']}[/]  版本 version {case['version']}  "
        f"政策 policy {case.get('policy_version') or '—'}"
        + ("  [red]通知书迟延 notice late[/]" if case.get("flags", {}).get("notice_late") else "")
    )
    if case.get("handoffs"):
        t = _table("handoffs")
        for h in case["handoffs"].values():
            d = h.get("deadline") or {}
            rule = f"{d['rule_id']} ({d['length']} {d['clock']}, v{d['policy_version']})" if d else "—"
            t.add_row(
                h["step"],
                h["obliged"].get("name") or h["obliged"]["agency_id"],
                h["state"],
                local(d.get("due")),
                rule,
                d.get("source") or "—",
                MET_ZH[handoff_met(h)],
            )
        console.print(t)
    if case.get("alerts"):
        t = _table("alerts")
        for a in case["alerts"]:
            t.add_row(
                a["type"],
                ", ".join(x.get("name") or x["agency_id"] for x in a.get("alerted", [])),
                local(a.get("detected_at") or a.get("failed_at")),
            )
        console.print(t)
    if case.get("held"):
        console.print(
            f"[yellow]待立案事件 held until the case opens:[/] {', '.join(h['type'] for h in case['held'])}"
        )
    t = _table("events")
    for i, e in enumerate(case["events"], 1):
        t.add_row(str(i), local(e["time"]), e["type"], e["source"], e["id"])
    console.print(t)
