"""The demo's legal aid cases (法律援助) and the fields their steps set."""

from __future__ import annotations

from typing import Any

from fengqiao.scenario.county import AGENCIES, COUNTY, Step

# Legal aid cases (法律援助): (what happens, steps); a step is (event type, publishing agency, days after
# the case starts, fields). ``applicant`` picks the id number looked up in the demo's assistance register
# (infra/deployments/demo/registers/assistance.yaml). The hand-computed KPIs of these cases are in
# tests/unit/test_kpi_legal_aid.py.
LEGAL_AID_ON_REGISTER = "330102198503120049"  # 低保 until the end of 2026
LEGAL_AID_EXTREME_POVERTY = "330102199006080028"  # 特困, no end date
LEGAL_AID_NOT_LISTED = "330102199311220082"
LEGAL_AID_VARIANTS: list[tuple[str, list[Step]]] = [
    (
        "defendant notice, the lawyer assigned on day 4: late 通知辩护·第4日指派（逾期）",
        [("LegalAidNotified", "court", 0, {}), ("LawyerAssigned", "legal_aid_centre", 4, {})],
    ),
    (
        "on the assistance register: no hardship check, granted, assigned, closed 救助对象免审·给予·结案",
        [
            ("LegalAidApplied", "judicial_office", 0, {"applicant": LEGAL_AID_ON_REGISTER}),
            ("LegalAidGranted", "legal_aid_centre", 2, {}),
            ("LawyerAssigned", "legal_aid_centre", 3, {}),
            ("LegalAidCaseClosed", "legal_aid_centre", 30, {}),
        ],
    ),
    (
        "not on the register: hardship checked by civil affairs, granted 核查经济困难·给予",
        [
            ("LegalAidApplied", "judicial_office", 0, {}),
            ("HardshipStatusReported", "civil_affairs", 2, {"status": "low_income"}),
            ("LegalAidGranted", "legal_aid_centre", 5, {}),
            ("LawyerAssigned", "legal_aid_centre", 7, {}),
        ],
    ),
    (
        "detained applicant, forwarded by the custody facility within 24 hours 在押人员申请·24小时内转交",
        [
            ("LegalAidAppliedInCustody", "police", 0, {}),
            ("LegalAidApplied", "police", 0.8, {"detained": True}),
            ("HardshipStatusReported", "civil_affairs", 3, {"status": "subsistence_allowance"}),
            ("LegalAidGranted", "legal_aid_centre", 4, {}),
            ("LawyerAssigned", "legal_aid_centre", 5, {}),
        ],
    ),
    (
        "not in hardship: refused, objection upheld, granted 不予援助·异议成立·给予",
        [
            ("LegalAidApplied", "judicial_office", 0, {}),
            ("HardshipStatusReported", "civil_affairs", 2, {"status": "none"}),
            ("LegalAidDenied", "legal_aid_centre", 6, {}),
            ("LegalAidObjectionFiled", "judicial_bureau", 8, {}),
            ("LegalAidObjectionDecided", "judicial_bureau", 11, {"upheld": True}),
            ("LegalAidGranted", "legal_aid_centre", 12, {}),
            ("LawyerAssigned", "legal_aid_centre", 13, {}),
        ],
    ),
    (
        "procuratorate's notice, no lawyer assigned: overdue to the bureau 通知辩护·未指派·督办",
        [("LegalAidNotified", "procuratorate", 0, {})],
    ),
    (
        "on the register (特困), refused on day 9: late 特困人员·第9日不予援助（逾期）",
        [
            ("LegalAidApplied", "judicial_office", 0, {"applicant": LEGAL_AID_EXTREME_POVERTY}),
            ("LegalAidDenied", "legal_aid_centre", 9, {}),
        ],
    ),
]


def _legal_aid_fields(etype: str, fields: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The fields a legal aid step sets: the agencies by their kind in `AGENCIES`, the people's id numbers."""
    centre, custody = AGENCIES["legal_aid_centre"], AGENCIES["police"]
    out: dict[str, Any] = {k: v for k, v in fields.items() if k != "applicant"}
    if etype in ("LegalAidApplied", "LegalAidAppliedInCustody"):
        applicant_id = fields.get("applicant", LEGAL_AID_NOT_LISTED)
        out["applicant"] = {**record["applicant"], "id_number": applicant_id}
        out["matter"] = "criminal_defence" if fields.get("detained") else "wage_arrears"
        out["legal_aid_centre"] = None  # the hub routes to the centre of the place
    if etype == "LegalAidApplied":
        out.update(exempt_from_means_test=False, exemption_ground=None, hardship_claimed=None)
        out.setdefault("detained", False)
    if etype == "LegalAidAppliedInCustody":
        out.update(received_by=custody, custody_facility=custody, place={"code": COUNTY, "name": "青山县"})
        out["matter"] = "criminal_defence"
    if etype == "LegalAidNotified":
        out.update(
            custody_facility=custody,
            legal_aid_centre=None,
            place={"code": COUNTY, "name": "青山县"},
            detained=True,
            stage="trial",
            grounds=["可能判处无期徒刑 possible life sentence"],
        )
    if etype in ("LegalAidGranted", "LegalAidDenied", "LawyerAssigned", "LegalAidCaseClosed"):
        out["centre"] = centre
    if etype == "LegalAidDenied":
        out["reason"] = "经济状况不符合法律援助条件 not in economic hardship"
    if etype == "LawyerAssigned":
        out.update(lawyer_name="陈静", law_firm="浙江青山律师事务所", notifier=None)
    if etype == "HardshipStatusReported":
        out.update(handoff_id=None, on_assistance_register=False, valid_until=None)
    if etype in ("LegalAidObjectionFiled", "LegalAidObjectionDecided"):
        out["bureau"] = AGENCIES["judicial_bureau"]
    if etype == "LegalAidObjectionDecided":
        out["objection_received_at"] = None
    return out
