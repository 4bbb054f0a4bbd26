"""The conformance harness of `ReadModelSink`: the downstream is the database itself (SQLite in workdir).

Failures are injected at the driver boundary. The harness and the sink share one process, so the
harness listens to ``before_cursor_execute`` on every SQLAlchemy `Engine` and acts only on
connections to its own database file, and only on the ``INSERT INTO events`` each delivery starts
with: the DB-API error it raises there is the one a real driver raises, wrapped by SQLAlchemy and
sorted by the sink (OperationalError → retried, IntegrityError → dead letter). The sink needs no hook.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from fengqiao.connectors.conformance import SinkHarness


class ReadModelHarness(SinkHarness):
    def __init__(self, workdir: Path) -> None:
        self.db = (Path(workdir) / "readmodel.db").resolve()
        self._lock = threading.Lock()
        self._fail_next = 0
        self._failing_cases: set[str] = set()
        self._slow = 0.0
        self._listening = False

    def config(self) -> dict[str, Any]:
        return {
            "url": f"sqlite:///{self.db}",
            "errors": {"retries": 3, "backoff_initial_s": 0.05, "backoff_max_s": 0.2},
        }

    async def open(self) -> None:
        self.db.parent.mkdir(parents=True, exist_ok=True)
        if not self._listening:
            event.listen(Engine, "before_cursor_execute", self._before_cursor_execute)
            self._listening = True

    async def close(self) -> None:
        if self._listening:
            event.remove(Engine, "before_cursor_execute", self._before_cursor_execute)
            self._listening = False

    # -- the downstream's failures -----------------------------------------------------------------------
    def fail_next(self, n: int) -> None:
        with self._lock:
            self._fail_next = n

    def fail_case(self, case_id: str) -> None:
        with self._lock:
            self._failing_cases.add(case_id)

    def slow(self, seconds: float) -> None:
        self._slow = seconds

    def _before_cursor_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not statement.lstrip().upper().startswith("INSERT INTO EVENTS") or not self._mine(conn):
            return
        if self._slow:
            time.sleep(self._slow)  # the sink writes from a worker thread: this slows it, not the loop
        values = parameters.values() if isinstance(parameters, dict) else parameters
        with self._lock:
            refused = next((c for c in self._failing_cases if c in values), None)
            if refused is None and self._fail_next > 0:
                self._fail_next -= 1
                raise sqlite3.OperationalError("database is locked (injected by the conformance harness)")
        if refused is not None:
            raise sqlite3.IntegrityError(f"CHECK constraint failed: case {refused} (injected by the harness)")

    def _mine(self, conn: Any) -> bool:
        database = conn.engine.url.database
        return bool(database) and Path(database).resolve() == self.db

    # -- what the downstream holds -------------------------------------------------------------------------
    def _column(self, sql: str) -> list[str]:
        if not self.db.exists():
            return []
        db = sqlite3.connect(self.db, timeout=30)
        try:
            return [r[0] for r in db.execute(sql)]
        except sqlite3.OperationalError:  # no tables yet: the sink has not started
            return []
        finally:
            db.close()

    async def received(self) -> list[str]:
        """Event ids in the events table, in insert order (SQLite's rowid). The table keys on the id,
        so a redelivered record can never show twice: that is the idempotence under test."""
        return self._column("SELECT event_id FROM events ORDER BY rowid")

    def cases(self) -> list[str]:
        return list(dict.fromkeys(self._column("SELECT case_id FROM events ORDER BY rowid")))
