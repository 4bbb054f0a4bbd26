"""Replay equals live: folding the log (agency events and the hub's decisions, in log order) rebuilds
exactly the state the live path built by deciding — for the demo scenario and for random ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import release_event
from hypothesis import given, settings
from hypothesis import strategies as st

from fengqiao.connectors.cloudevents_json import parse
from fengqiao.scenario import demo_events
from fengqiao.schemas.codec import Codec
from fengqiao.streams import engine
from fengqiao.streams.workflows import load_context

CTX = load_context()
CODEC = Codec(CTX.catalogue, {e.fullname: i + 1 for i, e in enumerate(CTX.catalogue)})


class Live:
    """The live path: decide on every event, fold the timer's decisions; keep the log as Kafka would."""

    def __init__(self) -> None:
        self.cases: dict[str, engine.Case] = {}
        self.log: list[tuple] = []

    def event(self, env, record, now: datetime) -> None:
        out = engine.handle(self.cases.get(env.subject), env, record, CTX, now)
        self.cases[env.subject] = out.case
        if not out.duplicate:
            self.log.append((env, record, CTX.catalogue[env.type].workflow))
        self.log += [(e, r, out.case["workflow"]) for e, r in out.decisions]

    def tick(self, now: datetime) -> None:
        for case_id, case in list(self.cases.items()):
            for env, record in engine.tick(case, CTX, now):
                self.cases[case_id], _ = engine.fold(self.cases[case_id], env, record, case["workflow"])
                self.log.append((env, record, case["workflow"]))

    def replayed(self) -> dict[str, engine.Case]:
        cases: dict[str, engine.Case] = {}
        for env, record, workflow in self.log:
            cases[env.subject], _ = engine.fold(cases.get(env.subject), env, record, workflow)
        return cases


def test_replay_of_the_demo_scenario_equals_live() -> None:
    now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    live = Live()
    events = [parse(CODEC, e) for e in demo_events(3, now=now)]
    for acc in events:
        live.event(acc.envelope, acc.record, acc.envelope.time)
    live.tick(now)
    assert any(a["type"] == "PickupMissed" for c in live.cases.values() for a in c["alerts"])
    assert live.replayed() == live.cases


STEPS = [
    "ReleaseNoticeAcknowledged",
    "PickupPlanned",
    "PersonReleased",
    "PersonReceived",
    "PersonDelivered",
    "PersonReported",
    "HouseholdRegistered",
    "ResidenceDisputed",
    "AssistanceRequested",
    "AssistanceGranted",
    "ResettlementClosed",
    "tick",
]
SOURCES = {"PersonReleased": "zj-prison-2", "HouseholdRegistered": "qs-ps-1", "AssistanceGranted": "qs-ca"}


