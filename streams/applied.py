"""Where each partition's records are applied *and* archived (已归档的处理位置): what lets a restarted
worker fold the log up to there instead of deciding every event again.

A worker that restarts on the embedded broker finds no committed offsets (the broker kept them in
memory), so without this it would catch up on every record through `engine.handle`, looking each
decision up in the ledger. An offset is written here only once the ledger holds the records below it
*and* every record their processing produced (decisions, updates, dead letters): folding below it then
yields exactly the state the worker had, decisions included. The file is a hint that can only lag: a
lagging offset means more catch-up, never a lost decision; an offset past the ledger's end (a ledger
replaced under it) is not trusted.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from pathlib import Path

Position = tuple[str, int]  # (topic, partition)


class AppliedOffsets:
    """``pending(commits, needs)`` after each batch; ``settle(ledger_positions)`` now and then;
    ``get(topic, partition)`` on assignment."""

    def __init__(self, path: Path | None, group: str) -> None:
        self.group = group
        self._db = (
            sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False) if path else None
        )
        if self._db is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS applied_offsets (grp TEXT, topic TEXT, part INTEGER,"
                " next_offset INTEGER, PRIMARY KEY (grp, topic, part))"
            )
        self._pending: deque[tuple[dict[Position, int], dict[Position, int]]] = deque()

    def get(self, topic: str, partition: int) -> int:
        """The next offset to apply for (topic, partition) as last settled here; 0 if none."""
        if self._db is None:
            return 0
        row = self._db.execute(
            "SELECT next_offset FROM applied_offsets WHERE grp = ? AND topic = ? AND part = ?",
            (self.group, topic, partition),
        ).fetchone()
        return int(row[0]) if row else 0

    def pending(self, commits: dict[Position, int], needs: dict[Position, int]) -> None:
        """A batch applied up to ``commits`` (next offsets), safe once the ledger holds ``needs``
        (the last offsets it read and wrote)."""
        self._pending.append((commits, needs))

    def has_pending(self) -> bool:
        return bool(self._pending)

    def settle(self, ledger: dict[Position, int]) -> int:
        """Write down the batches whose records the ledger now holds, in order; returns how many."""
        settled: dict[Position, int] = {}
        n = 0
        while self._pending and all(ledger.get(p, -1) >= o for p, o in self._pending[0][1].items()):
            commits, _ = self._pending.popleft()
            settled.update(commits)
            n += 1
        if settled and self._db is not None:
            self._db.executemany(
                # The larger offset wins: every offset written was safe when written, and stays so (it
                # speaks of the log, not of the worker), whichever worker held the partition then.
                "INSERT INTO applied_offsets VALUES (?, ?, ?, ?) ON CONFLICT (grp, topic, part)"
                " DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
                [(self.group, t, p, o) for (t, p), o in settled.items()],
            )
        return n

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
