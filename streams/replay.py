"""Replay (回放): the state of every case, at any instant, rebuilt from the ledger.

Replay is `engine.fold` over the ledger in log order — the very function the workers use to apply
events — and nothing else: the hub's decisions are on the log and are read back, never decided
again with another clock or another policy, so the same log always yields the same state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import fastavro

from fengqiao.schemas.catalogue import Catalogue, load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope

from . import engine, topics
from .acceptance import refusal
from .ledger import Ledger, LedgerRecord
from .workflows import all_workflows

Case = dict[str, Any]


def codec_from_schemas(schemas: Iterable[tuple[int, str]], catalogue: Catalogue | None = None) -> Codec:
    """A decoder for every schema id the registry ever gave out (old versions included)."""
    catalogue = catalogue or load()
    codec = Codec(catalogue, {})
    for schema_id, text in schemas:
        writer = json.loads(text)
        name = writer.get("name", "")
        full = name if "." in name else f"{writer.get('namespace', '')}.{name}".lstrip(".")
        if full in catalogue:
            codec._writers[schema_id] = (catalogue[full], fastavro.parse_schema(writer))
    return codec


def workflow_of_topic(topic: str, catalogue: Catalogue) -> str | None:
    return next((w for w in catalogue.workflows() if topics.workflow_topic(w) == topic), None)


def replay(
    records: Iterable[LedgerRecord], codec: Codec, *, progress: Callable[[int], None] | None = None
) -> dict[str, Case]:
    """Fold every workflow-topic record into its case; hub topics (updates, dead letters) are skipped."""
    all_workflows(codec.catalogue)  # fold needs to know which events open and close each workflow
    by_topic = {topics.workflow_topic(w): w for w in codec.catalogue.workflows()}
    cases: dict[str, Case] = {}
    n = 0
    for rec in records:
        n += 1
        workflow = by_topic.get(rec.topic)
        if workflow is None or rec.value is None:
            continue
        try:
            env = Envelope.from_headers(rec.headers)
            ev, record = codec.decode(rec.value)
        except Exception:  # what the workers dead-lettered is not case state either
            continue
        if refusal(rec.topic, (rec.key or b"").decode("utf-8", "replace"), env, ev, record):
            continue  # refused by the workers (a forged decision, a case id that disagrees)
        cases[env.subject], _ = engine.fold(cases.get(env.subject), env, record, workflow)
        if progress and n % 1000 == 0:
            progress(n)
    if progress:
        progress(n)
    return cases


def ledger_records(
    ledger: Ledger, catalogue: Catalogue, *, until: datetime | None = None, case_id: str | None = None
) -> Iterator[LedgerRecord]:
    workflow_topics = [topics.workflow_topic(w) for w in catalogue.workflows()]
    return ledger.read(topics=workflow_topics, case_id=case_id, until=until)
