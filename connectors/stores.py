"""The connector runtime's store as an interface: what `runtime.Outbox` and `runtime.SinkRunner` need.

`runtime.Positions` (SQLite, ``state_dir/positions.db``) is the one implementation; the contract every
implementation must keep is `tests/contracts/test_positions.py`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class PositionStore(Protocol):
    """A connector's durable positions: string keys to string values, kept across restarts.

    Keys are free text; the runtime uses ``offset:TOPIC:PARTITION`` (a sink's next offset) and
    ``event:SOURCE:ID`` (what a source's outbox published, with its fingerprint). Writes are durable
    when the call returns and safe to make from several threads.
    """

    def get(self, key: str) -> str | None:
        """The value last put under ``key``; None if none was (or it was deleted). Never raises on a
        missing key."""
        ...

    def put(self, key: str, value: str) -> None:
        """Store ``value`` under ``key``, replacing any earlier value (the last put wins; putting the
        same value again changes nothing)."""
        ...

    def delete(self, prefix: str = "") -> None:
        """Forget every key starting with ``prefix`` (all keys for ``""``); no error if none matches.

        A prefix is matched exactly, character by character: ``%`` and ``_`` are no wildcards and case
        counts."""
        ...

    def close(self) -> None:
        """Release the store; nothing may be called on it afterwards."""
        ...
