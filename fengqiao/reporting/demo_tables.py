"""What `fengqiao demo` prints once the cases are in: the cases and alerts, each workflow's table and
KPIs, what each workflow must show for the run to pass, and its part of the final line."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from fengqiao.schemas.labels import section

TABLES = section("tables", "demo")  # each table's title and column titles
STATE_ZH = section("handoff_states", "board")  # the words of a board: 待签收, not the report's 已交办


def _table(name: str) -> Table:
    """An empty table of the demo's, titled and headed from the label catalogue."""
    spec = TABLES[name]
    t = Table(title=spec["title"])
    for col in spec["columns"]:
        t.add_column(col)
    return t


def _summary(console: Console, cases: list[dict[str, Any]], expected: Counter[str]) -> None:
    t = _table("summary")
    for c in cases:
        last = c["events"][-1]["type"] if c.get("events") else "—"
        handoffs = (c.get("handoffs") or {}).values()
        h = ", ".join(f"{x['step']}:{STATE_ZH.get(x['state'], x['state'])}" for x in handoffs) or "—"
        t.add_row(
            c["case_id"],
            c.get("workflow", "?"),
            c.get("status", "?"),
            str(len(c.get("events", []))),
            last,
            h,
        )
    console.print(t)


def _alerts(console: Console, cases: list[dict[str, Any]]) -> None:
    rows = [(c["case_id"], a) for c in cases for a in c.get("alerts", [])]
    if not rows:
        return
    t = _table("alerts")
    for case_id, a in rows:
        t.add_row(
            case_id, a["type"], ", ".join(x.get("name") or x["agency_id"] for x in a.get("alerted", []))
        )
    console.print(t)


def _release_text(missed: bool) -> str:
    """Release cases have no table of their own: the summary and the alerts show them."""
    return "a missed pick-up was raised 未接回已告警" if missed else "NO missed pick-up was raised"


def _mediation_shown(cases: list[dict[str, Any]]) -> bool:
    """The demo's mediation cases show a joint session member escalated, a dispute escalated one level
    and a risk alert to the police station."""
    joint = any(
        h["step"] == "joint_accept" and h["state"] == "escalated"
        for c in cases
        for h in c["handoffs"].values()
    )
    escalated = any(e["type"] == "DisputeEscalated" for c in cases for e in c.get("events", []))
    alerted = any(a.get("type") == "EscalationRiskAlerted" for c in cases for a in c.get("alerts", []))
    return joint and escalated and alerted


def _mediation_text(shown: bool) -> str:
    if not shown:
        return "NO joint-session escalation"
    return "a joint-session member overdue and escalated, a dispute escalated one level 联调督办、逐级上调"


def _police_text(told: bool) -> str:
    if not told:
        return "NO risk alert delivered to the police station"
    return "the police station alerted of a 民转刑 risk 已预警派出所"


LEVEL_ZH = section("mediation_levels")


def _mediation(console: Console, cases: list[dict[str, Any]]) -> None:
    """The mediation cases: door, level, the joint session's members, escalations, outcome; then the KPIs."""
    from fengqiao.reporting.kpi.mediation import DOOR_ZH, mediation_kpis, outcome, render_mediation

    t = _table("mediation")
    for c in cases:
        facts = c.get("facts", {})
        door = (facts.get("DisputeReferred") or {}).get("door") or "own_intake"
        levels = [e for e in c["events"] if e["type"] == "MediationAssigned"]
        level = (facts.get("MediationAssigned") or {}).get("level", "—")
        joint = ", ".join(
            f"{h['obliged'].get('name') or h['obliged']['agency_id']}:{STATE_ZH.get(h['state'], h['state'])}"
            for h in c["handoffs"].values()
            if h["step"] == "joint_accept"
        )
        up = facts.get("DisputeEscalated")
        t.add_row(
            c["case_id"],
            f"{DOOR_ZH.get(door, door)} {door}",
            f"{LEVEL_ZH.get(level, level)} {level}" + (f" (×{len(levels)})" if len(levels) > 1 else ""),
            joint or "—",
            f"{up['from_level']} → {up['to_level']}" if up else "—",
            outcome(c) + (" · 退回法院 returned to court" if "ReturnedToCourt" in facts else ""),
        )
    console.print(t)
    render_mediation(mediation_kpis(cases), console)


def _services_shown(cases: list[dict[str, Any]]) -> bool:
    """The demo's 一所六站点 requests show one closed back to the first office and one escalated."""
    closed = any("ServiceRequestClosed" in c.get("facts", {}) for c in cases)
    escalated = any(h["state"] == "escalated" for c in cases for h in c.get("handoffs", {}).values())
    return closed and escalated


def _services_text(shown: bool) -> str:
    if not shown:
        return "NO 一所六站点 closure and escalation"
    return "requests closed back to the first office, an overdue one escalated 办结回告、逾期督办"


