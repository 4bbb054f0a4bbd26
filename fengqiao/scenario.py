"""The demo scenario: a fictional county, 青山县, and a script of cases across the workflows.

Each case is a sequence of CloudEvents (structured JSON, as an agency would send them), so the
demo goes through the same validation as `fengqiao publish` and the HTTP gateway.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fengqiao.schemas.catalogue import Catalogue, load
from fengqiao.schemas.codec import SHANGHAI, to_json
from fengqiao.schemas.samples import SAMPLE_RIC, sample_event

COUNTY = "339901"  # fictional: 33 is Zhejiang, 99 no real prefecture
TOWNSHIP = f"{COUNTY}001"
VILLAGE = f"{TOWNSHIP}001"

AGENCIES: dict[str, dict[str, str]] = {
    "prison": {"agency_id": "zj-prison-2", "agency_type": "prison", "name": "省第二监狱"},
    "court": {"agency_id": "qs-court", "agency_type": "court", "name": "青山县人民法院"},
    "tribunal": {"agency_id": "qs-tribunal-1", "agency_type": "tribunal", "name": "青山人民法庭"},
    "police_station": {"agency_id": "qs-ps-1", "agency_type": "police_station", "name": "青山镇派出所"},
    "judicial_office": {"agency_id": "qs-jo-1", "agency_type": "judicial_office", "name": "青山镇司法所"},
    "judicial_bureau": {"agency_id": "qs-jb", "agency_type": "judicial_bureau", "name": "青山县司法局"},
    "civil_affairs": {"agency_id": "qs-ca", "agency_type": "civil_affairs", "name": "青山县民政局"},
    "procuratorate": {"agency_id": "qs-proc", "agency_type": "procuratorate", "name": "青山县人民检察院"},
    "petition_office": {"agency_id": "qs-xf", "agency_type": "petition_office", "name": "青山县信访局"},
    "service_body": {"agency_id": "qs-notary", "agency_type": "service_body", "name": "青山县公证处"},
    "reconsideration_office": {
        "agency_id": "qs-recon",
        "agency_type": "service_body",
        "name": "青山县人民政府行政复议办公室",
    },
    "enforcement_supervision": {
        "agency_id": "qs-enforce",
        "agency_type": "service_body",
        "name": "青山县行政执法协调监督局",
    },
    "corrections_agency": {
        "agency_id": "qs-jb-corrections",
        "agency_type": "judicial_bureau",
        "name": "青山县社区矫正管理局",
    },
    # Of the other county, for a change of execution place (变更执行地).
    "baiyun_corrections_agency": {
        "agency_id": "by-jb-corrections",
        "agency_type": "judicial_bureau",
        "name": "白云县社区矫正管理局",
    },
    # Legal aid (法律援助): the county's centre, and the public security's custody facility (看守所).
    "legal_aid_centre": {
        "agency_id": "qs-jb-legalaid",
        "agency_type": "judicial_bureau",
        "name": "青山县法律援助中心",
    },
    "police": {"agency_id": "qs-psb", "agency_type": "police", "name": "青山县公安局"},
}
NAMES = ["王建国", "李秀英", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴芳"]

# (event type, publishing agency, days after the case starts) in the order the agencies send them.
SCRIPT: dict[str, list[tuple[str, str, float]]] = {}
PREFIX = {"release": "XS", "mediation": "TJ", "corrections": "JZ", "legal_aid": "FY", "services": "FW"}
RELEASE_DAYS = 35  # the notice comes 35 days before the expected release
# Release cases (必接必送): (what happens, key person?, steps). Times are days after the notice.
RELEASE_VARIANTS: list[tuple[str, bool, list[tuple[str, str, float]]]] = [
    (
        "key person, every step on time 重点对象全程按时",
        True,
        [
            ("ReleaseNoticeIssued", "prison", 0),
            ("ReleaseNoticeAcknowledged", "judicial_office", 1),
            ("PickupPlanned", "judicial_office", 20),
            ("PersonReleased", "prison", RELEASE_DAYS + 0.05),
            ("PersonReceived", "judicial_office", RELEASE_DAYS + 0.07),
            ("PersonDelivered", "judicial_office", RELEASE_DAYS + 0.3),
            ("PersonReported", "judicial_office", RELEASE_DAYS + 3),
            ("HouseholdRegistered", "police_station", RELEASE_DAYS + 8),
            ("ResettlementPlanCreated", "judicial_office", RELEASE_DAYS + 9),
        ],
    ),
    (
        "ordinary person 一般对象",
        False,
        [
            ("ReleaseNoticeIssued", "prison", 0),
            ("ReleaseNoticeAcknowledged", "judicial_office", 2),
            ("PersonReleased", "prison", RELEASE_DAYS + 0.05),
            ("PersonReported", "judicial_office", RELEASE_DAYS + 5),
            ("HouseholdRegistered", "police_station", RELEASE_DAYS + 6),
        ],
    ),
    (
        "key person, nobody at the gate 重点对象未接回",
        True,
        [
            ("ReleaseNoticeIssued", "prison", 0),
            ("ReleaseNoticeAcknowledged", "judicial_office", 1),
            ("PickupPlanned", "judicial_office", 25),
            ("PersonReleased", "prison", RELEASE_DAYS + 0.05),
        ],
    ),
]


# Mediation cases (一庭两所 and the four doors): (what happens, steps); a step is (event type, publishing
# agency, days after the referral, fields). Every dispute is in 东溪村 of 青山镇 (qs-jo-1, qs-ps-1,
# qs-tribunal-1). The hand-computed KPIs of these cases are in tests/unit/test_kpi_mediation.py.
CALM: dict[str, Any] = {
    "violence": False,
    "threats": False,
    "weapons": False,
    "party_count": 2,
    "repeated_calls": 0,
}
Step = tuple[str, str, float, dict[str, Any]]
MEDIATION_VARIANTS: list[tuple[str, list[Step]]] = [
    (
        "court pre-filing: signed, extended, agreed, judicially confirmed 诉前委派·延期·达成协议·司法确认",
        [
            ("DisputeReferred", "court", 0, {"door": "court_pre_filing", "amount_fen": 1_200_000}),
            ("DisputeRegistered", "judicial_office", 1, {}),
            ("MediationSessionHeld", "judicial_office", 6, {"level": "township"}),
            (
                "MediationExtensionAgreed",
                "judicial_office",
                8,
                {"extension_days": 10, "reason": "双方同意补充鉴定后再调 parties await an appraisal"},
            ),
            ("MediationAgreementReached", "judicial_office", 10, {"level": "township"}),
            ("JudicialConfirmationRequested", "judicial_office", 12, {"court": "tribunal"}),
            ("JudicialConfirmationGranted", "tribunal", 20, {"court": "tribunal"}),
            ("FollowUpVisitDone", "judicial_office", 20, {"performance": "fully"}),
        ],
    ),
    (
        "police, violence: a joint session the police station never accepts 警调对接·一庭两所·派出所未确认",
        [
            (
                "DisputeReferred",
                "police_station",
                0,
                {"door": "police", "risk": {"violence": True, "party_count": 4}},
            ),
            ("JointMediationAccepted", "tribunal", 0.5, {"member": "tribunal"}),
            ("JointMediationAccepted", "judicial_office", 0.6, {"member": "judicial_office"}),
            (
                "MediationSessionHeld",
                "tribunal",
                3,
                {"level": "joint", "joint_members": ["tribunal", "judicial_office"]},
            ),
        ],
    ),
    (
        "own intake in the village: risk flagged, failed, escalated, agreed 村调·民转刑预警·逐级上调",
        [
            ("DisputeRegistered", "judicial_office", 0, {}),
            ("MediationSessionHeld", "judicial_office", 2, {"level": "village"}),
            (
                "EscalationRiskFlagged",
                "judicial_office",
                3,
                {
                    "risk": {"threats": True},
                    "level": "imminent",
                    "stage": "in_mediation",
                    "police_station": None,
                },
            ),
            ("MediationFailed", "judicial_office", 5, {"level": "village", "reason": "no_agreement"}),
            ("MediationSessionHeld", "judicial_office", 7, {"level": "township"}),
            ("MediationAgreementReached", "judicial_office", 9, {"level": "township"}),
            ("FollowUpVisitDone", "judicial_office", 16, {"performance": "partly"}),
        ],
    ),
    (
        "court post-filing: failed, back to the court 诉中委托·调解不成·退回法院",
        [
            ("DisputeReferred", "court", 0, {"door": "court_post_filing"}),
            ("DisputeRegistered", "judicial_office", 1, {}),
            ("MediationSessionHeld", "judicial_office", 4, {"level": "township"}),
            ("MediationFailed", "judicial_office", 6, {"level": "township", "reason": "party_refused"}),
        ],
    ),
    (
        "petition office: agreed in the township 访调对接·乡镇化解",
        [
            ("DisputeReferred", "petition_office", 0, {"door": "petition"}),
            ("DisputeRegistered", "judicial_office", 1, {}),
            ("MediationAgreementReached", "judicial_office", 7, {"level": "township"}),
            ("FollowUpVisitDone", "judicial_office", 12, {"performance": "fully"}),
        ],
    ),
    (
        "police, a small matter: agreed in the village 警调对接·小事不出村",
        [
            ("DisputeReferred", "police_station", 0, {"door": "police", "amount_fen": 80_000}),
            ("MediationSessionHeld", "judicial_office", 2, {"level": "village"}),
            ("MediationAgreementReached", "judicial_office", 3, {"level": "village"}),
            ("FollowUpVisitDone", "judicial_office", 10, {"performance": "fully"}),
        ],
    ),
]


# 一所六站点 requests, each taken in at 青山镇司法所 (qs-jo-1) for an applicant of 东溪村: (what happens,
# steps) as for mediation. Whole days, so each request's days to close are exact. The hand-computed KPIs
# of these requests are in tests/unit/test_kpi_services.py.
SERVICES_VARIANTS: list[tuple[str, list[Step]]] = [
    (
        "notary: accepted, certificate issued, closed back to the office 公证协办·出证·办结回告",
        [
            ("ServiceRequestReceived", "judicial_office", 0, {"service": "notary"}),
            ("ServiceRequestAccepted", "service_body", 1, {}),
            ("ServiceRequestCompleted", "service_body", 9, {}),
        ],
    ),
    (
        "arbitration: never accepted, overdue, escalated to the superior 仲裁联系·逾期未受理·督办",
        [("ServiceRequestReceived", "judicial_office", 0, {"service": "arbitration"})],
    ),
    (
        "reconsideration: not accepted, the refusal closed back to the office 行政复议·不予受理·回告",
        [
            ("ServiceRequestReceived", "judicial_office", 0, {"service": "reconsideration"}),
            ("ServiceRequestRejected", "reconsideration_office", 3, {"stage": "not_accepted"}),
        ],
    ),
    (
        "law-enforcement feedback: accepted, answered after its 30 days 行政执法意见·逾期答复",
        [
            ("ServiceRequestReceived", "judicial_office", 0, {"service": "enforcement_feedback"}),
            ("ServiceRequestAccepted", "enforcement_supervision", 1, {}),
            ("ServiceRequestCompleted", "enforcement_supervision", 40, {}),
        ],
    ),
]
SUBJECTS = {
    "notary": "申请办理亲属关系公证",
    "arbitration": "追索劳动报酬，申请劳动争议仲裁",
    "reconsideration": "对行政处罚决定不服，申请行政复议",
    "enforcement_feedback": "反映乡镇市场监管执法问题",
}


def _services_fields(etype: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields a 一所六站点 step sets (the agencies are the hints' publisher, by field name)."""
    out = dict(fields)
    if etype == "ServiceRequestReceived":
        out["subject"] = SUBJECTS.get(fields["service"], "法律服务申请")
    if etype == "ServiceRequestAccepted":
        out.update(handoff_id=None, decision_due=None)
    if etype == "ServiceRequestRejected":
        out["reason"] = "不属于本机关受理范围 outside the office's remit"
    return out


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


