"""The cases a worker holds (案件状态库): every case of a partition on disk, the hot ones in memory, and
snapshots that say which offset of the log the stored cases include.

Each partition the worker holds has a SQLite file in the data folder
(``cases/<group>/<topic>.<partition>.db``; measured against RocksDB and LMDB, `docs/performance.md`):

* ``cases``: one row per case — its id, the case encoded (`CaseCodec`: MessagePack, then zlib against a
  dictionary of the partition's own cases, ~1.2 KB a case against ~25 KB as Python objects) and the
  next instant the timer must look at it (indexed, so a timer pass costs what is due, not what is open);
* ``meta``: the snapshot — the next offset of the partition the stored cases include, the ledger's chain
  hash of the record before it, and the fingerprint of the code that folded them (`code_fingerprint`).

Cases and meta change in one transaction, so what is on disk is always the state after a known offset.
In memory: the cases changed since the last snapshot (*dirty*, pinned), those sealed into a snapshot
that waits for the ledger to hold what produced them (*sealed*, as bytes), and an LRU of clean cases
(*hot*, at most ``hot`` of them); anything else is read from disk when asked for.
"""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

Case = dict[str, Any]
Part = tuple[str, int]  # (topic, partition)
FORMAT = 1  # the stored encoding; a change refuses every older snapshot
TRAIN_ON = 64  # cases stored plain before a partition's dictionary is made from them
DICT_BYTES = 32768
RAW, PACKED = b"\x00", b"\x01"


