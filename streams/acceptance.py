"""What the hub applies: one rule for the workers, the auditor's replay and every sink.

A record that decodes may still be refused: its type, key, subject and case id disagree, it sits
on another workflow's topic, or an agency forged a decision only the hub takes. The workers
dead-letter such a record; replay and the sinks must skip the very same ones, or their state would
differ from the workers' (replay equals live). An agency's record produced straight to Kafka is held
to the input rules of every other way in (schemas/validation.py), and must carry its personal
text fields sealed (docs/personal-data.md): the hub cannot take back what a producer put on the
topic in clear, so it refuses to apply it and says which fields.
"""

from __future__ import annotations

from typing import Any

from fengqiao.schemas.catalogue import EventType
from fengqiao.schemas.codec import check_record
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope
from fengqiao.schemas.validation import record_errors

from .personal.seal import in_clear_of
from .topics import CASE_UPDATES, DEAD_LETTERS, PREFIX, topic_for

_SEALED_ONLY = [True]


def require_sealed(on: bool) -> None:
    """Whether agency records must carry personal text sealed (the deployment's ``protect_personal``;
    off only for benchmarks that compare against it). Every process of a hub sets the same value."""
    _SEALED_ONLY[0] = on


def refusal(
    topic: str, key: str, env: Envelope, ev: EventType, record: dict[str, Any]
) -> tuple[str, str] | None:
    """(DeadLetterKind, reason) for a decoded record the hub does not apply, or None."""
    if env.type != ev.name:
        return "invalid", f"ce_type is {env.type!r} but the value is a {ev.name}"
    if not (env.subject == key == record.get("case_id")):
        return (
            "invalid",
            f"case id disagrees: key {key!r}, ce_subject {env.subject!r}, case_id {record.get('case_id')!r}",
        )
    if ev.workflow == "*":  # engine events travel on their case's workflow topic
        if not topic.startswith(PREFIX) or topic in (CASE_UPDATES, DEAD_LETTERS):
            return "invalid", f"{ev.name} belongs on its case's workflow topic, not {topic}"
    elif _topic(ev) != topic:
        return "invalid", f"{ev.name} belongs on {topic_for(ev)}, not {topic}"
    if ev.direction == "hub" and env.source != HUB_SOURCE:
        return "unauthorised", f"{ev.name} is decided by the hub; {env.source!r} cannot publish it"
    if env.source != HUB_SOURCE:  # an agency's record may come straight to Kafka: the input rules
        errors = record_errors(env, record) or check_record(ev.expanded, record, "data")
        if errors:
            return "invalid", "; ".join(map(str, errors))
        if _SEALED_ONLY[0] and (clear := in_clear_of(ev, record)):
            return "invalid", (
                f"personal fields in clear: {', '.join(clear)}; publish through the hub's intake "
                "(gateway, SDK, fengqiao publish), which seals them per person (docs/personal-data.md)"
            )
    return None


_TOPICS: dict[tuple[str, str], str] = {}  # (workflow, name) -> `topic_for` them: every record asks


def _topic(ev: EventType) -> str:
    topic = _TOPICS.get((ev.workflow, ev.name))
    if topic is None:
        topic = _TOPICS[(ev.workflow, ev.name)] = topic_for(ev)
    return topic