def _mediation_fields(etype: str, fields: dict[str, Any], t: datetime) -> dict[str, Any]:
    """The fields a mediation step sets, agencies named by their kind in `AGENCIES`."""
    out: dict[str, Any] = {
        k: AGENCIES[v] if k in ("court", "member") else v for k, v in fields.items() if k != "risk"
    }
    if "joint_members" in out:
        out["joint_members"] = [AGENCIES[k] for k in out["joint_members"]]
    if etype in ("DisputeReferred", "DisputeRegistered", "EscalationRiskFlagged"):
        out["risk"] = {**CALM, "vulnerable_party": False, "notes": None, **fields.get("risk", {})}
    if etype in ("DisputeReferred", "DisputeRegistered"):
        out.setdefault("amount_fen", 500_000)
        out["dispute_type"] = "neighbour"
    if etype == "DisputeReferred":
        out.update(simplified_procedure=False, result_due=None)
    if etype == "MediationAgreementReached":
        out.update(effective_on=t.astimezone(SHANGHAI).date(), performance_due=None)
    if etype == "MediationExtensionAgreed":
        out["extended_until"] = None
    if etype in ("MediationExtensionAgreed", "JointMediationAccepted"):
        out["handoff_id"] = None  # the open handoff: agencies seldom know the hub's handoff ids
    return out


