"""The demo's community corrections cases (社区矫正) and the fields their steps set."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fengqiao.scenario.county import AGENCIES, Step
from fengqiao.schemas.codec import SHANGHAI

# Community corrections (社区矫正) of people living in 东溪村 (qs-jb-corrections, qs-ps-1): (what happens,
# steps) as for mediation; days after the case starts, an order's effective date the day it is sent.
# The hand-computed KPIs of these cases are in tests/unit/test_kpi_corrections.py.
BAIYUN_VILLAGE = {"code": "339902001001", "name": "白云县白云镇白云村"}
CORRECTIONS_VARIANTS: list[tuple[str, list[Step]]] = [
    (
        "investigation on time, probation, reported on day 9 调查评估按时·缓刑·第9日报到",
        [
            ("InvestigationRequested", "court", 0, {}),
            ("InvestigationReported", "corrections_agency", 6, {"suitable": True}),
            ("CommunityCorrectionOrdered", "court", 14, {}),
            ("CorrectionDocumentsReceived", "corrections_agency", 15, {}),
            ("CorrectionReported", "corrections_agency", 23, {}),
        ],
    ),
    (
        "never reported: absconded on day 11, revocation grounds after a month 未报到·脱管·撤销事由",
        [
            ("CommunityCorrectionOrdered", "court", 0, {}),
            ("CorrectionDocumentsReceived", "corrections_agency", 1, {}),
        ],
    ),
    (
        "parole, execution place changed to 白云县: handed to its agency 假释·变更执行地·移交白云县",
        [
            ("CommunityCorrectionOrdered", "court", 0, {"kind": "parole"}),
            ("CorrectionDocumentsReceived", "corrections_agency", 2, {}),
            ("CorrectionReported", "corrections_agency", 3, {}),
            # 白云县's agency becomes a party of the case only once the hub has handed it over, so the
            # demo (posting as fast as it can) leaves the hand-over open rather than race it.
            ("ExecutionPlaceChanged", "corrections_agency", 40, {"new_place": BAIYUN_VILLAGE}),
        ],
    ),
    (
        "violation, revocation proposed, ruled late, taken into custody 违规·提请撤销·逾期裁定·收监",
        [
            ("CommunityCorrectionOrdered", "court", 0, {}),
            ("CorrectionDocumentsReceived", "corrections_agency", 1, {}),
            ("CorrectionReported", "corrections_agency", 2, {}),
            (
                "CorrectionViolationRecorded",
                "corrections_agency",
                4,
                {"violation_type": "prohibition_breach", "sanction": "revocation_proposal"},
            ),
            ("RevocationProposed", "corrections_agency", 5, {}),
            ("RevocationDecided", "court", 38, {"revoked": True, "custody_required": True}),
            ("PersonTakenIntoCustody", "police_station", 39, {}),
            ("CorrectionTerminated", "corrections_agency", 40, {"reason": "revoked"}),
        ],
    ),
    (
        "fast-track investigation never reported: overdue to the court 速裁调查评估·逾期",
        [("InvestigationRequested", "court", 0, {"fast_track": True})],
    ),
]


def _corrections_fields(etype: str, fields: dict[str, Any], t: datetime) -> dict[str, Any]:
    """The fields a corrections step sets: the court decides, 青山县's agency acts, the hub routes."""
    today = t.astimezone(SHANGHAI).date()
    agency, court = AGENCIES["corrections_agency"], AGENCIES["court"]
    out: dict[str, Any] = {}
    if etype == "InvestigationRequested":
        out.update(court=court, proposed_kind="probation", fast_track=False, offence="盗窃罪")
    if etype == "CommunityCorrectionOrdered":
        out.update(
            decision_organ=court,
            kind="probation",
            corrections_agency=None,
            offence="盗窃罪",
            sentence="有期徒刑一年，缓刑二年",
            effective_on=today,
            term_start=today,
            term_end=today + timedelta(days=730),
        )
    if etype in ("InvestigationReported", "CorrectionDocumentsReceived"):
        out.update(handoff_id=None, agency=agency)
    if etype == "CorrectionDocumentsReceived":
        out.update(complete=True, missing=[])
    if etype == "CorrectionReported":
        out.update(agency=agency, supervising_office=AGENCIES["judicial_office"])
    if etype == "ExecutionPlaceChanged":
        out.update(agency=agency, new_agency=None, effective_on=today)
    if etype == "RevocationProposed":
        out.update(agency=agency, court=court, kind="probation", arrest_requested=False)
    if etype == "RevocationDecided":
        out["court"] = court
    if etype == "PersonTakenIntoCustody":
        out.update(police=AGENCIES["police_station"], custody_facility=None)
    if etype == "CorrectionTerminated":
        out.update(agency=agency, terminated_on=today)
    return {**out, **fields}
