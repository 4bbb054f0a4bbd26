"""The engine's generic extensions (issue 6), on their own: a toy workflow declared over mediation's
events shows reactions chaining into steps, an alert, a decision closing the case; the helpers that
move a deadline and know a schema's named types are checked directly. Mediation itself, which uses
every extension, is told in tests/scenarios/test_mediation.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from helpers import release_event as agency_event

from fengqiao.schemas.codec import named_types, to_json
from fengqiao.streams import engine
from fengqiao.streams.engine import Alert, Reaction, Step, View, Workflow, _extended
from fengqiao.streams.policy import default_policy
from fengqiao.streams.workflows import load_context

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday, 10:00 in Beijing
PLACE = {"code": "339901001001", "name": None}
CALM = {"violence": False, "threats": False, "weapons": False, "party_count": 2, "repeated_calls": 0}


def assigned(v: View) -> dict[str, Any]:
    """The toy's own decision: always the office of 梅岭乡 (qs-jo-3), wherever the dispute is."""
    return {
        "handoff_id": v.next_handoff_id("work"),
        "step": "work",
        "obliged": v.agency("qs-jo-3"),
        "task": "toy",
        "level": "township",
        "door": v.record["door"],
        "assigned_at": v.now,
    }


def returned(v: View) -> dict[str, Any] | None:
    if v.fact("DisputeReferred.door") == "police":
        return None  # a reaction may decide nothing
    return {
        "handoff_id": f"{v.case['case_id']}/work/1",
        "step": "work",
        "obliged": v.fact("DisputeReferred.referrer"),
        "task": "toy",
        "referrer_case_number": "X-1",
        "door": v.fact("DisputeReferred.door"),
        "reason": "toy",
        "returned_at": v.now,
    }


TOY = Workflow(
    name="mediation",
    title_zh="toy",
    opened_by=("DisputeReferred",),
    closed_by=("ReturnedToCourt",),
    division=lambda c: engine.fact(c, "DisputeReferred.dispute_place.code"),
    reactions=(
        Reaction("MediationAssigned", ("DisputeReferred",), assigned),
        Reaction("ReturnedToCourt", ("MediationFailed",), returned),
    ),
    alerts=(
        Alert("mediation.risk_alert", ("EscalationRiskFlagged",), "EscalationRiskAlerted", "police_station"),
    ),
    steps=(
        Step(
            "work",
            None,
            "toy",
            opened_by=("MediationAssigned",),
            obliged=("judicial_office",),
            obliged_from="obliged",
            fulfilled_by=("MediationAgreementReached",),
            cancelled_by=("MediationFailed",),
        ),
    ),
)


@pytest.fixture
def ctx() -> Iterator[engine.Context]:
    real = engine._REGISTRY["mediation"]
    ctx = load_context()
    ctx.workflows["mediation"] = engine.register(TOY)
    try:
        yield ctx
    finally:
        engine.register(real)


class Toy:
    def __init__(self, ctx: engine.Context) -> None:
        self.ctx, self.case, self.log, self.decided = ctx, None, [], []

    def publish(self, etype: str, t: datetime, source: str, **fields: Any) -> list[str]:
        env, record = agency_event(etype, "T-1", t, source, **fields)
        out = engine.handle(self.case, env, record, self.ctx, t)
        self.case = out.case
        self.log += [(env, record), *out.decisions]
        self.decided += out.decisions
        return [e.type for e, _ in out.decisions]

    def refer(self, door: str, source: str = "qs-court", kind: str = "court") -> list[str]:
        ref = {"agency_id": source, "agency_type": kind, "name": None}
        return self.publish(
            "DisputeReferred", T0, source, referrer=ref, door=door, dispute_place=PLACE, risk=CALM
        )

    def replayed(self) -> engine.Case:
        case = None
        for env, record in self.log:
            case, _ = engine.fold(case, env, record, "mediation")
        return case


def test_a_reaction_decides_and_its_decision_opens_a_step_for_the_agency_it_names(
    ctx: engine.Context,
) -> None:
    toy = Toy(ctx)
    assert toy.refer("court_pre_filing") == ["MediationAssigned", "HandoffAssigned"]
    [(env, record)] = [(e, r) for e, r in toy.decided if e.type == "MediationAssigned"]
    work = toy.case["handoffs"]["T-1/work/1"]
    assert work["obliged"]["agency_id"] == "qs-jo-3"  # named by the decision, not routed by place (qs-jo-1)
    handoff = next(r for e, r in toy.decided if e.type == "HandoffAssigned")
    assert handoff["caused_by_event_id"] == env.id  # the decision caused the assignment
    assert record["policy_version"] == "2026.1" and record["caused_by_event_id"] == toy.log[0][0].id


