"""The other ways in, fuzzed like the gateway: a line of `fengqiao publish` (the CloudEvents JSON
intake, which the spreadsheets and every connector's Outbox also use) and a record produced
straight to Kafka (what the workers, replay and the sinks decide with streams/acceptance.py)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fuzz_rig import CATALOGUE, CODEC, Case, examples, invalid_string, leaves, mutated, plausible, put, seeds
from hypothesis import assume, event, given
from hypothesis import strategies as st

from fengqiao.connectors.cloudevents_json import Refused, parse
from fengqiao.schemas.envelope import Envelope
from fengqiao.streams.acceptance import refusal
from fengqiao.streams.topics import topic_for


def _parses(e: dict[str, Any]) -> bool:
    try:
        parse(CODEC, e)
    except Refused:
        return False
    return True


SEEDS = [e for e in seeds() if _parses(e)]


@examples(1000)
@given(case=mutated(SEEDS), ascii_only=st.booleans())
def test_a_mutated_line_is_refused_naming_fields_or_is_valid(case: Case, ascii_only: bool) -> None:
    line = json.dumps(case.event, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        accepted = parse(CODEC, line)
    except Refused as r:
        event("refused")
        assert r.errors and all(isinstance(e.path, str) and e.reason for e in r.errors), r.errors
        str(r)  # the refusal prints (a CLI shows it)
        return
    event("accepted")
    assert not case.must_refuse, f"accepted although {case.what}"
    assert plausible(case.event), f"accepted an implausible event: {case.what}"
    accepted.envelope.to_headers()  # what the publisher writes: every attribute encodes
    CODEC.encode(accepted.envelope.type, accepted.record)


STRICT_ENV = ("id", "subject", "source", "correlationid", "causationid", "jurisdiction")


@st.composite
def produced(draw: st.DrawFn) -> tuple[Envelope, dict[str, Any], bool, str]:
    """A valid agency record as a Kafka producer would put it, then one text of it made bad."""
    accepted = parse(CODEC, draw(st.sampled_from(SEEDS)))
    env, record = accepted.envelope, accepted.record
    spots = [("env", (a,), getattr(env, a)) for a in STRICT_ENV if getattr(env, a) is not None]
    spots += [("data", p, v) for p, v in leaves(record) if p and isinstance(v, str)]
    where, path, value = draw(st.sampled_from(spots))
    key = ("jurisdiction",) if path == ("jurisdiction",) else path
    lookup = {"jurisdiction": ("jurisdiction",), "code": ("data", "code")}
    kind_path = (("data", *path) if where == "data" else lookup.get(path[0], key)) if path else key
    new = draw(invalid_string(kind_path, value))
    # What a Kafka producer can send: text (a header or Avro string is UTF-8, so no lone surrogate).
    assume(isinstance(new, str))
    try:
        new.encode()
    except UnicodeEncodeError:
        assume(False)
    if where == "env":
        env = dataclasses.replace(env, **{path[0]: new})
    else:
        record = put(record, path, new)
    return env, record, True, f"{where}.{path} = {new!r}"[:200]


@examples(600)
@given(sample=produced())
def test_a_bad_record_produced_to_kafka_is_refused(
    sample: tuple[Envelope, dict[str, Any], bool, str],
) -> None:
    env, record, _, what = sample
    ev = CATALOGUE[env.type]
    try:
        CODEC.encode(ev.name, record)  # Avro takes it: the check below is all that stands in the way
    except Exception:
        assume(False)
    decided = refusal(topic_for(ev), env.subject, env, ev, record)
    assert decided is not None, f"applied although {what}"
    kind, reason = decided
    assert kind == "invalid" and reason, decided
