"""Per-agency API keys (接口密钥): random secrets shown once, stored only as SHA-256 hashes.

A key reads ``fq_<key id>_<secret>``: the key id lets staff tell which key a leaked string is (and
lets secret scanners find one by its prefix); the 256-bit secret is what proves the caller. The
store (SQLite, ``data_dir/gateway/keys.db`` by default) holds the key id, the agency, the hash and
when the key was created and revoked — never the key. The gateway looks the hash up on every
request, so a key revoked with `fengqiao gateway keys revoke` stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "fq_"


class KeyRefused(Exception):
    """The presented key does not authenticate; ``rule`` names why (api-key-unknown, api-key-revoked)."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    agency_id: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, "
            "sha256 TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT)"
        )
        self._lock = threading.Lock()

    def add(self, agency_id: str) -> tuple[ApiKey, str]:
        """A new key for ``agency_id``: (its record, the key itself — shown once, never stored)."""
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (key_id, agency_id, sha256, created_at) VALUES (?, ?, ?, ?)",
                (key_id, agency_id, digest(key), now.isoformat()),
            )
        return ApiKey(key_id, agency_id, now), key

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key_id, agency_id, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id"
            ).fetchall()
        return [_key(r) for r in rows]

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke a key (idempotent: a revoked key keeps its first revocation time); None if unknown."""
        with self._lock:
            self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (datetime.now(UTC).isoformat(), key_id),
            )
            row = self._db.execute(
                "SELECT key_id, agency_id, created_at, revoked_at FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return _key(row) if row else None

    def verify(self, key: str) -> ApiKey:
        """The key record of a presented key; `KeyRefused` if it is unknown or revoked."""
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, agency_id, created_at, revoked_at FROM api_keys WHERE sha256 = ?",
                (digest(key.strip()),),
            ).fetchone()
        if row is None:
            raise KeyRefused("api-key-unknown", "this API key is not known to the hub")
        found = _key(row)
        if found.revoked:
            raise KeyRefused(
                "api-key-revoked",
                f"API key {found.key_id} was revoked at {found.revoked_at:%Y-%m-%d %H:%M} UTC",
            )
        return found

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _key(row: tuple[str, str, str, str | None]) -> ApiKey:
    key_id, agency_id, created, revoked = row
    return ApiKey(
        key_id,
        agency_id,
        datetime.fromisoformat(created),
        datetime.fromisoformat(revoked) if revoked else None,
    )
