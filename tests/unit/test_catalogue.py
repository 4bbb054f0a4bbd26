"""The event catalogue: completeness against the workflow contract, conventions, and the docs."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import fastavro
import pytest

from fengqiao.schemas.catalogue import PRIMITIVES, load
from fengqiao.schemas.docs import render_markdown

ROOT = Path(__file__).resolve().parents[2]

# Every backticked CamelCase event name in shared/domain/workflows.md, copied here so the test does
# not read ../shared at CI time. Left out: `Rejected` (shorthand there for JudicialConfirmationRejected,
# which is listed). The agency types in that file are lower-case and never match.
WORKFLOW_EVENTS = [
    "AssistanceDenied",
    "AssistanceGranted",
    "AssistanceRequested",
    "CommunityCorrectionOrdered",
    "ContactLost",
    "CorrectionAbsconded",
    "CorrectionDocumentsReceived",
    "CorrectionReported",
    "CorrectionTerminated",
    "CorrectionViolationRecorded",
    "DeliveryMissed",
    "DisputeEscalated",
    "DisputeReferred",
    "DisputeRegistered",
    "EscalationRiskFlagged",
    "ExecutionPlaceChanged",
    "FollowUpVisitDone",
    "HandoffEscalated",
    "HandoffOverdue",
    "HardshipCheckRequested",
    "HardshipStatusReported",
    "HouseholdRegistered",
    "InvestigationReported",
    "InvestigationRequested",
    "JointMediationAccepted",
    "JudicialConfirmationGranted",
    "JudicialConfirmationRejected",
    "JudicialConfirmationRequested",
    "LawyerAssigned",
    "LegalAidApplied",
    "LegalAidCaseClosed",
    "LegalAidDenied",
    "LegalAidGranted",
    "LegalAidNotified",
    "LegalAidObjectionDecided",
    "MediationAgreementReached",
    "MediationAssigned",
    "MediationFailed",
    "MediationSessionHeld",
    "PersonDelivered",
    "PersonReceived",
    "PersonReleased",
    "PersonReported",
    "PersonTakenIntoCustody",
    "PickupEscortRequested",
    "PickupMissed",
    "PickupPlanned",
    "ReleaseHandoffAssigned",
    "ReleaseHandoffReassigned",
    "ReleaseNoticeAcknowledged",
    "ReleaseNoticeIssued",
    "ResettlementClosed",
    "ResettlementPlanCreated",
    "ResidenceDisputed",
    "ReturnedToCourt",
    "RevocationDecided",
    "RevocationGroundsArisen",
    "RevocationProposed",
    "ServiceRequestAccepted",
    "ServiceRequestClosed",
    "ServiceRequestCompleted",
    "ServiceRequestForwarded",
    "ServiceRequestReceived",
    "ServiceRequestRejected",
]
# The generic handoff engine's events (workflow "*"), beyond the two workflows.md names.
ENGINE_EVENTS = [
    "HandoffAssigned",
    "HandoffAcknowledged",
    "HandoffFulfilled",
    "HandoffOverdue",
    "HandoffEscalated",
    "HandoffReassigned",
    "HandoffCancelled",
    "RoutingFailed",
    "DeadlineNotComputable",  # issue 3: a calendar year nobody covers is an error event, not a guess
    "PersonErased",  # issue 17: crypto-shredding recorded on each case of the person
]
# Events the mediation workflow (issue 6) added beyond workflows.md: the parties' consent to extend and
# the deadline it moves, the hub's alert to the police station, a dispute turned criminal.
MEDIATION_EVENTS = [
    "DisputeTurnedCriminal",
    "EscalationRiskAlerted",
    "MediationDeadlineExtended",
    "MediationExtensionAgreed",
]
# Events the services workflow (issue 7) added: a body's extension of its decision limit where the law
# allows one, and the deadline the hub moves.
SERVICES_EVENTS = ["ServiceDeadlineExtended", "ServiceRequestExtended"]
# Events the corrections workflow (issue 7) added: the hand-over to the corrections agency with its
# copies (抄送), and the notices of the end of a correction (CCL art. 44).
CORRECTIONS_EVENTS = ["CorrectionHandoffAssigned", "CorrectionTerminationNotified"]
# Events the legal aid workflow (issue 7) added: a detained person's application awaiting forwarding,
# the objection to a refusal, the hub's register lookup (art. 42) and its forwarding of the assignment.
LEGAL_AID_EVENTS = [
    "LawyerAssignmentForwarded",
    "LegalAidAppliedInCustody",
    "LegalAidObjectionFiled",
    "MeansTestExemptionDecided",
]
HUB_RECORDS = ["CaseUpdated", "DeadLetter"]
WORKFLOWS = {"release", "mediation", "corrections", "legal_aid", "services"}
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def cat():
    return load()


def test_every_workflow_event_is_in_the_catalogue(cat):
    expected = WORKFLOW_EVENTS + MEDIATION_EVENTS + SERVICES_EVENTS + CORRECTIONS_EVENTS + ENGINE_EVENTS
    expected += HUB_RECORDS + LEGAL_AID_EVENTS
    missing = [n for n in expected if n not in cat]
    assert missing == []


def test_nothing_unexpected_in_the_catalogue(cat):
    known = set(WORKFLOW_EVENTS + MEDIATION_EVENTS + SERVICES_EVENTS + ENGINE_EVENTS + HUB_RECORDS)
    known |= set(CORRECTIONS_EVENTS) | set(LEGAL_AID_EVENTS)
    assert sorted(e.name for e in cat if e.name not in known) == []


def test_workflows_and_packages(cat):
    for ev in cat:
        package = ev.path.split("/", 1)[0]
        if ev.name in ENGINE_EVENTS:
            assert (ev.workflow, ev.direction, package) == ("*", "hub", "handoff"), ev.name
        elif ev.name in HUB_RECORDS:
            assert ev.workflow == "hub"
        else:
            assert ev.workflow in WORKFLOWS, ev.name
            assert package == ev.workflow, ev.name
        assert ev.fullname == f"fengqiao.{package}.{ev.name}"


def test_in_events_name_valid_publishers(cat):
    symbols = set(cat.named["fengqiao.common.AgencyType"]["symbols"]) - {"hub"}
    for ev in cat:
        if ev.direction == "in":
            assert ev.publishers, ev.name
            assert set(ev.publishers) <= symbols, (ev.name, ev.publishers)
            assert len(set(ev.publishers)) == len(ev.publishers), ev.name
        else:
            assert ev.publishers == (), ev.name


def test_event_docs_name_the_chinese_term(cat):
    for ev in cat:
        assert ev.doc, ev.name
        assert CJK.search(ev.doc), f"{ev.name}: the doc should carry the Chinese term"


def test_person_fields_are_personal_data(cat):
    person = cat.named["fengqiao.common.Person"]
    for f in person["fields"]:
        assert bool(f.get("pii")) == (f["name"] != "person_id"), f["name"]
    id_number = next(f for f in person["fields"] if f["name"] == "id_number")
    assert id_number["fengqiao.check"] == "cn.ric"


def _records(schema: Any):
    """Every record definition inside a raw schema."""
    if isinstance(schema, list):
        for s in schema:
            yield from _records(s)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t == "record":
            yield schema
            for f in schema["fields"]:
                yield from _records(f["type"])
        elif t == "array":
            yield from _records(schema["items"])
        elif t == "map":
            yield from _records(schema["values"])
        elif isinstance(t, (dict, list)):
            yield from _records(t)


def test_optional_fields_default_to_null_and_arrays_to_empty(cat):
    for full, schema in cat.named.items():
        for rec in _records(schema):
            for f in rec["fields"]:
                t = f["type"]
                where = f"{full}.{f['name']}"
                if isinstance(t, list) and "null" in t:
                    assert t[0] == "null" and f.get("default", "missing") is None, where
                if isinstance(t, dict) and t.get("type") == "array":
                    assert f.get("default") == [], where


def test_free_text_about_people_is_marked(cat):
    # Fields that by their name hold a person's name, contact or situation must be marked.
    sensitive = re.compile(r"(^|_)(name|phone|address|notes|details|situation|summary|description)$")
    exempt = {"fengqiao.common.AgencyRef.name", "fengqiao.common.Division.name"}
    for full, schema in cat.named.items():
        for rec in _records(schema):
            for f in rec["fields"]:
                where = f"{rec['name']}.{f['name']}"
                if f"{full}.{f['name']}" in exempt or not sensitive.search(f["name"]):
                    continue
                t = f["type"]
                if t in ("string", ["null", "string"]) or t == {"type": "array", "items": "string"}:
                    assert f.get("pii") is True, where


# -- sample records -----------------------------------------------------------------------------

STRINGS = {
    "case_id": "case-2026-000123",
    "code": "320581101001",
    "id_number": "11010519491231002X",
    "phone": "13800138000",
    "agency_id": "js-changshu-qingshan-sfs",
    "policy_version": "2026.1",
    "rule_id": "release.acknowledge",
}
INSTANT = dt.datetime(2026, 3, 2, 1, 30, 15, 123000, tzinfo=dt.UTC)
DATE = dt.date(2026, 3, 2)


def sample(schema: Any, named: dict[str, Any], *, full: bool, name: str = "", ns: str | None = None) -> Any:
    """A plausible value of an expanded schema; ``full`` fills optional fields, else uses defaults."""
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return {
                "null": None,
                "boolean": True,
                "int": 3,
                "long": 1_250_000,
                "float": 1.5,
                "double": 2.5,
                "bytes": b"\x00\x01",
                "string": STRINGS.get(name, f"{name or 'text'} 示例"),
            }[schema]
        ref = schema if schema in named else f"{ns}.{schema}"
        return sample(named[ref], named, full=full, name=name, ns=ns)
    if isinstance(schema, list):
        branch = next(b for b in schema if b != "null") if full or "null" not in schema else "null"
        return sample(branch, named, full=full, name=name, ns=ns)
    t = schema["type"]
    if schema.get("logicalType") == "timestamp-millis":
        return INSTANT
    if schema.get("logicalType") == "date":
        return DATE
    if t in ("record", "enum", "fixed"):
        ns = schema.get("namespace", ns)
        named[schema["name"] if "." in schema["name"] else f"{ns}.{schema['name']}"] = schema
    if t == "record":
        out = {}
        for f in schema["fields"]:
            if not full and "default" in f:
                out[f["name"]] = f["default"]
            else:
                out[f["name"]] = sample(f["type"], named, full=full, name=f["name"], ns=ns)
        return out
    if t == "enum":
        return schema["symbols"][-1 if full else 0]
    if t == "fixed":
        return b"\x00" * schema["size"]
    if t == "array":
        return [sample(schema["items"], named, full=full, name=name, ns=ns)]
    if t == "map":
        return {"k": sample(schema["values"], named, full=full, name=name, ns=ns)}
    return sample(t, named, full=full, name=name, ns=ns)


def roundtrip(parsed: Any, record: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, record)
    buf.seek(0)
    return fastavro.schemaless_reader(buf, parsed)


@pytest.mark.parametrize("name", sorted(WORKFLOW_EVENTS + ENGINE_EVENTS + HUB_RECORDS))
@pytest.mark.parametrize("full", [True, False], ids=["full", "minimal"])
def test_event_parses_and_roundtrips(cat, name, full):
    ev = cat[name]
    parsed = fastavro.parse_schema(dict(ev.expanded))
    assert ev.expanded["fields"][0] == {**ev.expanded["fields"][0], "name": "case_id", "type": "string"}
    record = sample(ev.expanded, {}, full=full)
    assert fastavro.validate(record, parsed, raise_errors=True)
    assert roundtrip(parsed, record) == record


def test_docs_are_up_to_date(cat):
    committed = (ROOT / "docs" / "events.md").read_text("utf-8")
    assert committed == render_markdown(cat), "run: python -m fengqiao.schemas.docs"


def test_docs_cover_every_event_and_shared_type(cat):
    text = render_markdown(cat)
    for ev in cat:
        assert f"\n### {ev.name}\n" in text
    for full in cat.named:
        if full.startswith("fengqiao.common."):
            assert f"\n### {full.rsplit('.', 1)[1]}\n" in text
    assert text.index("## Handoff engine (every workflow)") < text.index("## Hub-internal records")
    assert text.index("## Hub-internal records") < text.index("## Shared types")