def _services(console: Console, cases: list[dict[str, Any]]) -> None:
    """The 一所六站点 requests: service, body, the handoff's state, escalation, outcome; then the KPIs."""
    from fengqiao.reporting.kpi.services import SERVICE_ZH, render_services, services_kpis

    t = _table("services")
    for c in cases:
        facts = c.get("facts", {})
        service = (facts.get("ServiceRequestReceived") or {}).get("service", "—")
        h = next(iter(c.get("handoffs", {}).values()), None)
        closed = facts.get("ServiceRequestClosed")
        t.add_row(
            c["case_id"],
            f"{SERVICE_ZH.get(service, service)} {service}",
            (h["obliged"].get("name") or h["obliged"]["agency_id"]) if h else "—",
            STATE_ZH.get(h["state"], h["state"]) if h else "—",
            (", ".join(a.get("name") or a["agency_id"] for a in h["escalated_to"]) if h else "") or "—",
            f"{closed['outcome']} · {closed['days_to_close']} 天 days" if closed else "办理中 open",
        )
    console.print(t)
    render_services(services_kpis(cases), console)


def _legal_aid_shown(cases: list[dict[str, Any]]) -> bool:
    """The demo's legal aid cases show a notice's late assignment escalated to the bureau, an applicant
    exempted by the assistance register and one whose hardship civil affairs checked."""
    escalated = any(
        h["step"] == "assign_notified" and h["state"] == "escalated"
        for c in cases
        for h in c["handoffs"].values()
    )
    facts = [c.get("facts", {}) for c in cases]
    exempt = any((f.get("MeansTestExemptionDecided") or {}).get("exempt") for f in facts)
    checked = any("HardshipCheckRequested" in f and "HardshipStatusReported" in f for f in facts)
    return escalated and exempt and checked


def _legal_aid_text(shown: bool) -> str:
    if not shown:
        return "NO legal aid escalation or register exemption"
    return "a late lawyer assignment escalated, a register exemption, a hardship check 指派督办、免审、核查"


def _legal_aid(console: Console, cases: list[dict[str, Any]]) -> None:
    """The legal aid cases: route, the means test, the decision, the lawyer; then the KPIs."""
    from fengqiao.reporting.kpi.legal_aid import ROUTES, legal_aid_kpis, render_legal_aid
    from fengqiao.streams.workflows.legal_aid import ON_REGISTER, route

    t = _table("legal_aid")
    for c in cases:
        facts = c.get("facts", {})
        exemption = facts.get("MeansTestExemptionDecided")
        means = "—" if exemption is None else "免审 exempt" if exemption["exempt"] else "核查 checked"
        if "HardshipStatusReported" in facts:
            status = facts["HardshipStatusReported"]["status"]
            means += f": {ON_REGISTER.get(status, '无')} {status}"
        decision = "给予 granted" if "LegalAidGranted" in facts else "—"
        decision = "不予 denied" if decision == "—" and "LegalAidDenied" in facts else decision
        assign = [h for h in c["handoffs"].values() if h["step"] in ("assign_notified", "assign_granted")]
        lawyer = ", ".join(
            STATE_ZH.get(h["state"], h["state"]) + (" (逾期 late)" if h.get("late") else "") for h in assign
        )
        kind = route(c)
        t.add_row(c["case_id"], f"{ROUTES[kind]} {kind}", means, decision, lawyer or "—")
    console.print(t)
    render_legal_aid(legal_aid_kpis(cases), console)


def _corrections_shown(cases: list[dict[str, Any]]) -> bool:
    """The demo's corrections cases show an absconder with revocation grounds after a month, a change of
    execution place handed to 白云县's agency, and a revocation ruled late."""
    handoffs = [h for c in cases for h in c.get("handoffs", {}).values()]
    grounds = any("RevocationGroundsArisen" in c.get("facts", {}) for c in cases)
    moved = any(h["step"] == "transfer" and h["obliged"]["agency_id"].startswith("by-") for h in handoffs)
    late = any(h["step"] == "revocation_ruling" and h.get("late") for h in handoffs)
    return grounds and moved and late


def _corrections_text(shown: bool) -> str:
    if not shown:
        return "NO absconder, change of place or late ruling in corrections"
    return "an absconder with revocation grounds, a move to 白云县, a late ruling 脱管·变更执行地·逾期裁定"


CORRECTIONS_DECISIONS = ("CorrectionAbsconded", "RevocationGroundsArisen", "CorrectionTerminationNotified")


def _corrections(console: Console, cases: list[dict[str, Any]]) -> None:
    """The corrections cases: kind, the agency in charge, reporting, what the hub decided; then the KPIs."""
    from fengqiao.reporting.kpi.corrections import corrections_kpis, render_corrections
    from fengqiao.streams.workflows.corrections import responsible

    t = _table("corrections")
    for c in cases:
        facts = c.get("facts", {})
        kind = (facts.get("CommunityCorrectionOrdered") or {}).get("kind") or "调查评估 investigation"
        agency = responsible(c) or next((h["obliged"] for h in c["handoffs"].values()), None)
        report = c["handoffs"].get(f"{c['case_id']}/report/1")
        reported = "—" if report is None else STATE_ZH.get(report["state"], report["state"])
        if report and report.get("late"):
            reported += " (逾期 late)"
        hub = [e["type"] for e in c["events"] if e["type"] in CORRECTIONS_DECISIONS]
        hub += [
            f"{h['step']}:{STATE_ZH.get(h['state'], h['state'])}" + (" (逾期 late)" if h.get("late") else "")
            for h in c["handoffs"].values()
            if h["step"] in ("investigation", "transfer", "revocation_ruling")
        ]
        t.add_row(
            c["case_id"],
            kind,
            (agency.get("name") or agency["agency_id"]) if agency else "—",
            reported,
            ", ".join(hub) or "—",
        )
    console.print(t)
    render_corrections(corrections_kpis(cases), console)