def test_an_alert_goes_at_once_to_the_agency_the_event_names_or_by_place(ctx: engine.Context) -> None:
    toy = Toy(ctx)
    toy.refer("court_pre_filing")
    flag = {"flagged_by": {"agency_id": "qs-jo-1", "agency_type": "judicial_office", "name": None}}
    station2 = {"agency_id": "qs-ps-2", "agency_type": "police_station", "name": None}
    at = T0 + timedelta(hours=1)
    assert toy.publish(
        "EscalationRiskFlagged", at, "qs-jo-1", police_station=station2, risk=CALM, **flag
    ) == ["EscalationRiskAlerted"]
    toy.publish(
        "EscalationRiskFlagged", at + timedelta(hours=1), "qs-jo-1", police_station=None, risk=CALM, **flag
    )
    alerts = [to_json(r) for e, r in toy.decided if e.type == "EscalationRiskAlerted"]
    assert [[a["agency_id"] for a in x["alerted"]] for x in alerts] == [["qs-ps-2"], ["qs-ps-1"]]
    assert [a["type"] for a in toy.case["alerts"]] == ["EscalationRiskAlerted"] * 2
    assert (
        alerts[0]["rule_id"] == "mediation.risk_alert"
        and alerts[0]["detected_at"] == "2026-09-01T03:00:00.000Z"
    )


def test_a_decision_in_closed_by_ends_the_case_and_a_reaction_may_decide_nothing(ctx: engine.Context) -> None:
    toy = Toy(ctx)
    toy.refer("court_pre_filing")
    decided = toy.publish("MediationFailed", T0 + timedelta(days=2), "qs-jo-3", level="township")
    assert decided == ["HandoffCancelled", "ReturnedToCourt"]  # cancelled_by, then the reaction
    assert toy.case["status"] == "closed" and toy.case["closed_at"] == "2026-09-03T02:00:00.000Z"
    assert toy.replayed() == toy.case

    police = Toy(ctx)
    police.refer("police", "qs-ps-1", "police_station")
    assert police.publish("MediationFailed", T0 + timedelta(days=2), "qs-jo-3", level="township") == [
        "HandoffCancelled"
    ]
    assert police.case["status"] == "open"


def test_the_decisions_that_cause_decisions_are_the_workflows_triggers() -> None:
    assert TOY.triggers() == {
        "ReturnedToCourt",
        "MediationAssigned",
        "DisputeReferred",
        "MediationFailed",
        "EscalationRiskFlagged",
    }
    assert Step("s", ("a.b", "a.c"), "t").rules == ("a.b", "a.c") and Step("s", None, "t").rules == ()


# -- moving a deadline ----------------------------------------------------------------------------------
def deadline(rule_id: str, due: str, length: int) -> dict[str, Any]:
    return {"due": due, "rule_id": rule_id, "policy_version": "2026.1", "clock": "x", "length": length}


def test_an_extension_counts_from_the_last_day_of_the_running_period() -> None:
    policy, cal = default_policy(), load_context().calendar
    pre = policy.rule("mediation.pre_filing")  # calendar days; the parties say how long
    d = deadline(pre.id, "2026-10-02T16:00:00.000Z", 30)  # ends 2 Oct, 24:00
    moved, days = _extended(d, pre, {"extension_days": 15}, cal)
    assert (moved["due"], moved["length"], days) == (datetime(2026, 10, 17, 16, tzinfo=UTC), 45, 15)
    moved, days = _extended(d, pre, {"extended_until": date(2026, 10, 12)}, cal)
    assert (moved["due"], days) == (datetime(2026, 10, 12, 16, tzinfo=UTC), 10)
    assert _extended(d, pre, {}, cal) is None  # no length given, none in the rule
    assert _extended(d, pre, {"extended_until": date(2026, 9, 30)}, cal) is None  # not later: nothing moves
    award = policy.rule("services.arbitration.award")  # the rule's own extension: 15 days
    moved, days = _extended(deadline(award.id, "2026-09-04T16:00:00.000Z", 45), award, {}, cal)
    assert (moved["due"], days) == (datetime(2026, 9, 19, 16, tzinfo=UTC), 15)


def test_every_named_type_of_a_schema_is_known_before_converting() -> None:
    expanded = load_context().catalogue["MediationAssigned"].expanded
    named = named_types(expanded)
    # Division is first defined inside the optional `village`: a null there must not hide it.
    assert {"fengqiao.common.Division", "Division", "fengqiao.common.AgencyRef"} <= set(named)
