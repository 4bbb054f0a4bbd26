"""What went wrong where a chain breaks: the verifier (`verify`) finds the first bad record of a chain,
these name what happened to it — altered, removed, inserted or reordered — and check the chain's end
against the ledger's head cache."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_

from .format import _b, _utc, canonical
from .report import Kind, Problem
from .tables import _Parts

_SWAP_WINDOW = 100_000  # how far after a bad record verification looks for the record it was swapped with


class _Diagnosis(_Parts):
    """`Ledger`'s reads of one chain for verification, and the diagnosis of a broken link or hash."""

    def _chain_rows(
        self, topic: str, partition: int, after: tuple[int, int] | None, limit: int, upto: int | None = None
    ) -> list[Any]:
        R = self._records
        q = select(R).where(R.c.topic == topic, R.c.partition == partition)
        if after is not None:
            q = q.where(tuple_(R.c.offset, R.c.id) > tuple_(*after))
        if upto is not None:
            q = q.where(R.c.offset <= upto)
        with self._engine.connect() as conn:
            return conn.execute(q.order_by(R.c.offset, R.c.id).limit(limit)).all()

    def _check_tail(self, topic: str, partition: int, problem: Any) -> Problem | None:
        """The chain's end against the ledger's head cache, both read in one statement (one snapshot)."""
        R, H = self._records, self._heads
        chain = (R.c.topic == H.c.topic, R.c.partition == H.c.partition)
        last = select(func.max(R.c.offset)).where(*chain).scalar_subquery()
        at_head = select(R.c.hash).where(*chain, R.c.offset == H.c.offset).limit(1).scalar_subquery()
        with self._engine.connect() as conn:
            head = conn.execute(
                select(H.c.offset, H.c.hash, last.label("last"), at_head.label("at_head")).where(
                    H.c.topic == topic, H.c.partition == partition
                )
            ).first()
            if head is None:
                first = conn.execute(
                    select(func.min(R.c.offset)).where(R.c.topic == topic, R.c.partition == partition)
                ).scalar()
                if first is None:
                    return None
                return problem(
                    Kind.INSERTED,
                    first,
                    "the ledger has no head for this chain: its records were put in outside the ledger "
                    "(or its head was deleted)",
                )
            if head.at_head is None:
                end = f"ends at offset {head.last}" if head.last is not None else "has no records"
                return problem(
                    Kind.REMOVED,
                    head.offset,
                    f"the ledger's head is offset {head.offset} but the chain {end}: records at its end were "
                    "removed",
                )
            if head.last > head.offset:
                first = conn.execute(
                    select(func.min(R.c.offset)).where(
                        R.c.topic == topic, R.c.partition == partition, R.c.offset > head.offset
                    )
                ).scalar()
                return problem(
                    Kind.INSERTED,
                    first,
                    f"the ledger's head is offset {head.offset}, yet the chain goes on to "
                    f"offset {head.last}: records from offset {first} were put in outside the ledger",
                )
            if bytes(head.at_head) != bytes(head.hash):
                return problem(
                    Kind.REWRITTEN,
                    head.offset,
                    "the chain's hash at the ledger's head is not the one the head holds",
                )
        return None

    def _check_link(self, topic: str, partition: int, prev: Any, row: Any, problem: Any) -> Problem | None:
        """Whether ``row`` links to ``prev`` (the record before it in offset order); if not, what happened."""
        off, p_off, p_hash = row.offset, row.prev_offset, bytes(row.prev_hash)
        if prev is None:
            if p_off == -1 and p_hash == self._zero:
                return None
            if p_off >= off:
                return problem(
                    Kind.REORDERED,
                    off,
                    f"the chain's first record links to offset {p_off}, "
                    "after itself: records were swapped or moved",
                )
            if p_off >= 0:
                return problem(
                    Kind.REMOVED,
                    p_off,
                    f"the record at offset {p_off} was removed "
                    f"(the chain starts at offset {off}, which links to it)",
                )
            return problem(Kind.ALTERED, off, "the chain's first record has a link that is not the start")
        if prev.offset == off:
            return problem(Kind.INSERTED, off, f"two records at offset {off} (ids {prev.id} and {row.id})")
        if p_off == prev.offset and p_hash == bytes(prev.hash):
            return None
        if p_off >= off:
            return problem(
                Kind.REORDERED,
                off,
                f"the record at offset {off} links to offset {p_off}, after "
                "itself: records were swapped or moved",
            )
        if p_off > prev.offset:
            moved = self._offset_of_hash(topic, partition, p_hash)
            if moved is not None:
                return problem(
                    Kind.REORDERED,
                    off,
                    f"the record at offset {off} links to the record now at "
                    f"offset {moved}: records were swapped or moved",
                )
            return problem(
                Kind.REMOVED,
                p_off,
                f"the record at offset {p_off} was removed (the record at offset {off} links to it)",
            )
        if p_off < prev.offset:
            R = self._records
            with self._engine.connect() as conn:
                first = conn.execute(
                    select(func.min(R.c.offset)).where(
                        R.c.topic == topic, R.c.partition == partition, R.c.offset > p_off, R.c.offset < off
                    )
                ).scalar()
            return problem(
                Kind.INSERTED,
                first,
                f"the record at offset {first} is not in the chain: the "
                f"record at offset {off} links past it to offset {p_off}",
            )
        # right offset, wrong hash: the previous record was replaced by one consistent in itself, or this
        # record's link was changed (then its own hash no longer matches)
        return problem(
            Kind.ALTERED,
            prev.offset,
            f"the record at offset {prev.offset} was replaced: its hash "
            f"is not the one the record at offset {off} links to",
        )

    def _offset_of_hash(self, topic: str, partition: int, h: bytes) -> int | None:
        R = self._records
        with self._engine.connect() as conn:
            return conn.execute(
                select(R.c.offset)
                .where(R.c.topic == topic, R.c.partition == partition, R.c.hash == h)
                .limit(1)
            ).scalar()

    def _diagnose_content(self, topic: str, partition: int, row: Any, problem: Any) -> Problem:
        """A record whose content does not match its hash: altered, or swapped with a later one?

        Looks (up to ``_SWAP_WINDOW`` records on) for a record whose content, or whose value alone,
        hashes right at this position.
        """
        digest, want, prev_hash = self.suite.digest, bytes(row.hash), bytes(row.prev_hash)

        def fits(key: bytes | None, value: bytes | None, hblock: bytes, ts: int, rec: datetime) -> bool:
            c = canonical(topic, partition, row.offset, row.prev_offset, key, value, hblock, ts, rec)
            return digest(prev_hash + c) == want

        after, seen = (row.offset, row.id), 0
        while seen < _SWAP_WINDOW:
            rows = self._chain_rows(topic, partition, after, 5000)
            for other in rows:
                key, value, hblock = _b(other.key), _b(other.value), bytes(other.headers)
                if fits(key, value, hblock, other.timestamp_ms, _utc(other.recorded_at)) or fits(
                    _b(row.key), value, bytes(row.headers), row.timestamp_ms, _utc(row.recorded_at)
                ):
                    return problem(
                        Kind.REORDERED,
                        row.offset,
                        f"records at offsets {row.offset} and {other.offset} were swapped (what is "
                        f"stored at offset {other.offset} belongs at offset {row.offset})",
                    )
            seen += len(rows)
            if len(rows) < 5000:
                break
            after = (rows[-1].offset, rows[-1].id)
        return problem(Kind.ALTERED, row.offset, "its content no longer matches its hash")