@settings(max_examples=40, deadline=None)
@given(
    key=st.booleans(),
    opens_first=st.booleans(),
    steps=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 24 * 60)), max_size=12),
    duplicate=st.integers(0, 12),
)
def test_replay_of_random_scenarios_equals_live(
    key: bool, opens_first: bool, steps: list, duplicate: int
) -> None:
    t = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    release = t + timedelta(days=40)
    live = Live()
    notice = release_event(
        "ReleaseNoticeIssued",
        "R-1",
        t,
        "zj-prison-2",
        key_person=key,
        residence={"code": "339901001001", "name": None},
        expected_release_date=release.date(),
    )
    sent = []
    if opens_first:
        live.event(*notice, t)
        sent.append(notice)
    for etype, minutes in steps:
        t += timedelta(hours=minutes / 10)
        if etype == "tick":
            live.tick(t + timedelta(days=minutes // 60))
            continue
        fields = {"released_at": t} if etype == "PersonReleased" else {}
        if etype == "ResidenceDisputed":
            fields = {"suggested_residence": {"code": "339901002001", "name": None}, "handoff_id": None}
        ev = release_event(etype, "R-1", t, SOURCES.get(etype, "qs-jo-1"), **fields)
        live.event(*ev, t)
        sent.append(ev)
    if not opens_first:
        live.event(*notice, t)
    if sent and duplicate < len(sent):
        live.event(*sent[duplicate], t)  # a redelivery, late
    live.tick(t + timedelta(days=60))
    assert live.replayed() == live.cases


def test_a_stale_timer_finding_and_a_re_routing_fold_the_same_in_either_order() -> None:
    """The timer's HandoffOverdue can reach the log before or after a re-routing it did not see."""
    t0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    live = Live()
    live.event(
        *release_event(
            "ReleaseNoticeIssued",
            "R-2",
            t0,
            "zj-prison-2",
            key_person=False,
            residence={"code": "339901001001", "name": None},
            expected_release_date=(t0 + timedelta(days=40)).date(),
        ),
        t0,
    )
    later = t0 + timedelta(days=6)
    n_before = len(live.log)
    stale = engine.tick(live.cases["R-2"], CTX, later)  # decided on the old deadline, not yet folded
    assert [e.type for e, _ in stale][:1] == ["HandoffOverdue"]
    live.event(
        *release_event(
            "ResidenceDisputed",
            "R-2",
            later,
            "qs-jo-1",
            handoff_id=None,
            suggested_residence={"code": "339901002001", "name": None},
        ),
        later,
    )
    reroute = live.log[-(len(live.log) - n_before) :]
    after = live.cases["R-2"]
    for env, record in stale:  # the stale findings reach the log after the re-routing...
        after, _ = engine.fold(after, env, record, "release")
    before = None
    for env, record, _ in live.log[:n_before]:  # ...or before it
        before, _ = engine.fold(before, env, record, "release")
    for env, record in stale:
        before, _ = engine.fold(before, env, record, "release")
    for env, record, _ in reroute:
        before, _ = engine.fold(before, env, record, "release")
    assert before == after
    ack = after["handoffs"]["R-2/acknowledge/1"]
    assert (
        ack["state"] == "assigned" and ack["obliged"]["agency_id"] == "qs-jo-2" and ack["overdue_at"] is None
    )
    assert {a["agency_id"] for a in ack["escalated_to"]} == {"qs-jb"}  # the escalation did happen


def _catch_up(live: Live, now: datetime | None) -> tuple[dict[str, engine.Case], list]:
    """Re-read ``live``'s log as a restarted worker does: decide each agency event again, with the log's
    decisions as `known`; ``now`` None means each event's own instant (the record's timestamp)."""
    on_log = {env.id: (env, record) for env, record, _ in live.log if env.source == "fengqiao-hub"}
    cases: dict[str, engine.Case] = {}
    emitted: list = []
    for env, record, workflow in live.log:
        if env.source == "fengqiao-hub":
            cases[env.subject], _ = engine.fold(cases.get(env.subject), env, record, workflow)
            continue
        out = engine.handle(cases.get(env.subject), env, record, CTX, now or env.time, known=on_log.get)
        cases[env.subject] = out.case
        emitted += out.decisions
    return cases, emitted


def test_catching_up_after_a_restart_reads_decisions_back_instead_of_re_deciding() -> None:
    live = Live()
    for acc in [parse(CODEC, e) for e in demo_events(3, now=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))]:
        live.event(acc.envelope, acc.record, acc.envelope.time)
    cases, emitted = _catch_up(live, None)
    assert emitted == [] and cases == live.cases
    # Even with another clock, what was decided comes back as it was: the deadlines do not move.
    # (Decisions that depend on the clock may be added — here, a year the calendar does not cover.)
    cases, emitted = _catch_up(live, datetime(2027, 6, 1, tzinfo=UTC))
    for case_id, case in live.cases.items():
        for hid, h in case["handoffs"].items():
            assert cases[case_id]["handoffs"][hid]["deadline"] == h["deadline"]
    assert {e.type for e, _ in emitted} <= {"DeadlineNotComputable"}


def test_the_timer_has_nothing_to_decide_on_a_case_before_its_next_due_instant() -> None:
    """The worker ticks only cases whose `next_due` has come: that must miss no decision.

    Over the demo scenario of all five workflows, every case after every event is ticked at many
    instants: whenever `tick` decides something, `next_due` had come; and just before it, nothing.
    """
    now = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    events = [parse(CODEC, e) for e in demo_events(2, now=now)]
    cases: dict[str, engine.Case] = {}
    checked = decided = 0
    for acc in events:
        env = acc.envelope
        cases[env.subject] = engine.handle(cases.get(env.subject), env, acc.record, CTX, env.time).case
        case = cases[env.subject]
        due = engine.next_due(case)
        for days in (0, 1, 3, 10, 40, 90):
            at = env.time + timedelta(days=days)
            checked += 1
            if engine.tick(case, CTX, at):
                decided += 1
                assert due is not None and due <= at, (env.subject, at, due)
        if due is not None:
            assert engine.tick(case, CTX, due - timedelta(milliseconds=1)) == []
    assert decided > 10 and checked > decided  # the check saw both sides
