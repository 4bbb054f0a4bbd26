"""The demo scenario: a fictional county, 青山县, and a script of cases across the workflows.

Each case is a sequence of CloudEvents (structured JSON, as an agency would send them), so the
demo goes through the same validation as `fengqiao publish` and the HTTP gateway.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fengqiao.schemas.catalogue import Catalogue, load
from fengqiao.schemas.codec import to_json
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

# (event type, publishing agency) in the order the agencies send them.
SCRIPT: dict[str, list[tuple[str, str]]] = {
    "release": [
        ("ReleaseNoticeIssued", "prison"),
        ("ReleaseNoticeAcknowledged", "judicial_office"),
        ("PickupPlanned", "judicial_office"),
        ("PersonReleased", "prison"),
        ("PersonReceived", "judicial_office"),
        ("PersonDelivered", "judicial_office"),
        ("PersonReported", "judicial_office"),
        ("HouseholdRegistered", "police_station"),
    ],
    "mediation": [
        ("DisputeReferred", "police_station"),
        ("MediationSessionHeld", "judicial_office"),
        ("MediationAgreementReached", "judicial_office"),
    ],
    "corrections": [
        ("CommunityCorrectionOrdered", "court"),
        ("CorrectionDocumentsReceived", "judicial_bureau"),
        ("CorrectionReported", "judicial_bureau"),
    ],
    "legal_aid": [
        ("LegalAidApplied", "judicial_office"),
        ("LegalAidGranted", "judicial_bureau"),
        ("LawyerAssigned", "judicial_bureau"),
    ],
    "services": [
        ("ServiceRequestReceived", "judicial_office"),
        ("ServiceRequestAccepted", "service_body"),
        ("ServiceRequestCompleted", "service_body"),
    ],
}
PREFIX = {"release": "XS", "mediation": "TJ", "corrections": "JZ", "legal_aid": "FY", "services": "FW"}


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
    """The scenario as CloudEvents dicts, in publishing order, with times around ``now``."""
    catalogue = catalogue or load()
    now = now or datetime.now(UTC)
    events: list[dict[str, Any]] = []
    n = 0
    for workflow, steps in SCRIPT.items():
        for c in range(cases_per_workflow):
            n += 1
            case_id = f"{PREFIX[workflow]}-{now:%Y}-{c + 1:04d}"
            start = now - timedelta(days=40) + timedelta(hours=n)
            for i, (etype, publisher) in enumerate(steps):
                ev = catalogue[etype]
                record = sample_event(ev, case_id, seed=i, hints=_hints(n, publisher))
                if etype == "ReleaseNoticeIssued":
                    record["expected_release_date"] = (start + timedelta(days=35)).date()
                    record["key_person"] = c % 2 == 0
                t = start + timedelta(days=i * 5)
                events.append(
                    {
                        "specversion": "1.0",
                        "id": f"{case_id}-{i + 1:02d}",
                        "source": f"{AGENCIES[publisher]['agency_id']}",
                        "type": etype,
                        "subject": case_id,
                        "time": t.isoformat(),
                        "jurisdiction": VILLAGE,
                        "datacontenttype": "application/json",
                        "data": to_json(record),
                    }
                )
    return events
