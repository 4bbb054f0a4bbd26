"""The versioned policy: the default file holds every rule of deadlines.md; bad files get clear
errors; a new version governs new cases only."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from fengqiao.streams.calendar import WorkingCalendar
from fengqiao.streams.policy import (
    POLICY_DIR,
    SHOW_COLUMNS,
    PolicyError,
    PolicySet,
    default_policy,
    default_policy_set,
    load_policy,
    parse_policy,
    show_rows,
)
from fengqiao.streams.policy_complete import check

CST = timezone(timedelta(hours=8))
DEFAULT_FILE = POLICY_DIR / "2026.1.yaml"

# One or more rule ids per row of deadlines.md, table by table, in the order of the rows.
EXPECTED_RULES = [
    # Release hand-over and 必接必送 (8 rows; the resettlement row has two periods)
    "release.notice",
    "release.acknowledge",
    "release.pickup_plan",
    "release.pickup",
    "release.delivery",
    "release.report",
    "release.assistance",
    "release.resettlement",
    "release.resettlement_after_corrections",
    # Mediation (10 rows; post-filing has an ordinary and a simplified limit)
    "mediation.pre_filing",
    "mediation.post_filing_ordinary",
    "mediation.post_filing_simplified",
    "mediation.online_confirm",
    "mediation.peoples",
    "mediation.joint_accept",
    "mediation.confirmation_window",
    "mediation.confirmation_decide",
    "mediation.petition_route",
    "mediation.risk_alert",
    "mediation.follow_up",
    # Community corrections (9 rows; fast-track investigations and notice/documents split)
    "corrections.investigation",
    "corrections.investigation_fast_track",
    "corrections.court_notice",
    "corrections.court_documents",
    "corrections.receipt",
    "corrections.report",
    "corrections.revocation_grounds",
    "corrections.arrest_decision",
    "corrections.revocation_ruling",
    "corrections.temporary_execution_transfer",
    "corrections.termination_notice",
    # Legal aid (7 rows)
    "legal_aid.organ_notify",
    "legal_aid.assign_notified",
    "legal_aid.forward_detained",
    "legal_aid.decide",
    "legal_aid.assign_granted",
    "legal_aid.objection",
    "legal_aid.means_test_exempt",
    # 一所六站点 (6 rows; acceptance and decision limits split)
    "services.notary.certificate",
    "services.legal_aid.decide",
    "services.arbitration.accept",
    "services.arbitration.award",
    "services.reconsideration.review",
    "services.reconsideration.decide",
    "services.enforcement_feedback.accept",
    "services.enforcement_feedback.answer",
    "services.legislative_opinion.acknowledge",
    "services.legislative_opinion.close",
]


@cache
def _raw_default() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(DEFAULT_FILE.read_text(encoding="utf-8"), Loader=loader)


def raw_default() -> dict[str, Any]:
    return copy.deepcopy(_raw_default())


def write_policy(tmp_path: Path, raw: dict[str, Any], name: str = "p.yaml") -> Path:
    path = tmp_path / name
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(yaml.dump(raw, Dumper=dumper, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def rule_of(raw: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(r for r in raw["rules"] if r["id"] == rule_id)


def test_default_policy_has_every_rule_of_deadlines_md() -> None:
    p = default_policy()
    assert p.version == "2026.1"
    assert p.applies_to == "new_cases"
    assert p.rule_ids() == EXPECTED_RULES
    assert check(DEFAULT_FILE) == []
    for r in p.rules:
        assert r.source and r.confidence in ("L", "P", "U") and r.title_zh and r.title_en


def test_default_rules_hold_the_numbers_of_deadlines_md() -> None:
    p = default_policy()
    bureau_police = ["judicial_bureau", "police_station"]
    expect = {  # id: (clock, length, unit, on_breach, escalate_to, confidence)
        "release.acknowledge": ("working_days", 3, "day", "HandoffOverdue", ["judicial_bureau"], "P"),
        "release.pickup": ("calendar_days", 0, "day", "PickupMissed", bureau_police, "P"),
        "release.delivery": ("hours", 24, "day", "DeliveryMissed", bureau_police, "P"),
        "release.report": (
            "calendar_days",
            30,
            "day",
            "ContactLost",
            ["police_station", "judicial_bureau"],
            "U",
        ),
        "release.assistance": ("working_days", 10, "day", "HandoffOverdue", ["superior"], "P"),
        "release.resettlement": ("calendar_days", 5, "year", "HandoffOverdue", [], "P"),
        "mediation.joint_accept": ("working_days", 2, "day", "HandoffOverdue", ["judicial_office"], "P"),
        "corrections.investigation": ("working_days", 10, "day", "HandoffOverdue", ["originator"], "U"),
        "corrections.report": (
            "calendar_days",
            10,
            "day",
            "CorrectionAbsconded",
            ["police_station", "originator", "procuratorate"],
            "L",
        ),
        "corrections.revocation_grounds": ("calendar_days", 1, "month", "RevocationGroundsArisen", [], "L"),
        "corrections.arrest_decision": ("hours", 48, "day", "HandoffOverdue", ["court"], "L"),
        "legal_aid.decide": ("calendar_days", 7, "day", "HandoffOverdue", ["judicial_bureau"], "L"),
        "services.notary.certificate": ("working_days", 15, "day", "HandoffOverdue", ["superior"], "L"),
    }
    for rid, (clock, length, unit, breach, escalate, conf) in expect.items():
        r = p.rule(rid)
        assert (r.clock, r.length, r.unit, r.on_breach, [str(s) for s in r.escalate_to], r.confidence) == (
            clock,
            length,
            unit,
            breach,
            escalate,
            conf,
        ), rid
    notice = p.rule("release.notice")
    assert (notice.clock, notice.length, notice.before) == (
        "before_event",
        30,
        "ReleaseNoticeIssued.expected_release_date",
    )
    assert str(p.rule("corrections.investigation").obliged[0]) == "judicial_bureau:corrections_agency"
    assert p.rule("services.arbitration.award").extension.length == 15
    assert p.rule("mediation.pre_filing").extension.length is None
    assert p.rule("legal_aid.means_test_exempt").kind == "exemption"


def test_services_and_mediation_risk() -> None:
    p = default_policy()
    assert set(p.services) == {
        "notary",
        "legal_aid",
        "arbitration",
        "reconsideration",
        "enforcement_feedback",
        "legislative_opinion",
    }
    assert p.services["notary"].decide == "services.notary.certificate"
    assert str(p.services["legal_aid"].body) == "judicial_bureau:legal_aid_centre"
    risk = p.mediation_risk
    assert risk is not None and risk.confidence == "P"
    calm = {"violence": False, "party_count": 2, "repeated_calls": 0}
    assert risk.joint_session_reasons(calm, 500_000) == []
    assert risk.joint_session_reasons({"threats": True}) == ["threats"]
    assert risk.joint_session_reasons({"party_count": 3, "repeated_calls": 4}, 10_000_000) == [
        "party_count 3 >= 3",
        "repeated_calls 4 >= 3",
        "amount_fen 10000000 >= 10000000",
    ]


def test_rule_deadlines() -> None:
    p, cal = default_policy(), WorkingCalendar()
    # Assigned Thu 2025-09-25 10:00 CST: Fri 26 = 1, Sun 28 (make-up) = 2, Mon 29 = 3.
    d = p.deadline("release.acknowledge", datetime(2025, 9, 25, 10, tzinfo=CST), cal)
    assert d == {
        "due": datetime(2025, 9, 29, 16, tzinfo=UTC),
        "rule_id": "release.acknowledge",
        "policy_version": "2026.1",
        "clock": "working_days",
        "length": 3,
        "source": "policy",
    }
    # Expected release Wed 2026-05-20: notice due by 24:00 of Apr 20.
    notice_due = p.rule("release.notice").due(None, before=date(2026, 5, 20))
    assert notice_due == datetime(2026, 4, 20, 16, tzinfo=UTC)
    # Out of contact since 2026-01-31: more than a month once Feb 28 has ended; Avro length in days.
    d = p.deadline("corrections.revocation_grounds", datetime(2026, 1, 31, 9, tzinfo=CST))
    assert d["due"] == datetime(2026, 2, 28, 16, tzinfo=UTC) and d["length"] == 28
    with pytest.raises(ValueError, match="exemption"):
        p.rule("legal_aid.means_test_exempt").due(datetime(2026, 1, 1, tzinfo=UTC))


def test_show_rows() -> None:
    rows = show_rows(default_policy())
    assert len(rows) == len(EXPECTED_RULES)
    assert tuple(rows[0]) == SHOW_COLUMNS
    ack = next(r for r in rows if r["id"] == "release.acknowledge")
    assert ack == {
        "id": "release.acknowledge",
        "中文": "司法所签收衔接任务",
        "English": "Judicial office acknowledges the release hand-over",
        "clock": "working_days",
        "length": "3",
        "start": "ReleaseHandoffAssigned",
        "on breach": "HandoffOverdue",
        "escalate to": "judicial_bureau",
        "source": "policy",
        "confidence": "P",
    }
    award = next(r for r in rows if r["id"] == "services.arbitration.award")
    assert award["length"] == "45 (+15)"


def test_a_new_version_governs_new_cases_only(tmp_path: Path) -> None:
    raw = raw_default()
    raw["version"] = "2026.2"
    raw["effective_from"] = date(2026, 7, 1)
    rule_of(raw, "release.acknowledge")["length"] = 5
    newer = write_policy(tmp_path, raw, "2026.2.yaml")
    policies = PolicySet.load(DEFAULT_FILE, newer)
    assert policies.versions() == ["2026.1", "2026.2"]
    # 2026-07-01 00:00 in Shanghai is 2026-06-30 16:00 UTC.
    assert policies.for_new_case(datetime(2026, 6, 30, 15, 59, tzinfo=UTC)).version == "2026.1"
    assert policies.for_new_case(datetime(2026, 6, 30, 16, 0, tzinfo=UTC)).version == "2026.2"
    opened = policies.for_new_case(datetime(2026, 8, 3, 9, tzinfo=CST))
    assert opened.rule("release.acknowledge").length == 5
    assert policies.get("2026.1").rule("release.acknowledge").length == 3
    # A case opened under 2026.1 keeps it while open.
    assert policies.for_open_case("2026.1", datetime(2026, 9, 1, tzinfo=UTC)).version == "2026.1"
    # The new version's deadline for the same start is two working days later.
    start, cal = datetime(2026, 8, 3, 9, tzinfo=CST), WorkingCalendar()  # Mon
    assert policies.get("2026.1").rule("release.acknowledge").due(start, cal) == datetime(
        2026, 8, 6, 16, tzinfo=UTC
    )  # Thu
    assert opened.rule("release.acknowledge").due(start, cal) == datetime(2026, 8, 10, 16, tzinfo=UTC)  # Mon
    with pytest.raises(PolicyError, match="no policy version is in effect"):
        policies.for_new_case(datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(KeyError, match=r"2025\.9"):
        policies.get("2025.9")


def test_a_version_for_all_open_cases(tmp_path: Path) -> None:
    raw = raw_default()
    raw.update(version="2026.3", effective_from=date(2026, 10, 1), applies_to="all_open_cases")
    policies = PolicySet([default_policy(), load_policy(write_policy(tmp_path, raw))])
    assert policies.for_open_case("2026.1", datetime(2026, 9, 1, tzinfo=UTC)).version == "2026.1"
    assert policies.for_open_case("2026.1", datetime(2026, 10, 2, tzinfo=UTC)).version == "2026.3"
    with pytest.raises(PolicyError, match="already loaded"):
        PolicySet([default_policy(), default_policy()])


def test_default_policy_set_is_the_shipped_folder() -> None:
    assert "2026.1" in default_policy_set()


def errors_for(tmp_path: Path, edit: Any) -> list[str]:
    raw = raw_default()
    edit(raw)
    path = write_policy(tmp_path, raw)
    errors = check(path)
    assert errors and all(e.startswith(f"{path}: ") for e in errors)
    return [e.removeprefix(f"{path}: ") for e in errors]


def test_clock_error_names_the_rule_and_field(tmp_path: Path) -> None:
    errors = errors_for(tmp_path, lambda raw: rule_of(raw, "release.acknowledge").update(clock="work_days"))
    assert errors == [
        "rule release.acknowledge: clock 'work_days' is not one of calendar_days, "
        "working_days, hours, before_event"
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda raw: rule_of(raw, "release.acknowledge").update(confidence="X"),
            "rule release.acknowledge: confidence 'X' is not one of L, P, U",
        ),
        (
            lambda raw: rule_of(raw, "release.acknowledge").update(escalate_to=["judicial_buro"]),
            "rule release.acknowledge: escalate_to[0]: agency 'judicial_buro' is not an agency type",
        ),
        (
            lambda raw: rule_of(raw, "release.acknowledge").update(obliged="judicial_bureau:corrections"),
            "rule release.acknowledge: obliged[0]: agency 'judicial_bureau:corrections': role 'corrections'",
        ),
        (
            lambda raw: rule_of(raw, "release.acknowledge").pop("source"),
            "rule release.acknowledge: source: required",
        ),
        (
            lambda raw: rule_of(raw, "release.acknowledge").update(lenght=3),
            "rule release.acknowledge: unknown field 'lenght'",
        ),
        (
            lambda raw: rule_of(raw, "release.acknowledge").update(length=-1),
            "rule release.acknowledge: length: Input should be greater than or equal to 0",
        ),
        (
            lambda raw: rule_of(raw, "release.notice").pop("before"),
            "rule release.notice: before: a before_event clock needs the event or field it counts back from",
        ),
        (
            lambda raw: rule_of(raw, "release.delivery").update(unit="month"),
            "rule release.delivery: unit: month goes with calendar_days or before_event, not hours",
        ),
        (
            lambda raw: rule_of(raw, "release.acknowledge").update(workflow="mediation"),
            "rule release.acknowledge: id: 'release.acknowledge' must start with its workflow 'mediation.'",
        ),
        (
            lambda raw: rule_of(raw, "release.acknowledge").update(start="ReleaseHandoffAsigned"),
            "rule release.acknowledge: start 'ReleaseHandoffAsigned': no event ReleaseHandoffAsigned in the "
            "catalogue",
        ),
        (
            lambda raw: rule_of(raw, "release.pickup").update(start="PersonReleased.released"),
            "rule release.pickup: start 'PersonReleased.released': "
            "event PersonReleased has no field 'released'",
        ),
        (
            lambda raw: rule_of(raw, "release.pickup").update(on_breach="PickupMised"),
            "rule release.pickup: on_breach 'PickupMised': no event PickupMised in the catalogue",
        ),
        (
            lambda raw: rule_of(raw, "release.pickup").update(fulfilled_by=["PersonReceived.received_at"]),
            "rule release.pickup: fulfilled_by 'PersonReceived.received_at' is not EventName",
        ),
        (
            lambda raw: rule_of(raw, "release.acknowledge").update(id="release.notice"),
            "rule release.notice: id: duplicate rule id",
        ),
        (
            lambda raw: raw["services"].update(
                notary={"body": "service_body", "decide": "services.notary.cert"}
            ),
            "services.notary.decide: no rule 'services.notary.cert' in this policy",
        ),
        (
            lambda raw: raw.update(applies_to="everything"),
            "applies_to: Input should be 'new_cases' or 'all_open_cases'",
        ),
        (lambda raw: raw.pop("version"), "version: required"),
        (
            lambda raw: raw["mediation_risk"]["joint_session"].update(flags=["violent"]),
            "mediation_risk.joint_session.flags: flag 'violent' is not one of",
        ),
    ],
)
def test_errors_name_the_rule_and_the_field(tmp_path: Path, edit: Any, expected: str) -> None:
    errors = errors_for(tmp_path, edit)
    assert any(e.startswith(expected) for e in errors), errors


def test_all_errors_of_a_file_are_reported(tmp_path: Path) -> None:
    def edit(raw: dict[str, Any]) -> None:
        rule_of(raw, "release.acknowledge")["clock"] = "work_days"
        rule_of(raw, "release.pickup")["confidence"] = "high"

    errors = errors_for(tmp_path, edit)
    assert [e.split(":")[0] for e in errors] == ["rule release.acknowledge", "rule release.pickup"]


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [\n", encoding="utf-8")
    assert check(bad)[0].startswith(f"{bad}: not valid YAML")
    bad.write_text("- just a list\n", encoding="utf-8")
    assert check(bad) == [f"{bad}: expected a mapping with version, effective_from and rules"]
    assert check(tmp_path / "missing.yaml")[0].startswith(f"{tmp_path / 'missing.yaml'}: cannot read")
    with pytest.raises(PolicyError) as e:
        parse_policy({"version": "x", "effective_from": "2026-01-01", "rules": [{"id": "release.a"}]})
    assert "<memory>: rule release.a: workflow: required" in e.value.errors