def _hints(person_index: int, publisher: str) -> dict[str, Any]:
    name = NAMES[person_index % len(NAMES)]

    def agency(field: str) -> dict[str, str]:
        for kind in AGENCIES:
            if kind.split("_")[0] in field:
                return AGENCIES[kind]
        return AGENCIES[publisher]

    return {
        "fengqiao.common.Person": lambda f: {
            "person_id": f"P-{person_index:04d}",
            "name": name,
            "id_number": SAMPLE_RIC,
            "phone": "13800000000",
        },
        "fengqiao.common.AgencyRef": agency,
        "fengqiao.common.Division": lambda f: {"code": VILLAGE, "name": "青山镇东溪村"},
    }


def demo_events(
    cases_per_workflow: int = 2, *, now: datetime | None = None, catalogue: Catalogue | None = None
) -> list[dict[str, Any]]:
    """The scenario as CloudEvents dicts, in publishing order, with times in the recent past of ``now``.

    Release cases run through `RELEASE_VARIANTS` (at least one of each, so there is always one
    missed pick-up); the other workflows get ``cases_per_workflow`` cases of their `SCRIPT`.
    """
    catalogue = catalogue or load()
    now = now or datetime.now(UTC)
    start = now - timedelta(days=RELEASE_DAYS + 12)
    cases: list[tuple[str, str, bool, list[Step]]] = []
    for c in range(max(cases_per_workflow, len(RELEASE_VARIANTS))):
        _, key, steps = RELEASE_VARIANTS[c % len(RELEASE_VARIANTS)]
        cases.append(("release", f"{PREFIX['release']}-{now:%Y}-{c + 1:04d}", key, [(*s, {}) for s in steps]))
    for c in range(max(cases_per_workflow, len(MEDIATION_VARIANTS))):
        _, mediation = MEDIATION_VARIANTS[c % len(MEDIATION_VARIANTS)]
        cases.append(("mediation", f"{PREFIX['mediation']}-{now:%Y}-{c + 1:04d}", False, mediation))
    for c in range(max(cases_per_workflow, len(SERVICES_VARIANTS))):
        _, requests = SERVICES_VARIANTS[c % len(SERVICES_VARIANTS)]
        cases.append(("services", f"{PREFIX['services']}-{now:%Y}-{c + 1:04d}", False, requests))
    for c in range(max(cases_per_workflow, len(CORRECTIONS_VARIANTS))):
        _, corrections = CORRECTIONS_VARIANTS[c % len(CORRECTIONS_VARIANTS)]
        cases.append(("corrections", f"{PREFIX['corrections']}-{now:%Y}-{c + 1:04d}", False, corrections))
    for c in range(max(cases_per_workflow, len(LEGAL_AID_VARIANTS))):
        _, legal_aid = LEGAL_AID_VARIANTS[c % len(LEGAL_AID_VARIANTS)]
        cases.append(("legal_aid", f"{PREFIX['legal_aid']}-{now:%Y}-{c + 1:04d}", False, legal_aid))
    for workflow, steps in SCRIPT.items():
        cases += [
            (workflow, f"{PREFIX[workflow]}-{now:%Y}-{c + 1:04d}", False, [(*s, {}) for s in steps])
            for c in range(cases_per_workflow)
        ]
    events: list[tuple[datetime, dict[str, Any]]] = []
    for n, (workflow, case_id, key, steps) in enumerate(cases):
        t0 = start + timedelta(hours=n)
        for i, (etype, publisher, days, fields) in enumerate(steps):
            t = t0 + timedelta(days=days)
            record = sample_event(catalogue[etype], case_id, seed=i, hints=_hints(n, publisher))
            stamp_instants(catalogue[etype].expanded, record, t)
            if workflow == "mediation":
                record.update(_mediation_fields(etype, fields, t))
            if workflow == "services":
                record.update(_services_fields(etype, fields))
            if workflow == "corrections":
                record.update(_corrections_fields(etype, fields, t))
            if workflow == "legal_aid":
                record.update(_legal_aid_fields(etype, fields, record))
            if etype == "ReleaseNoticeIssued":
                record["expected_release_date"] = (
                    (t0 + timedelta(days=RELEASE_DAYS)).astimezone(SHANGHAI).date()
                )
                record["key_person"] = key
                record["key_person_reasons"] = ["暴力犯罪 violent offence"] if key else []
                record["offence_category"] = "violent" if key else "property"
            events.append(
                (
                    t,
                    {
                        "specversion": "1.0",
                        "id": f"{case_id}-{i + 1:02d}",
                        "source": AGENCIES[publisher]["agency_id"],
                        "type": etype,
                        "subject": case_id,
                        "time": t.isoformat(),
                        "jurisdiction": VILLAGE,
                        "datacontenttype": "application/json",
                        "data": to_json(record),
                    },
                )
            )
    return [e for _, e in sorted(events, key=lambda te: te[0])]


def stamp_instants(schema: dict[str, Any], record: dict[str, Any], t: datetime) -> None:
    """Every instant of the event is the moment it happened."""
    for f in schema["fields"]:
        ft = f["type"]
        branch = next((b for b in ft if b != "null"), None) if isinstance(ft, list) else ft
        if isinstance(branch, dict) and branch.get("logicalType") == "timestamp-millis":
            record[f["name"]] = t
