"""The stream side's stores as interfaces: the ledger and one partition's case store.

`ledger.Ledger` (SQLite or PostgreSQL, by URL) and `casestore.PartitionStore` (SQLite) are the
implementations; the contracts every implementation must keep are `tests/contracts/test_ledger.py`
(run on SQLite and PostgreSQL) and `tests/contracts/test_casestore.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .casestore import Case, Snapshot
    from .ledger import Checkpoint, LedgerRecord, VerifyReport


@runtime_checkable
class LedgerStore(Protocol):
    """An append-only, hash-chained store of Kafka records: one chain per (topic, partition).

    Order: each chain in offset order; reads (`read`, `scan`) in global append order (``id``), which
    keeps each chain's offset order. Nothing stored is ever changed or removed through this interface.
    """

    def append(self, records: Sequence[LedgerRecord]) -> int:
        """Store ``records`` in one transaction; how many were new.

        Offsets must increase per (topic, partition) within the batch (else `ledger.LedgerOrderError`,
        before anything is written). Idempotent: a record already stored at its position is skipped
        when identical (key, value, headers, timestamp), refused with `ledger.LedgerConflict` when
        not; a position below a chain's head that the chain lacks is refused (`LedgerOrderError`).
        Gaps above the head are allowed (compacted topics). On refusal nothing of the batch is stored.
        """
        ...

    def positions(self) -> dict[tuple[str, int], int]:
        """The last offset stored per (topic, partition); empty for an empty ledger."""
        ...

    def has(self, topic: str, partition: int, offset: int) -> bool:
        """Whether a record is stored at that position."""
        ...

    def hash_at(self, topic: str, partition: int, offset: int) -> bytes | None:
        """The chain hash of the record at that position; None where none is stored."""
        ...

    def partition_rows(
        self, topic: str, partition: int, start: int, end: int, batch: int = 5000
    ) -> Iterator[list[tuple[Any, ...]]]:
        """One chain's records from ``start`` to ``end`` (inclusive) in offset order, in batches of
        (offset, key, value, headers block, timestamp_ms); nothing for an empty range."""
        ...

    def find_event(self, event_id: str) -> LedgerRecord | None:
        """The first record (in append order) with CloudEvents id ``event_id``; None if none."""
        ...

    def read(
        self,
        *,
        topics: Sequence[str] | None = None,
        case_id: str | None = None,
        until: datetime | None = None,
        after_id: int = 0,
        batch: int = 5000,
    ) -> Iterator[LedgerRecord]:
        """Records in append order, filtered by topics, case and ``recorded_at <= until``, from after
        ``after_id`` (a record's ``id``); each carries its chain fields and ``id``."""
        ...

    def scan(
        self,
        columns: Sequence[str],
        *,
        topics: Sequence[str] | None = None,
        case_id: str | None = None,
        until: datetime | None = None,
        shard: tuple[int, int] | None = None,
        batch: int = 20_000,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """What `read` gives, as batches of tuples of ``columns`` then ``id`` (no instant columns:
        ValueError); ``shard=(i, n)`` keeps partitions with ``partition % n == i``."""
        ...

    def count(
        self,
        *,
        topics: Sequence[str] | None = None,
        case_id: str | None = None,
        until: datetime | None = None,
        after_id: int = 0,
    ) -> int:
        """How many records `read` with the same filters gives."""
        ...

    def checkpoint(self) -> Checkpoint:
        """Sign the current head of every chain, linked to the previous checkpoint."""
        ...

    def last_checkpoint(self) -> Checkpoint | None:
        """The latest checkpoint; None before the first."""
        ...

    def maybe_checkpoint(self, every_records: int, every_seconds: float) -> Checkpoint | None:
        """A checkpoint if ``every_records`` were appended since the last (or ``every_seconds`` passed
        and something was); None when nothing is new."""
        ...

    def verify(self, public_key: bytes | None = None) -> VerifyReport:
        """Check every chain and checkpoint; the report names the first problem of each chain."""
        ...

    def after_fork(self) -> None:
        """In a child process: leave the parent's connections to the parent."""
        ...

    def close(self) -> None:
        """Release the connections."""
        ...


@runtime_checkable
class PartitionCaseStore(Protocol):
    """One partition's cases and the snapshot they make: what the worker's `casestore.CaseStore` uses.

    Cases and snapshot change together, in one transaction (`write`): what is stored is always the
    state after a known offset. Missing cases, snapshot or meta are None, never an exception.
    """

    def snapshot(self) -> Snapshot | None:
        """The last snapshot written; None before the first (or after `clear`)."""
        ...

    def get(self, case_id: str) -> Case | None:
        """The case as last written; None if it never was."""
        ...

    def due(self, until: datetime) -> list[str]:
        """The ids of the cases whose due instant is at or before ``until`` (cases without one never)."""
        ...

    def count(self) -> int:
        """How many cases are stored."""
        ...

    def cases(self) -> Iterator[Case]:
        """Every stored case, by case id."""
        ...

    def meta(self, key: str) -> bytes | None:
        """What the latest `write` with ``key`` in its ``extra`` stored there (a write without it keeps
        it); None if none did."""
        ...

    def write(
        self,
        rows: list[tuple[str, Case, datetime | None]],
        snap: Snapshot,
        extra: dict[str, bytes] | None = None,
    ) -> None:
        """Store (case id, case, due) rows (a case written again is replaced, due included) with the
        snapshot and ``extra`` they make, all or nothing. Cases not in ``rows`` stay as they were."""
        ...

    def clear(self) -> None:
        """Forget every case, the snapshot and the meta (the partition is rebuilt from the ledger)."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...
