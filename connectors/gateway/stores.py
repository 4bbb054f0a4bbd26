"""The gateway's stores as interfaces: the API keys it checks and the answers it gives again.

`keys.KeyStore` and `idempotency.AnswerStore` (SQLite) are the implementations; the contracts every
implementation must keep are `tests/contracts/test_gateway_keys.py` and
`tests/contracts/test_idempotency.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .idempotency import Key, Stored
    from .keys import ApiKey


@runtime_checkable
class ApiKeyStore(Protocol):
    """Agencies' API keys, held as hashes: the key itself is returned once, by `add` / `rotate`.

    Instants are the store's own clock (`now`), in UTC. Unknown key ids are answered with None, never
    an exception; only `verify` raises (`keys.KeyRefused`).
    """

    def now(self) -> datetime:
        """The store's clock: what expiry is judged against."""
        ...

    def add(self, agency_id: str, expires_at: datetime | None = None) -> tuple[ApiKey, str]:
        """A new key for ``agency_id`` (an agency may hold several): (its record, the key, ``fq_`` +
        key id + ``_`` + secret). Each call makes a new key id and secret."""
        ...

    def list(self) -> list[ApiKey]:
        """Every key, revoked and expired ones too, oldest first (by creation, then key id)."""
        ...

    def get(self, key_id: str) -> ApiKey | None:
        """The record of ``key_id``; None if unknown."""
        ...

    def revoke(self, key_id: str) -> ApiKey | None:
        """Revoke a key, at once. Idempotent: revoking again keeps the first revocation time. None if
        unknown."""
        ...

    def expire(self, key_id: str, at: datetime) -> ApiKey | None:
        """Make a key expire at ``at`` unless it already expires sooner (never later); None if unknown."""
        ...

    def rotate(
        self, key_id: str, overlap: timedelta, expires_at: datetime | None = None
    ) -> tuple[ApiKey, ApiKey, str] | None:
        """A new key for the old key's agency; the old one expires ``overlap`` from now (as `expire`).
        (old record, new record, new key); None if ``key_id`` is unknown."""
        ...

    def verify(self, key: str) -> ApiKey:
        """The record of a presented key (surrounding whitespace ignored); raises `keys.KeyRefused`
        with rule ``api-key-unknown``, ``api-key-revoked`` or ``api-key-expired`` (expired once
        ``expires_at <= now``). A success may update ``last_used_at`` (at most once a minute)."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...


@runtime_checkable
class IdempotencyStore(Protocol):
    """The 202 answers given per CloudEvents (source, id), so a resend gets the same answer.

    The gateway keeps only acceptances. A store may forget answers older than its retention (the
    SQLite one: ``remember_days``, on open); within it, `get` gives back what `put` stored.
    """

    def get(self, key: Key) -> Stored | None:
        """The answer stored for ``key``; None if none is (or it was forgotten)."""
        ...

    def put(self, key: Key, stored: Stored) -> None:
        """Store the answer for ``key``, replacing an earlier one (the last put wins)."""
        ...

    def locked(self, keys: Iterable[Key]) -> AbstractAsyncContextManager[None]:
        """Hold every key's lock for the ``async with`` block: blocks holding a common key run one
        after the other; keys may repeat and come in any order without deadlock (taken sorted)."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...
