"""The demo's mediation cases (矛盾纠纷调解: 一庭两所 and the four doors) and the fields their steps set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fengqiao.scenario.county import AGENCIES, Step
from fengqiao.schemas.codec import SHANGHAI

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
