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

import json
from collections.abc import Iterable, Iterator
from datetime import datetime

import fastavro

from fengqiao.schemas.catalogue import Catalogue, load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope

from . import topics
from .ledger import Ledger, LedgerRecord
from .replay_fold import COLUMNS, Case, Folded, Progress, Row, fold_rows, gc_paused, replay_shard
from .replay_parallel import replay_sharded

__all__ = [
    "COLUMNS",
    "Case",
    "Folded",
    "Progress",
    "Row",
    "codec_from_schemas",
    "fold_rows",
    "gc_paused",
    "ledger_records",
    "replay",
    "replay_ledger",
    "replay_shard",
    "workflow_of_topic",
]


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
        cases = replay_sharded(ledger, codec, workers, until=until, progress=progress)
        if cases is not None:
            return cases
    return replay_shard(ledger, codec, None, until=until, case_id=case_id, progress=progress).cases


def ledger_records(
    ledger: Ledger, catalogue: Catalogue, *, until: datetime | None = None, case_id: str | None = None
) -> Iterator[LedgerRecord]:
    workflow_topics = [topics.workflow_topic(w) for w in catalogue.workflows()]
    return ledger.read(topics=workflow_topics, case_id=case_id, until=until)
