"""Per-agency API keys (接口密钥): random secrets shown once, stored only as SHA-256 hashes.

A key reads ``fq_<key id>_<secret>``: the key id lets staff tell which key a leaked string is (and
lets secret scanners find one by its prefix); the 256-bit secret is what proves the caller. The
store (SQLite, ``data_dir/gateway/keys.db`` by default) holds the key id, the agency, the hash, when
the key was created, when it expires or was revoked, and when it was last used — never the key.
SHA-256 rather than a slow password hash: the secret is random and 256 bits long, so there is
nothing to guess, and the gateway hashes on every request. The gateway looks the hash up on every
request, so a key revoked with `fengqiao gateway keys revoke` stops working at once.

Rotation (轮换): an agency may hold several keys at once; `rotate` adds a new key and sets the old
one to expire after an overlap, so the agency's system can switch over without a gap.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

PREFIX = "fq_"
TOUCH_EVERY = timedelta(minutes=1)  # last use is written at most this often per key: no write per request
_LOCAL = ZoneInfo("Asia/Shanghai")
_COLUMNS = "key_id, agency_id, created_at, revoked_at, expires_at, last_used_at"
# Columns added after the first release, with their type: an older file gets them on open.
_ADDED = {"expires_at": "TEXT", "last_used_at": "TEXT"}
_SPAN = re.compile(r"^(\d+)\s*([mhdw])$", re.ASCII)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class KeyRefused(Exception):
    """The presented key does not authenticate; ``rule`` names why
    (api-key-unknown, api-key-revoked, api-key-expired)."""

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
    expires_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def status(self, now: datetime) -> str:
        """``revoked``, ``expired`` or ``active``."""
        return "revoked" if self.revoked else "expired" if self.expired(now) else "active"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_span(text: str) -> timedelta:
    """``90d``, ``2w``, ``12h``, ``30m`` as a duration; ValueError otherwise."""
    m = _SPAN.match(text.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 90d, 2w, 12h or 30m")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def parse_expiry(text: str, now: datetime) -> datetime:
    """When a key given ``--expires TEXT`` at ``now`` expires (UTC).

    A duration (``90d``) counts from now; a date (``2027-03-31``) means the key works through that
    day in Asia/Shanghai, as staff read a date; an ISO instant needs its time zone.
    """
    text = text.strip()
    try:
        return now + parse_span(text)
    except ValueError:
        pass
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        return datetime.combine(day + timedelta(days=1), time(), _LOCAL).astimezone(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration (90d, 2w, 12h) nor a date (2027-03-31) nor an ISO instant"
        ) from None
    if at.utcoffset() is None:
        raise ValueError(f"{text!r}: an instant needs its time zone, e.g. 2027-03-31T18:00+08:00")
    return at.astimezone(UTC)


class KeyStore:
    def __init__(self, path: Path, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._clock = clock
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, "
            "sha256 TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT, "
            "expires_at TEXT, last_used_at TEXT)"
        )
        self._migrate()
        self._lock = threading.Lock()
        self._touched: dict[str, datetime] = {}  # key id -> last use written, this process

    def _migrate(self) -> None:
        """Add the columns a store made by an older hub lacks (SQLite adds them as NULL: no expiry)."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(api_keys)")}
        for column, kind in _ADDED.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE api_keys ADD COLUMN {column} {kind}")

    def now(self) -> datetime:
        return self._clock()

    def add(self, agency_id: str, expires_at: datetime | None = None) -> tuple[ApiKey, str]:
        """A new key for ``agency_id``: (its record, the key itself — shown once, never stored)."""
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        now = self.now()
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (key_id, agency_id, sha256, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (key_id, agency_id, digest(key), now.isoformat(), _iso(expires_at)),
            )
        return ApiKey(key_id, agency_id, now, expires_at=expires_at), key

    def list(self) -> list[ApiKey]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM api_keys ORDER BY created_at, key_id").fetchall()
        return [_key(r) for r in rows]

    def get(self, key_id: str) -> ApiKey | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        return _key(row) if row else None

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke a key (idempotent: a revoked key keeps its first revocation time); None if unknown."""
        with self._lock:
            self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (self.now().isoformat(), key_id),
            )
        return self.get(key_id)

    def expire(self, key_id: str, at: datetime) -> ApiKey | None:
        """Make a key expire at ``at`` unless it expires sooner already; None if unknown."""
        found = self.get(key_id)
        if found is None or (found.expires_at is not None and found.expires_at <= at):
            return found
        with self._lock:
            self._db.execute("UPDATE api_keys SET expires_at = ? WHERE key_id = ?", (_iso(at), key_id))
        return self.get(key_id)

    def rotate(
        self, key_id: str, overlap: timedelta, expires_at: datetime | None = None
    ) -> tuple[ApiKey, ApiKey, str] | None:
        """A new key for the old one's agency; the old one expires after ``overlap`` (both work until
        then). (old record, new record, new key); None if ``key_id`` is unknown. A revoked or expired
        key can be rotated too: the agency gets its new key, the old stays refused."""
        old = self.get(key_id)
        if old is None:
            return None
        new, key = self.add(old.agency_id, expires_at)
        old = self.expire(key_id, self.now() + overlap)
        assert old is not None
        return old, new, key

    def verify(self, key: str) -> ApiKey:
        """The key record of a presented key; `KeyRefused` if it is unknown, revoked or expired."""
        now = self.now()
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE sha256 = ?", (digest(key.strip()),)
            ).fetchone()
        if row is None:
            raise KeyRefused("api-key-unknown", "this API key is not known to the hub")
        found = _key(row)
        if found.revoked:
            raise KeyRefused(
                "api-key-revoked",
                f"API key {found.key_id} was revoked at {found.revoked_at:%Y-%m-%d %H:%M} UTC",
            )
        if found.expired(now):
            raise KeyRefused(
                "api-key-expired", f"API key {found.key_id} expired at {found.expires_at:%Y-%m-%d %H:%M} UTC"
            )
        self._touch(found.key_id, now)
        return found

    def _touch(self, key_id: str, now: datetime) -> None:
        """Record a successful use, at most once per `TOUCH_EVERY` per key (a listing is that fresh)."""
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_EVERY:
            return
        self._touched[key_id] = now
        with self._lock:
            self._db.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE key_id = ?", (now.isoformat(), key_id)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _key(row: tuple[str, str, str, str | None, str | None, str | None]) -> ApiKey:
    key_id, agency_id, created, revoked, expires, used = row
    return ApiKey(
        key_id, agency_id, datetime.fromisoformat(created), _when(revoked), _when(expires), _when(used)
    )
