"""The webhook sink's own records (``state_dir/webhook.db``, SQLite): what was delivered to whom,
what failed (with the payload, for `fengqiao webhooks redeliver`), and each case's parties.

A delivery is recorded before `WebhookSink.write` returns and checked before every POST, so a
record read again after a crash is not sent again. The sink and the CLI may use the file at the
same time (WAL, busy timeout).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FILE = "webhook.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS delivered (
    agency TEXT NOT NULL, event_id TEXT NOT NULL, case_id TEXT NOT NULL, event_type TEXT NOT NULL,
    attempts INTEGER NOT NULL, via TEXT NOT NULL, delivered_at TEXT NOT NULL,
    PRIMARY KEY (agency, event_id));
CREATE TABLE IF NOT EXISTS failed (
    agency TEXT NOT NULL, event_id TEXT NOT NULL, case_id TEXT NOT NULL, event_type TEXT NOT NULL,
    attempts INTEGER NOT NULL, last_error TEXT NOT NULL, url TEXT NOT NULL, payload BLOB NOT NULL,
    failed_at TEXT NOT NULL, resolved_at TEXT,
    PRIMARY KEY (agency, event_id));
CREATE TABLE IF NOT EXISTS case_parties (
    case_id TEXT NOT NULL, agency TEXT NOT NULL, PRIMARY KEY (case_id, agency));
CREATE TABLE IF NOT EXISTS case_versions (case_id TEXT PRIMARY KEY, version INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Failure:
    agency: str
    event_id: str
    case_id: str
    event_type: str
    attempts: int
    last_error: str
    url: str
    payload: bytes
    failed_at: str
    resolved_at: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DeliveryLog:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / FILE
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- deliveries ----------------------------------------------------------------------------------

    def is_delivered(self, agency: str, event_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM delivered WHERE agency = ? AND event_id = ?", (agency, event_id)
            ).fetchone()
        return row is not None

    def mark_delivered(
        self, agency: str, event_id: str, case_id: str, event_type: str, attempts: int, via: str = "sink"
    ) -> None:
        """Record the delivery (once) and close a failure recorded for it earlier."""
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO delivered VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (agency, event_id, case_id, event_type, attempts, via, now),
                )
                self._db.execute(
                    "UPDATE failed SET resolved_at = ? "
                    "WHERE agency = ? AND event_id = ? AND resolved_at IS NULL",
                    (now, agency, event_id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def delivered(self, agency: str | None = None) -> list[tuple[str, str]]:
        """(agency, event_id) of every delivery, in the order recorded."""
        sql, args = "SELECT agency, event_id FROM delivered", ()
        if agency is not None:
            sql, args = sql + " WHERE agency = ?", (agency,)
        with self._lock:
            return [(a, e) for a, e in self._db.execute(sql + " ORDER BY rowid", args)]

    # -- failures ------------------------------------------------------------------------------------

    def record_failure(
        self,
        agency: str,
        event_id: str,
        case_id: str,
        event_type: str,
        attempts: int,
        error: str,
        url: str,
        payload: bytes,
    ) -> None:
        """Record (or update: attempts add up) a delivery given up on, with what to send again."""
        with self._lock:
            self._db.execute(
                "INSERT INTO failed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) "
                "ON CONFLICT (agency, event_id) DO UPDATE "
                "SET attempts = failed.attempts + excluded.attempts, "
                "last_error = excluded.last_error, url = excluded.url, payload = excluded.payload, "
                "failed_at = excluded.failed_at, resolved_at = NULL",
                (agency, event_id, case_id, event_type, attempts, error, url, payload, _now()),
            )

    def failures(
        self, *, agency: str | None = None, event_id: str | None = None, resolved: bool = False
    ) -> list[Failure]:
        """Failures in the order recorded; open ones only unless ``resolved``."""
        where, args = [], []
        if not resolved:
            where.append("resolved_at IS NULL")
        if agency is not None:
            where.append("agency = ?")
            args.append(agency)
        if event_id is not None:
            where.append("event_id = ?")
            args.append(event_id)
        sql = "SELECT * FROM failed" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY rowid"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Failure(*r[:7], bytes(r[7]), r[8], r[9]) for r in rows]

    def count_attempts(self, agency: str, event_id: str, attempts: int, error: str) -> None:
        """A redelivery that failed again: add its attempts, keep the failure open."""
        with self._lock:
            self._db.execute(
                "UPDATE failed SET attempts = attempts + ?, last_error = ?, failed_at = ? "
                "WHERE agency = ? AND event_id = ?",
                (attempts, error, _now(), agency, event_id),
            )

    # -- parties -------------------------------------------------------------------------------------

    def parties(self, case_id: str) -> tuple[int, tuple[str, ...]]:
        """(the case version the parties are complete for, -1 if never looked up; the parties)."""
        with self._lock:
            row = self._db.execute(
                "SELECT version FROM case_versions WHERE case_id = ?", (case_id,)
            ).fetchone()
            names = self._db.execute(
                "SELECT agency FROM case_parties WHERE case_id = ? ORDER BY agency", (case_id,)
            ).fetchall()
        return (row[0] if row else -1), tuple(n for (n,) in names)

    def add_parties(self, case_id: str, agencies: Iterable[str], version: int | None = None) -> None:
        """Add parties; with ``version``: they are the case's complete parties as of that version."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO case_parties VALUES (?, ?)", [(case_id, a) for a in agencies]
                )
                if version is not None:
                    self._db.execute(
                        "INSERT INTO case_versions VALUES (?, ?) ON CONFLICT (case_id) DO UPDATE "
                        "SET version = max(case_versions.version, excluded.version)",
                        (case_id, version),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