def code_fingerprint() -> str:
    """What folded the stored cases: the encoding, the engine, the workflows, the policy code and the
    shipped policies. A snapshot made by other code may hold a case that code folds differently, so it is
    refused and the partition rebuilt from the ledger."""
    here = Path(__file__).parent
    h = hashlib.sha256(f"format {FORMAT}".encode())
    code = [*here.glob("engine/*.py"), *here.glob("workflows/*.py"), *here.glob("policy/*.py")]
    for path in sorted([*code, *here.glob("policies/*")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:32]


class CaseCodec:
    """A case to bytes and back: MessagePack (typed, language-neutral, no code run on load, unlike
    pickle), then zlib against a dictionary of what the partition's cases have in common (field names,
    agencies, places, rule ids) once one is made."""

    def __init__(self, zdict: bytes | None = None) -> None:
        self._enc, self._dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder()
        self.zdict = zdict
        self._c: Any = None
        self._d: Any = None
        if zdict:
            self._c, self._d = zlib.compressobj(3, zdict=zdict), zlib.decompressobj(zdict=zdict)

    @staticmethod
    def train(plain: Iterable[bytes]) -> bytes:
        """A dictionary from a sample of plain-encoded cases, as zlib takes it (the last 32 KB count)."""
        sample = list(plain)
        return b"".join(sample[:: max(1, len(sample) // 24)])[-DICT_BYTES:]

    def plain(self, case: Case) -> bytes:
        return self._enc.encode(case)

    def encode(self, case: Case) -> bytes:
        raw = self._enc.encode(case)
        if self._c is None:
            return RAW + raw
        c = self._c.copy()
        return PACKED + c.compress(raw) + c.flush()

    def decode(self, blob: bytes) -> Case:
        if blob[:1] == RAW:
            return self._dec.decode(blob[1:])  # type: ignore[no-any-return]
        if self._d is None:
            raise ValueError("a packed case in a store without its dictionary")
        d = self._d.copy()
        return self._dec.decode(d.decompress(blob[1:]) + d.flush())  # type: ignore[no-any-return]


class Snapshot(NamedTuple):
    """What a partition's store says it includes: every record below ``next_offset``."""

    next_offset: int
    ledger_hash: bytes | None  # the ledger's chain hash of the record at next_offset - 1
    code: str


def _ms(t: datetime | None) -> int | None:
    return None if t is None else int(t.timestamp() * 1000)


class PartitionStore:
    """One partition's cases and snapshot in a SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "PRAGMA synchronous=NORMAL"
        )  # WAL: a crash loses at most the last snapshots, never half
        self.db.execute("PRAGMA cache_size=-16384")  # 16 MiB of pages per partition
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS cases (case_id TEXT PRIMARY KEY, body BLOB NOT NULL, due INTEGER)"
        )
        self.db.execute("CREATE INDEX IF NOT EXISTS cases_due ON cases (due, case_id) WHERE due IS NOT NULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB)")
        meta = dict(self.db.execute("SELECT k, v FROM meta").fetchall())
        self.codec = CaseCodec(meta.get("zdict"))
        self._meta = meta

    def snapshot(self) -> Snapshot | None:
        m = self._meta
        if "next_offset" not in m:
            return None
        return Snapshot(int(m["next_offset"]), m.get("ledger_hash"), str(m.get("code", "")))

    def get(self, case_id: str) -> Case | None:
        row = self.db.execute("SELECT body FROM cases WHERE case_id = ?", (case_id,)).fetchone()
        return None if row is None else self.codec.decode(row[0])

    def due(self, until: datetime) -> list[str]:
        """Cases whose next instant for the timer is at or before ``until`` (the index on ``due``)."""
        rows = self.db.execute("SELECT case_id FROM cases WHERE due <= ?", (_ms(until),)).fetchall()
        return [r[0] for r in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM cases").fetchone()[0])

    def cases(self) -> Iterator[Case]:
        last = ""
        while True:  # in pages, so a long listing holds no read transaction open
            rows = self.db.execute(
                "SELECT case_id, body FROM cases WHERE case_id > ? ORDER BY case_id LIMIT 500", (last,)
            ).fetchall()
            for _, body in rows:
                yield self.codec.decode(body)
            if len(rows) < 500:
                return
            last = rows[-1][0]

    def meta(self, key: str) -> bytes | None:
        """What the owner stored with the snapshot under ``key`` (`write`'s ``extra``)."""
        v = self._meta.get(key)
        return None if v is None else bytes(v)

    def write(
        self,
        rows: list[tuple[str, Case, datetime | None]],
        snap: Snapshot,
        extra: dict[str, bytes] | None = None,
    ) -> None:
        """Cases and the snapshot they make, in one transaction; ``extra``: the owner's own figures about
        these cases (the metrics' handoff tally), stored with the snapshot so a restart need not
        recount them."""
        db, codec, meta_before = self.db, self.codec, dict(self._meta)
        db.execute("BEGIN IMMEDIATE")
        try:
            if self.codec.zdict is None and self.count() + len(rows) >= TRAIN_ON:  # all plain till then
                self._train(rows)
            db.executemany(
                "INSERT INTO cases VALUES (?, ?, ?) ON CONFLICT (case_id) DO UPDATE"
                " SET body = excluded.body, due = excluded.due",
                [(cid, self.codec.encode(case), _ms(due)) for cid, case, due in rows],
            )
            meta = {"next_offset": snap.next_offset, "ledger_hash": snap.ledger_hash, "code": snap.code}
            meta.update(extra or {})
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self.codec, self._meta = codec, meta_before
            raise
        self._meta.update(meta)

    def _train(self, rows: list[tuple[str, Case, datetime | None]]) -> None:
        """Make the partition's dictionary and store again, packed, the cases stored plain before it."""
        old = self.db.execute("SELECT case_id, body FROM cases").fetchall()
        plain = [b[1:] for _, b in old] + [self.codec.plain(c) for _, c, _ in rows]
        zdict = CaseCodec.train(plain)
        self.codec = CaseCodec(zdict)
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('zdict', ?)", (zdict,))
        self._meta["zdict"] = zdict
        self.db.executemany(
            "UPDATE cases SET body = ? WHERE case_id = ?",
            [(self.codec.encode(self.codec.decode(b)), cid) for cid, b in old],  # RAW decodes alike
        )

    def clear(self) -> None:
        """Forget every case and the snapshot: the partition is rebuilt from the ledger."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM cases")
        self.db.execute("DELETE FROM meta")
        self.db.execute("COMMIT")
        self._meta = {}
        self.codec = CaseCodec()

    def close(self) -> None:
        self.db.close()


@dataclass
class Seal:
    """Cases and offsets sealed together: written once the ledger holds ``needs``."""

    seq: int
    rows: dict[Part, list[tuple[str, Case, datetime | None]]]
    offsets: dict[Part, int]  # next offset included, per partition
    needs: dict[Part, int]  # the ledger must hold up to these offsets first
    extra: dict[Part, dict[str, bytes]] = field(default_factory=dict)  # stored with each snapshot


@dataclass
class _Entry:
    part: Part
    case: Case
    due: datetime | None
    fresh: bool = False  # not on disk yet
    seq: int = 0  # the seal holding it (0: dirty, not sealed yet)


@dataclass
class CaseStore:
    """Every case of the partitions a worker holds: ``get`` / ``put`` / ``due`` / ``seal`` / ``write``."""

    folder: Path
    hot_limit: int = 10_000
    stores: dict[Part, PartitionStore] = field(default_factory=dict)
    pinned: dict[str, _Entry] = field(default_factory=dict)  # dirty or sealed: not yet on disk
    hot: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)  # clean, least recent first
    _seq: int = 0
    _dirty: int = 0
    _counts: dict[Part, int] = field(default_factory=dict)  # cases on disk, per partition

    # -- partitions -------------------------------------------------------------------------------------

    def open(self, part: Part) -> PartitionStore:
        store = self.stores.get(part)
        if store is None:
            store = self.stores[part] = PartitionStore(self.folder / f"{part[0]}.{part[1]}.db")
            self._counts[part] = store.count()
        return store

    def drop(self, part: Part) -> None:
        """The partition went to another worker: its cases leave memory (the file stays for next time)."""
        for table in (self.pinned, self.hot):
            for cid in [cid for cid, e in table.items() if e.part == part]:
                self._dirty -= table is self.pinned and not table[cid].seq
                del table[cid]
        self._counts.pop(part, None)
        store = self.stores.pop(part, None)
        if store is not None:
            store.close()

    def clear(self, part: Part) -> None:
        """Forget a partition's cases and snapshot: it is rebuilt from the ledger."""
        self.drop(part)
        self.open(part).clear()
        self._counts[part] = 0

    # -- cases ------------------------------------------------------------------------------------------

    def get(self, case_id: str, part: Part | None = None) -> Case | None:
        """The case, wherever it is; ``part`` where the caller knows it (every held partition otherwise)."""
        e = self.pinned.get(case_id)
        if e is None:
            e = self.hot.get(case_id)
            if e is not None:
                self.hot.move_to_end(case_id)
        if e is not None:
            return e.case if part is None or e.part == part else None
        for p in [part] if part is not None else list(self.stores):
            store = self.stores.get(p)
            case = store.get(case_id) if store is not None else None
            if case is not None:
                self._make_hot(case_id, _Entry(p, case, None))
                return case
        return None

    def put(self, case_id: str, part: Part, case: Case, due: datetime | None, *, fresh: bool) -> None:
        """A case changed (``fresh``: a case not stored before): it stays in memory until a snapshot
        has written it."""
        self.hot.pop(case_id, None)
        old = self.pinned.get(case_id)
        if old is None or old.seq:
            self._dirty += 1
        self.pinned[case_id] = _Entry(part, case, due, fresh or (old is not None and old.fresh))

    def due(self, until: datetime) -> list[tuple[str, Part]]:
        """Cases the timer must look at: from each partition's due index, and the changed ones in memory
        (whose own instant overrides what is on disk)."""
        found = [(cid, e.part) for cid, e in self.pinned.items() if e.due is not None and e.due <= until]
        for part, store in self.stores.items():
            found += [(cid, part) for cid in store.due(until) if cid not in self.pinned]
        return found

    def __len__(self) -> int:
        return sum(self._counts.values()) + sum(1 for e in self.pinned.values() if e.fresh)

    def values(self) -> Iterator[Case]:
        """Every case (a listing: nothing is made hot on the way)."""
        pinned = dict(self.pinned)
        for store in list(self.stores.values()):
            for case in store.cases():
                e = pinned.get(case["case_id"])
                yield e.case if e is not None else case
        yield from (e.case for e in pinned.values() if e.fresh)

    def dirty(self) -> int:
        """Cases changed since the last seal (asked after every batch: counted, not scanned)."""
        return self._dirty

    # -- snapshots --------------------------------------------------------------------------------------

    def seal(
        self,
        offsets: dict[Part, int],
        needs: dict[Part, int],
        extra: dict[Part, dict[str, bytes]] | None = None,
    ) -> Seal:
        """Seal the dirty cases with the offsets they include; written by `write` once the ledger holds
        ``needs``. Until then they stay in memory."""
        self._seq += 1
        self._dirty = 0
        rows: dict[Part, list[tuple[str, Case, datetime | None]]] = {}
        for cid, e in self.pinned.items():
            if not e.seq:
                e.seq = self._seq
                rows.setdefault(e.part, []).append((cid, e.case, e.due))
        return Seal(self._seq, rows, dict(offsets), dict(needs), dict(extra or {}))

    def write(self, seal: Seal, hashes: dict[Part, bytes | None], code: str) -> None:
        """Write a seal to disk: each partition's cases with its snapshot. Touches only the files, so it
        may run in a thread while the owner reads the cases; `written` then marks them clean."""
        for part, nxt in seal.offsets.items():
            store, rows = self.stores.get(part), seal.rows.get(part, [])
            snap = Snapshot(nxt, hashes.get(part), code)
            if store is not None and (rows or store.snapshot() != snap):  # else revoked meanwhile: its
                store.write(rows, snap, seal.extra.get(part))  # next holder folds what this seal held

    def written(self, seal: Seal) -> None:
        """The seal is on disk: its cases that did not change since are clean now."""
        for part, rows in seal.rows.items():
            if part not in self.stores:
                continue
            for cid, _, _ in rows:
                e = self.pinned.get(cid)
                if e is None or (not e.fresh and e.seq != seal.seq):
                    continue
                if e.fresh:
                    self._counts[part] += 1
                    e.fresh = False
                if e.seq == seal.seq:
                    del self.pinned[cid]
                    self._make_hot(cid, e)

    def count(self, part: Part) -> int:
        return self._counts.get(part, 0)

    def _make_hot(self, case_id: str, e: _Entry) -> None:
        e.seq = 0
        self.hot[case_id] = e
        self.hot.move_to_end(case_id)
        while len(self.hot) > self.hot_limit:
            self.hot.popitem(last=False)

    def close(self) -> None:
        for part in list(self.stores):
            self.stores.pop(part).close()
