"""Folding ledger rows into cases (回放的折叠): the hot path of replay, shared by one process
(`replay.replay_ledger`) and many (`replay_parallel`), so neither imports the other's module."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope

from . import engine, topics
from .acceptance import refusal
from .ledger import Ledger
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
