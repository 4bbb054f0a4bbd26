"""Replay (回放): the state of every case, at any instant, rebuilt from the ledger.

Replay is `engine.fold` over the ledger in log order — the very function the workers use to apply
events — and nothing else: the hub's decisions are on the log and are read back, never decided
again with another clock or another policy, so the same log always yields the same state.

The hot path (`replay_ledger`) reads the ledger's rows as the driver gives them (`Ledger.scan`),
reads a row's headers block straight into its envelope (`replay_headers`), decodes its value to the
JSON form fold keeps (`replay_decode`) and folds it in place, as it is (replay owns its cases and its
records); it may split the
cases over processes (`replay_parallel`), each reading its own shard. Each of these gives exactly
what the plain path — `Envelope.from_headers`, `Codec.decode`, a copying fold — gives.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

import fastavro

from fengqiao.schemas.catalogue import Catalogue, load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope

from . import engine, topics
from .acceptance import refusal
from .ledger import Ledger, LedgerRecord
from .replay_decode import decoder
from .replay_headers import BlockError, envelope_of_block
from .workflows import all_workflows

Case = dict[str, Any]
Progress = Callable[[int], None]
Row = tuple[Any, ...]  # (topic, key, value, headers, id): headers as pairs or as the ledger's block
COLUMNS = ("topic", "key", "value", "headers")


class Folded(NamedTuple):
    cases: dict[str, Case]
    first: dict[str, int]  # case id -> the id of its first row folded
    rows: int


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


@contextmanager
def gc_paused() -> Iterator[None]:
    """Replay builds a large graph of dicts and lists and no cycles: the collector would walk the whole
    graph again and again as it grows (a fifth of the time) for nothing to free."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fold_rows(
    batches: Iterable[Iterable[Row]],
    codec: Codec,
    envelope: Callable[[Any], Envelope],
    progress: Progress | None = None,
) -> Folded:
    """Fold every workflow-topic row into its case, skipping what the workers refuse: the cases, per
    case the id of its first row (to merge shards back into log order), and the rows read. ``envelope``
    makes a row's headers an envelope; a `BlockError` (a tampered headers column) stops replay."""
    all_workflows(codec.catalogue)  # fold needs to know which events open and close each workflow
    by_topic = {topics.workflow_topic(w): w for w in codec.catalogue.workflows()}
    decode, fold = decoder(codec), engine.fold
    cases: dict[str, Case] = {}
    first: dict[str, int] = {}
    n = 0
    with gc_paused():
        for batch in batches:
            for topic, key, value, headers, row_id in batch:
                n += 1
                workflow = by_topic.get(topic)
                if workflow is None or value is None:
                    continue
                try:
                    env = envelope(headers)
                    ev, record, as_json = decode(value)
                except BlockError:
                    raise
                except Exception:  # what the workers dead-lettered is not case state either
                    continue
                if refusal(topic, key.decode("utf-8", "replace") if key else "", env, ev, record):
                    continue  # refused by the workers (a forged decision, a case id that disagrees)
                case = cases.get(env.subject)
                # Replay owns the case (folded in place) and the record, decoded afresh (kept as it is)
                if case is None:
                    cases[env.subject] = fold(None, env, record, workflow, as_json=as_json)[0]
                    first[env.subject] = row_id
                else:
                    fold(case, env, record, workflow, False, as_json)  # copy=False
            if progress:
                progress(n)
    return Folded(cases, first, n)


def replay(
    records: Iterable[LedgerRecord], codec: Codec, *, progress: Progress | None = None
) -> dict[str, Case]:
    """Fold every workflow-topic record into its case; hub topics (updates, dead letters) are skipped."""
    rows = ((r.topic, r.key, r.value, r.headers, r.id or 0) for r in records)
    return fold_rows(_batched(rows), codec, Envelope.from_headers, progress).cases


def _batched(rows: Iterable[Row], size: int = 1000) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def replay_ledger(
    ledger: Ledger,
    codec: Codec,
    *,
    until: datetime | None = None,
    case_id: str | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> dict[str, Case]:
    """`replay(ledger_records(ledger, ...))`, read straight from the ledger's rows; the same cases in
    the same order. ``workers`` > 1 splits the cases over that many processes (`replay_parallel`)."""
    if workers > 1 and case_id is None:
        from .replay_parallel import replay_sharded

        cases = replay_sharded(ledger, codec, workers, until=until, progress=progress)
        if cases is not None:
            return cases
    return replay_shard(ledger, codec, None, until=until, case_id=case_id, progress=progress).cases


def replay_shard(
    ledger: Ledger,
    codec: Codec,
    shard: tuple[int, int] | None,
    *,
    until: datetime | None = None,
    case_id: str | None = None,
    progress: Progress | None = None,
) -> Folded:
    """`fold_rows` over the workflow topics' rows (of one shard of the partitions, or all)."""
    workflow_topics = [topics.workflow_topic(w) for w in codec.catalogue.workflows()]
    rows = ledger.scan(COLUMNS, topics=workflow_topics, case_id=case_id, until=until, shard=shard)
    return fold_rows(rows, codec, envelope_of_block, progress)


def ledger_records(
    ledger: Ledger, catalogue: Catalogue, *, until: datetime | None = None, case_id: str | None = None
) -> Iterator[LedgerRecord]:
    workflow_topics = [topics.workflow_topic(w) for w in catalogue.workflows()]
    return ledger.read(topics=workflow_topics, case_id=case_id, until=until)
