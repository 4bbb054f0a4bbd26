"""Idempotency (幂等): the answer given for an accepted (source, id), so a resend gets it again.

CloudEvents are unique by ``source`` + ``id``. The first time the hub accepts one, the gateway
keeps a fingerprint of the event (its type, case and data) and the 202 answer; the same event again
gets the same answer and publishes nothing, a different event under the same id is a conflict
(409). Only acceptances are kept: a refusal publishes nothing, so it is simply decided again (a 403
may turn into a 202 once the case names the agency; a fixed event may keep its id). A 503 is never
final.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fengqiao.schemas.codec import to_json

from ..cloudevents_json import Accepted

Key = tuple[str, str]  # (source, id)


def fingerprint(accepted: Accepted) -> str:
    """What makes two sends the same event: type, case and data — as the Outbox compares them, not
    the JSON's key order or spacing, nor the CloudEvents ``time`` a system may stamp on each send."""
    env = accepted.envelope
    body = json.dumps([env.type, env.subject, to_json(accepted.record)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int
    body: dict[str, Any]


class AnswerStore:
    """Accepted answers by (source, id) in SQLite, kept ``remember_days`` (the ledger remembers longer)."""

    def __init__(self, path: Path, remember_days: int = 30) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (source TEXT NOT NULL, id TEXT NOT NULL, "
            "fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, "
            "stored_at TEXT NOT NULL, "
            "PRIMARY KEY (source, id))"
        )
        cutoff = datetime.now(UTC) - timedelta(days=remember_days)
        self._db.execute("DELETE FROM answers WHERE stored_at < ?", (cutoff.isoformat(),))
        self._lock = threading.Lock()
        self._key_locks: dict[Key, tuple[asyncio.Lock, int]] = {}

    def get(self, key: Key) -> Stored | None:
        with self._lock:
            row = self._db.execute(
                "SELECT fingerprint, status, body FROM answers WHERE source = ? AND id = ?", key
            ).fetchone()
        return Stored(row[0], row[1], json.loads(row[2])) if row else None

    def put(self, key: Key, stored: Stored) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                (
                    *key,
                    stored.fingerprint,
                    stored.status,
                    json.dumps(stored.body, ensure_ascii=False),
                    datetime.now(UTC).isoformat(),
                ),
            )

    @asynccontextmanager
    async def locked(self, keys: Iterable[Key]) -> AsyncIterator[None]:
        """Hold the lock of each key (in sorted order, so two batches never wait on each other in a
        circle): concurrent sends of one event are decided one after the other."""
        async with AsyncExitStack() as stack:
            for key in sorted(set(keys)):
                lock, users = self._key_locks.get(key, (asyncio.Lock(), 0))
                self._key_locks[key] = (lock, users + 1)
                stack.callback(self._release, key)
                await stack.enter_async_context(lock)
            yield

    def _release(self, key: Key) -> None:
        lock, users = self._key_locks[key]
        if users <= 1:
            del self._key_locks[key]  # nobody else waits on it: forget it, the map stays small
        else:
            self._key_locks[key] = (lock, users - 1)

    def close(self) -> None:
        with self._lock:
            self._db.close()
