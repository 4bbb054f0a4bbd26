"""Rebuild the read model from the ledger (从账本重建): the live sink's writer, fed from the log.

The ledger holds every record of the workflow topics in log order; each is decoded and skipped
exactly as the sink runner does, then applied with `ReadModel.apply`, so the rebuilt tables equal
the ones the live sink wrote. Stop the sink while rebuilding its database: when it starts again it
reads on from the positions the rebuild committed (the database has a new identity, so the runner's
own offsets are set aside).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from fengqiao import logs
from fengqiao.schemas.codec import Codec
from fengqiao.streams.ledger import Ledger, LedgerRecord

from .store import ReadModel, decode, migrate

log = logs.get(__name__)


@dataclass
class Rebuilt:
    records: int = 0  # ledger records of the workflow topics read
    applied: int = 0  # changed a case
    repeated: int = 0  # an event id already applied (a redelivery on the log)
    skipped: int = 0  # undecodable, or a forged hub decision: the live sink skips them too
    failed: list[str] = field(default_factory=list)  # "topic/partition/offset: reason", dead letters live
    rows: dict[str, int] = field(default_factory=dict)


def ledger_records(ledger: Ledger, model: ReadModel) -> Iterable[LedgerRecord]:
    return ledger.read(topics=model.topics())


def rebuild(
    eng: Engine,
    records: Iterable[LedgerRecord],
    codec: Codec,
    *,
    progress: Callable[[int], None] | None = None,
    batch: int = 500,
) -> Rebuilt:
    """Empty the read model behind ``eng`` and apply ``records`` (ledger order) to it."""
    migrate(eng)
    model = ReadModel(codec.catalogue)
    with eng.begin() as conn:
        model.clear(conn)
        model.database_id(conn)  # a new identity: a sink started later resumes from these positions
    result = Rebuilt()
    pending: list[LedgerRecord] = []
    for rec in records:
        pending.append(rec)
        if len(pending) >= batch:
            _apply_batch(eng, model, codec, pending, result)
            pending = []
            if progress:
                progress(result.records)
    _apply_batch(eng, model, codec, pending, result)
    if progress:
        progress(result.records)
    with eng.connect() as conn:
        result.rows = model.counts(conn)
    log.info("readmodel.rebuilt", records=result.records, applied=result.applied, failed=len(result.failed))
    return result


def _apply_batch(
    eng: Engine, model: ReadModel, codec: Codec, records: list[LedgerRecord], result: Rebuilt
) -> None:
    with eng.begin() as conn:
        for rec in records:
            result.records += 1
            _apply_one(conn, model, codec, rec, result)


def _apply_one(conn: Connection, model: ReadModel, codec: Codec, rec: LedgerRecord, result: Rebuilt) -> None:
    if rec.topic not in model.by_topic:  # not a topic the sink reads: no position to keep
        result.skipped += 1
        return
    sink_record = decode(rec, codec, model.by_topic)
    if sink_record is None:
        result.skipped += 1
    else:
        try:
            with conn.begin_nested():  # a record the live sink would dead-letter leaves the batch intact
                applied = model.apply(conn, sink_record).applied
            result.applied += applied
            result.repeated += not applied
            return
        except (sa_exc.IntegrityError, sa_exc.DataError, KeyError, TypeError, ValueError) as e:
            result.failed.append(f"{rec.topic}/{rec.partition}/{rec.offset}: {e!r}")
    model.advance(conn, rec.topic, rec.partition, rec.offset + 1)
