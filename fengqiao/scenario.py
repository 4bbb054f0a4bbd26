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
}
NAMES = ["王建国", "李秀英", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴芳"]

# (event type, publishing agency, days after the case starts) in the order the agencies send them.
SCRIPT: dict[str, list[tuple[str, str, float]]] = {
    "corrections": [
        ("CommunityCorrectionOrdered", "court", 0),
        ("CorrectionDocumentsReceived", "judicial_bureau", 2),
        ("CorrectionReported", "judicial_bureau", 6),
    ],
    "legal_aid": [
        ("LegalAidApplied", "judicial_office", 0),
        ("LegalAidGranted", "judicial_bureau", 3),
        ("LawyerAssigned", "judicial_bureau", 4),
    ],
    "services": [
        ("ServiceRequestReceived", "judicial_office", 0),
        ("ServiceRequestAccepted", "service_body", 2),
        ("ServiceRequestCompleted", "service_body", 10),
    ],
}
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
