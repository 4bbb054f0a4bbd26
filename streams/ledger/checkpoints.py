"""Checkpoints: the signed heads of every chain at one instant, each linked to the one before.

Checkpoints
    The suite signs the UTF-8 bytes of this JSON (keys sorted, separators ``,`` and ``:``, ASCII)::

        {"created_at": "2024-05-01T08:00:00.000000Z",
         "heads": {"<topic>/<partition>": {"hash": "<hex>", "offset": <n>}, ...},
         "previous": "<hex D(previous checkpoint's message)>" or "" for the first,
         "suite": "sha256-ed25519"}

    ``previous`` chains the checkpoints, so removing one from the middle is detected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select

from .format import _utc
from .tables import _Parts


class ChainHead(NamedTuple):
    offset: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Signed heads of every chain at one instant (see the module docstring for the signed bytes)."""

    id: int
    created_at: datetime
    suite: str
    heads: dict[tuple[str, int], ChainHead]
    previous: str
    signature: bytes
    key_fingerprint: str
    last_record_id: int

    def message(self) -> bytes:
        return _checkpoint_message(self.created_at, self.heads, self.previous, self.suite)


def _heads_json(heads: Mapping[tuple[str, int], ChainHead]) -> dict[str, dict[str, Any]]:
    return {f"{t}/{p}": {"hash": h.hash.hex(), "offset": h.offset} for (t, p), h in heads.items()}


def _heads_from_json(text: str) -> dict[tuple[str, int], ChainHead]:
    out: dict[tuple[str, int], ChainHead] = {}
    for chain, h in json.loads(text).items():
        topic, _, partition = chain.rpartition("/")
        out[(topic, int(partition))] = ChainHead(int(h["offset"]), bytes.fromhex(h["hash"]))
    return out


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _checkpoint_message(
    created_at: datetime, heads: Mapping[tuple[str, int], ChainHead], previous: str, suite: str
) -> bytes:
    return _canonical_json(
        {
            "created_at": _utc(created_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "heads": _heads_json(heads),
            "previous": previous,
            "suite": suite,
        }
    ).encode()


def _checkpoint_of(row: Any) -> Checkpoint:
    """A ``ledger_checkpoints`` row as a `Checkpoint` (ValueError, KeyError, … when it is unreadable)."""
    return Checkpoint(
        id=row.id,
        created_at=_utc(row.created_at),
        suite=row.suite,
        heads=_heads_from_json(row.heads),
        previous=row.previous,
        signature=bytes(row.signature),
        key_fingerprint=row.key_fingerprint,
        last_record_id=row.last_record_id,
    )


class _Checkpoints(_Parts):
    """`Ledger`'s checkpoint methods."""

    def checkpoint(self) -> Checkpoint:
        """Sign the current head of every chain, linked to the previous checkpoint."""
        C, H, R = self._checkpoints, self._heads, self._records
        with self._write() as conn:
            if conn.dialect.name == "postgresql":  # one checkpointer at a time keeps `previous` a chain
                table = conn.dialect.identifier_preparer.format_table(C)
                conn.exec_driver_sql(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            self._record_suite(conn)
            heads = {
                (r.topic, r.partition): ChainHead(r.offset, bytes(r.hash))
                for r in conn.execute(select(H).order_by(H.c.topic, H.c.partition))
            }
            last_id = conn.execute(select(func.max(R.c.id))).scalar() or 0
            prev = conn.execute(select(C).order_by(C.c.id.desc()).limit(1)).first()
            previous = self.suite.digest(self._checkpoint(prev).message()).hex() if prev is not None else ""
            created_at = datetime.now(UTC)
            msg = _checkpoint_message(created_at, heads, previous, self.suite.name)
            signature = self.suite.sign(msg)
            fp = self.suite.fingerprint(self.suite.public_key())
            cid = conn.execute(
                insert(C)
                .values(
                    created_at=created_at,
                    suite=self.suite.name,
                    heads=_canonical_json(_heads_json(heads)),
                    previous=previous,
                    signature=signature,
                    key_fingerprint=fp,
                    last_record_id=last_id,
                )
                .returning(C.c.id)
            ).scalar_one()
        return Checkpoint(cid, created_at, self.suite.name, heads, previous, signature, fp, last_id)

    def last_checkpoint(self) -> Checkpoint | None:
        C = self._checkpoints
        with self._engine.connect() as conn:
            row = conn.execute(select(C).order_by(C.c.id.desc()).limit(1)).first()
        return None if row is None else self._checkpoint(row)

    def maybe_checkpoint(self, every_records: int, every_seconds: float) -> Checkpoint | None:
        """Checkpoint when about ``every_records`` were appended since the last one, or ``every_seconds``
        have passed and something was; None otherwise (nothing new is never re-signed)."""
        last = self.last_checkpoint()
        with self._engine.connect() as conn:
            max_id = conn.execute(select(func.max(self._records.c.id))).scalar() or 0
        new = max_id - (last.last_record_id if last else 0)
        if new <= 0:
            return None
        if last is None or new >= every_records:
            return self.checkpoint()
        if (datetime.now(UTC) - last.created_at).total_seconds() >= every_seconds:
            return self.checkpoint()
        return None

    @staticmethod
    def _checkpoint(row: Any) -> Checkpoint:
        return _checkpoint_of(row)
