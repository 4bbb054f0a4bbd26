"""The demo's cases as CloudEvents: each workflow's variants played in turn, in publishing order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fengqiao.scenario.corrections import CORRECTIONS_VARIANTS, _corrections_fields
from fengqiao.scenario.county import AGENCIES, NAMES, VILLAGE, Step
from fengqiao.scenario.legal_aid import LEGAL_AID_VARIANTS, _legal_aid_fields
from fengqiao.scenario.mediation import MEDIATION_VARIANTS, _mediation_fields
from fengqiao.scenario.release import RELEASE_DAYS, RELEASE_VARIANTS
from fengqiao.scenario.services import SERVICES_VARIANTS, _services_fields
from fengqiao.schemas.catalogue import Catalogue, load
from fengqiao.schemas.codec import SHANGHAI, to_json
from fengqiao.schemas.samples import sample_event, sample_ric

# (event type, publishing agency, days after the case starts) in the order the agencies send them.
SCRIPT: dict[str, list[tuple[str, str, float]]] = {}
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
            "id_number": sample_ric(person_index),
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
