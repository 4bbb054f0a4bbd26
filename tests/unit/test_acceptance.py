"""One rule for what the hub applies: the workers refuse these records, replay and sinks skip them."""

from __future__ import annotations

from helpers import throwaway_sealer

from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope
from fengqiao.streams import topics
from fengqiao.streams.acceptance import refusal
from fengqiao.streams.ledger import LedgerRecord
from fengqiao.streams.replay import replay

CATALOGUE = load()
RELEASE = topics.workflow_topic("release")


SEALER = throwaway_sealer(CATALOGUE)


def notice(sealed: bool = True) -> tuple[Envelope, dict]:
    from fengqiao.connectors.cloudevents_json import parse

    acc = parse(Codec(CATALOGUE, {}), next(e for e in demo_events(1) if e["type"] == "ReleaseNoticeIssued"))
    record = SEALER.seal(acc.envelope.type, acc.envelope.subject, acc.record) if sealed else acc.record
    return acc.envelope, record


def test_an_agencys_fact_on_its_topic_is_applied() -> None:
    env, record = notice()
    assert refusal(RELEASE, env.subject, env, CATALOGUE[env.type], record) is None


def test_an_agencys_fact_with_personal_fields_in_clear_is_refused_naming_them() -> None:
    """Produced straight to Kafka, past the intake that seals: the hub cannot unpublish it, so it
    refuses to apply it, and replay and the sinks skip it the same way."""
    env, record = notice(sealed=False)
    kind, reason = refusal(RELEASE, env.subject, env, CATALOGUE[env.type], record)
    assert kind == "invalid"
    assert "personal fields in clear: person.name, person.id_number, person.phone" in reason


def test_a_key_that_disagrees_with_the_case_is_refused() -> None:
    env, record = notice()
    kind, reason = refusal(RELEASE, "OTHER", env, CATALOGUE[env.type], record)
    assert kind == "invalid" and "case id disagrees" in reason


def test_a_fact_on_another_workflows_topic_is_refused() -> None:
    env, record = notice()
    kind, reason = refusal(topics.workflow_topic("mediation"), env.subject, env, CATALOGUE[env.type], record)
    assert kind == "invalid" and "belongs on fengqiao.release" in reason


def test_a_decision_from_an_agency_is_refused_as_forged() -> None:
    env, _ = notice()
    forged = Envelope.new("HandoffCancelled", env.subject, source="qs-jo-1")
    kind, reason = refusal(
        RELEASE, env.subject, forged, CATALOGUE["HandoffCancelled"], {"case_id": env.subject}
    )
    assert kind == "unauthorised" and "decided by the hub" in reason


def test_replay_skips_what_the_workers_refused() -> None:
    """A fact on the wrong topic is on the log (the worker dead-lettered it) but not in the case."""
    env, record = notice()
    codec = Codec(CATALOGUE, {e.fullname: i for i, e in enumerate(CATALOGUE, 1)})
    value, headers = codec.encode(env.type, record), tuple(env.to_headers())
    good = LedgerRecord(RELEASE, 0, 0, env.subject.encode(), value, headers)
    elsewhere = tuple(env.with_(id=f"{env.id}-again").to_headers())
    misplaced = LedgerRecord(topics.workflow_topic("mediation"), 0, 0, env.subject.encode(), value, elsewhere)
    cases = replay([good, misplaced], codec)
    assert [e["id"] for e in cases[env.subject]["events"]] == [env.id]
