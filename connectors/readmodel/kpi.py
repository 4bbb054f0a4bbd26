"""The release KPIs (`fengqiao.reporting.kpi.release`) as SQL over the read model, for agencies' tools.

Each case of the cohort gets one row of 0/1 flags computed in SQL (`case_flags`), and the counts
are sums over it (`release_kpis`). The result has the shape of `kpi.release_kpis` (exceptions
sorted by case id); a test holds the two equal for the same cases. Facts the KPIs read (release
instant, key person, the late-notice flag, the resettlement plan) come from ``cases.state`` through
SQLAlchemy's JSON paths, which compile to ``#>>`` on PostgreSQL and ``JSON_EXTRACT`` on SQLite.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, case, cast, exists, func, not_, or_, select

from fengqiao.reporting.kpi.release import RELEASE_KPIS

from . import tables as t

C, H, A, P = t.cases, t.handoffs, t.alerts, t.case_agencies


def _fact(*path: str) -> Any:
    return C.c.state[("facts", *path)]


def _has(step: str, *where: ColumnElement[bool]) -> ColumnElement[bool]:
    """The case has a handoff of ``step`` (matching ``where``)."""
    return exists().where(H.c.case_id == C.c.case_id, H.c.step == step, *where)


released_at = cast(_fact("PersonReleased", "released_at").as_string(), t.Instant())
released = released_at.is_not(None)
key_person = _fact("ReleaseNoticeIssued", "key_person").as_boolean().is_(True)
notice_late = C.c.state[("flags", "notice_late")].as_boolean().is_(True)
with_ack = _has("acknowledge")
# An acknowledge handoff fulfilled before the release (or the person is not out yet).
handover_ok = _has(
    "acknowledge",
    H.c.state == "fulfilled",
    H.c.fulfilled_at.is_not(None),
    or_(released_at.is_(None), H.c.fulfilled_at < released_at),
)
picked_up = _has("gate_pickup", H.c.state == "fulfilled", H.c.late.is_(False))
# The report limit has run out (a report handoff went overdue or was met late) or every report is in.
report_settled = and_(
    _has("report"),
    or_(
        not_(_has("report", H.c.state != "fulfilled")),
        _has("report", or_(H.c.overdue_at.is_not(None), H.c.late.is_(True))),
    ),
)
reported_in_time = not_(_has("report", or_(H.c.state != "fulfilled", H.c.late.is_(None), H.c.late.is_(True))))
contact_lost = exists().where(A.c.case_id == C.c.case_id, A.c.type == "ContactLost")
resettled = _fact("ResettlementPlanCreated").as_string().is_not(None)

# KPI key → (in the denominator, in the numerator), both per case. contact_lost counts lost cases
# of the whole cohort over the released ones, as kpi.py does.
KPI_SQL: dict[str, tuple[ColumnElement[bool], ColumnElement[bool]]] = {
    "notice_on_time": (C.c.case_id.is_not(None), not_(notice_late)),
    "handover": (with_ack, and_(with_ack, handover_ok)),
    "key_person_pickup": (and_(released, key_person), and_(released, key_person, picked_up)),
    "report_within_limit": (
        and_(released, report_settled),
        and_(released, report_settled, reported_in_time),
    ),
    "contact_lost": (released, contact_lost),
    "resettlement_coverage": (released, and_(released, resettled)),
}


def cohort(start: date | None = None, end: date | None = None, agency: str | None = None) -> list[Any]:
    """Release cases opened in [start, end] (Asia/Shanghai dates), optionally involving ``agency``."""
    where: list[Any] = [C.c.workflow == "release", C.c.opened_on.is_not(None)]
    if start is not None:
        where.append(C.c.opened_on >= start)
    if end is not None:
        where.append(C.c.opened_on <= end)
    if agency is not None:
        where.append(exists().where(P.c.case_id == C.c.case_id, P.c.agency_id == agency))
    return where


def case_flags(start: date | None = None, end: date | None = None, agency: str | None = None) -> Select[Any]:
    """One row per cohort case: ``case_id`` and, per KPI, ``<key>_den`` and ``<key>_num`` as 0/1."""
    cols: list[Any] = [C.c.case_id]
    for key, (den, num) in KPI_SQL.items():
        cols += [case((den, 1), else_=0).label(f"{key}_den"), case((num, 1), else_=0).label(f"{key}_num")]
    return select(*cols).where(*cohort(start, end, agency))


def release_kpis(
    conn: Connection, *, start: date | None = None, end: date | None = None, agency: str | None = None
) -> dict[str, Any]:
    """`kpi.release_kpis` computed by the database."""
    flags = case_flags(start, end, agency).subquery("flags")
    sums: list[Any] = [func.count().label("cases")]
    for key in KPI_SQL:
        for part in ("den", "num"):
            sums.append(func.coalesce(func.sum(flags.c[f"{key}_{part}"]), 0).label(f"{key}_{part}"))
    totals = conn.execute(select(*sums)).one()._mapping
    kpis: dict[str, Any] = {}
    for key, _zh, _en, target in RELEASE_KPIS:
        n, d = int(totals[f"{key}_num"]), int(totals[f"{key}_den"])
        # The exceptions: in the denominator but not the numerator; for contact_lost, the lost cases.
        short = (
            flags.c[f"{key}_num"] == 1
            if key == "contact_lost"
            else and_(flags.c[f"{key}_den"] == 1, flags.c[f"{key}_num"] == 0)
        )
        exceptions = conn.execute(select(flags.c.case_id).where(short).order_by(flags.c.case_id)).scalars()
        kpis[key] = {
            "numerator": n,
            "denominator": d,
            "rate": n / d if d else None,
            "exceptions": list(exceptions),
            "target": target,
        }
    return {
        "period": {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None},
        "agency": agency,
        "cases": int(totals["cases"]),
        "kpis": kpis,
    }
