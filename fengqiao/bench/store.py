"""Which on-disk store should hold a worker's cases: SQLite, RocksDB (rocksdict) or LMDB, measured.

A worker keeps each Kafka partition's cases in a store in its data folder: case id -> compressed encoded
case (~1.1 KB, simulated by random bytes plus some text, so it compresses poorly), an optional "due"
instant (epoch ms) indexed for the timer's "which cases are due at or before T", and the partition's
``next_offset`` and hash, all written atomically by a snapshot about every second. On the same data
(seeded, so every engine sees the same ids, bodies and due values) each engine is measured for:

a. bulk load of ``n_cases`` in snapshots of 5,000 (cases/s), with fast and with durable commits;
b. steady snapshots: 200 snapshots of 2,000 random existing cases, bodies and due values changed (ms);
c. 100,000 random point reads of existing keys after reopening the store (µs), then again after evicting
   the store's files from the OS page cache (``posix_fadvise(DONTNEED)``), i.e. from disk;
d. the due query, cases with due <= T where about 1,000 are due (ms);
e. size on disk (allocated bytes per case) and the process's VmRSS growth during the reads;
f. what a restart pays: opening the store and reading its meta (ms).

"Fast" and "durable" commits as each engine defines them: SQLite WAL with synchronous=NORMAL (atomic,
may lose the last commits on power loss) vs FULL; RocksDB WriteOptions.sync False (WAL not fsynced) vs
True; LMDB sync=False (MDB_NOSYNC) vs the default sync=True. Each snapshot is an upsert: the key-value
stores read the old value (its first 8 bytes hold the due) to delete the old due-index entry, which is
what SQLite does inside for its index. Engines run one after another, each in a fresh process, so RSS
figures are their own. Cases are loaded in random id order (the conservative case for the B-trees).

Run: ``python -m fengqiao.bench.store [n_cases] [--folder DIR]`` (RocksDB and LMDB come with the dev extras).
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import importlib.metadata
import os
import random
import shutil
import sqlite3
import statistics
import struct
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from time import perf_counter, perf_counter_ns
from typing import Any, Protocol

import lmdb
from rocksdict import Options, Rdict, ReadOptions, WriteBatch, WriteOptions

Case = tuple[str, bytes, int | None]  # case id, body, due (epoch ms or None)
BASE_MS, SPAN_MS = 1_795_000_000_000, 90 * 86_400_000  # due instants over 90 days
LOAD_BATCH, STEADY_SNAPSHOTS, STEADY_BATCH, READS, DUE_WANTED = 5000, 200, 2000, 100_000, 1000
TEXT = ("案件移送 handoff accepted by the county court; 受理 due within three working days. " * 40).encode()
META = b"\x00meta"
_DUE = struct.Struct(">q")  # the key-value stores' value: due (-1 for none) then body
_DUE_SQL = "SELECT case_id FROM cases WHERE due <= ? ORDER BY due"  # the timer's query


class Store(Protocol):
    def write(self, cases: Sequence[Case], next_offset: int, digest: bytes) -> None: ...
    def get(self, case_id: str) -> tuple[bytes, int | None] | None: ...
    def due(self, t_ms: int) -> list[str]: ...
    def meta(self) -> tuple[int, bytes] | None: ...
    def close(self) -> None: ...


def _split(value: bytes) -> tuple[bytes, int | None]:
    due = _DUE.unpack_from(value)[0]
    return value[8:], None if due < 0 else due


def _due_key(due: int, key: bytes) -> bytes:
    return b"%016d:%s" % (due, key)


class SqliteStore:
    def __init__(self, path: Path, durable: bool, without_rowid: bool = True) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path / "cases.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self.db.executescript(f"""
            CREATE TABLE IF NOT EXISTS cases(case_id TEXT PRIMARY KEY, body BLOB NOT NULL, due INTEGER)
                {"WITHOUT ROWID" if without_rowid else ""};
            CREATE INDEX IF NOT EXISTS cases_due ON cases(due) WHERE due IS NOT NULL;
            CREATE TABLE IF NOT EXISTS meta(id INTEGER PRIMARY KEY CHECK (id = 0), next_offset INTEGER,
                hash BLOB);
        """)

    def write(self, cases: Sequence[Case], next_offset: int, digest: bytes) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO cases VALUES (?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET body = excluded.body,"
            " due = excluded.due",
            cases,
        )
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (0, ?, ?)", (next_offset, digest))
        self.db.execute("COMMIT")

    def get(self, case_id: str) -> tuple[bytes, int | None] | None:
        return self.db.execute("SELECT body, due FROM cases WHERE case_id = ?", (case_id,)).fetchone()

    def due(self, t_ms: int) -> list[str]:
        return [r[0] for r in self.db.execute(_DUE_SQL, (t_ms,))]

    def meta(self) -> tuple[int, bytes] | None:
        return self.db.execute("SELECT next_offset, hash FROM meta").fetchone()

    def close(self) -> None:
        self.db.close()


class RocksStore:
    def __init__(self, path: Path, durable: bool) -> None:
        opts = Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.create_missing_column_families(True)
        self.db = Rdict(str(path), opts, column_families={"due": Options(raw_mode=True)})
        self.due_cf, self.due_h = self.db.get_column_family("due"), self.db.get_column_family_handle("due")
        self.wo = WriteOptions()
        self.wo.sync = durable

    def write(self, cases: Sequence[Case], next_offset: int, digest: bytes) -> None:
        keys = [c[0].encode() for c in cases]
        wb = WriteBatch(raw_mode=True)
        for key, (_, body, due), old in zip(keys, cases, self.db.get(keys), strict=True):
            old_due = _split(old)[1] if old is not None else None
            if old_due is not None and old_due != due:
                wb.delete(_due_key(old_due, key), self.due_h)
            if due is not None and due != old_due:
                wb.put(_due_key(due, key), b"", self.due_h)
            wb.put(key, _DUE.pack(-1 if due is None else due) + body)
        wb.put(META, _DUE.pack(next_offset) + digest)
        self.db.write(wb, self.wo)

    def get(self, case_id: str) -> tuple[bytes, int | None] | None:
        value = self.db.get(case_id.encode())
        return None if value is None else _split(value)

    def due(self, t_ms: int) -> list[str]:
        ro = ReadOptions()
        ro.set_iterate_upper_bound(b"%016d" % (t_ms + 1))
        return [k[17:].decode() for k in self.due_cf.keys(read_opt=ro)]

    def meta(self) -> tuple[int, bytes] | None:
        value = self.db.get(META)
        return None if value is None else (_DUE.unpack_from(value)[0], value[8:])

    def close(self) -> None:
        del self.due_cf, self.due_h
        self.db.close()


class LmdbStore:
    def __init__(self, path: Path, durable: bool) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=1 << 36, max_dbs=3, sync=durable)
        self.cases, self.due_db, self.meta_db = (self.env.open_db(n) for n in (b"cases", b"due", b"meta"))

    def write(self, cases: Sequence[Case], next_offset: int, digest: bytes) -> None:
        with self.env.begin(write=True) as txn:
            for case_id, body, due in cases:
                key = case_id.encode()
                old = txn.get(key, db=self.cases)
                old_due = _split(old)[1] if old is not None else None
                if old_due is not None and old_due != due:
                    txn.delete(_due_key(old_due, key), db=self.due_db)
                if due is not None and due != old_due:
                    txn.put(_due_key(due, key), b"", db=self.due_db)
                txn.put(key, _DUE.pack(-1 if due is None else due) + body, db=self.cases)
            txn.put(META, _DUE.pack(next_offset) + digest, db=self.meta_db)

    def get(self, case_id: str) -> tuple[bytes, int | None] | None:
        with self.env.begin() as txn:
            value = txn.get(case_id.encode(), db=self.cases)
        return None if value is None else _split(value)

    def due(self, t_ms: int) -> list[str]:
        upper, out = b"%016d" % (t_ms + 1), []
        with self.env.begin() as txn:
            cur = txn.cursor(db=self.due_db)
            if cur.first():
                for key in cur.iternext(values=False):
                    if key >= upper:
                        break
                    out.append(key[17:].decode())
        return out

    def meta(self) -> tuple[int, bytes] | None:
        with self.env.begin() as txn:
            value = txn.get(META, db=self.meta_db)
        return None if value is None else (_DUE.unpack_from(value)[0], value[8:])

    def close(self) -> None:
        self.env.close()


Opener = Callable[[Path, bool], Store]
ENGINES: dict[str, Opener] = {"sqlite": SqliteStore, "rocksdb": RocksStore, "lmdb": LmdbStore}


@dataclass
class Data:
    """Seeded cases: ids in random order, their current due values and the partition's offset."""

    ids: list[str]
    dues: list[int | None]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    offset: int = 0

    @classmethod
    def new(cls, n: int) -> Data:
        rng = random.Random(42)
        ids = [f"XS-2026-{i % 16 + 1:04d}-{i // 16:07d}" for i in range(n)]
        rng.shuffle(ids)
        data = cls(ids, [])
        data.dues = [data.new_due() for _ in range(n)]
        return data

    def new_due(self) -> int | None:
        return None if self.rng.random() < 0.4 else BASE_MS + self.rng.randrange(SPAN_MS)

    def body(self) -> bytes:
        at = self.rng.randrange(len(TEXT) - 220)
        return self.rng.randbytes(self.rng.randint(780, 980)) + TEXT[at : at + 220]

    def snapshot(self, store: Store, indices: Sequence[int]) -> float:
        """Writes these cases (with fresh bodies) as one snapshot; returns the seconds the store took."""
        cases = [(self.ids[i], self.body(), self.dues[i]) for i in indices]
        self.offset += len(cases)
        digest = hashlib.blake2b(b"%d" % self.offset, digest_size=32).digest()
        t0 = perf_counter()
        store.write(cases, self.offset, digest)
        return perf_counter() - t0


def load(opener: Opener, path: Path, n: int, durable: bool) -> tuple[Data, float]:
    data, t0 = Data.new(n), perf_counter()
    store = opener(path, durable)
    spent = sum(data.snapshot(store, range(i, min(n, i + LOAD_BATCH))) for i in range(0, n, LOAD_BATCH))
    t0 = perf_counter()
    store.close()  # SQLite checkpoints, RocksDB flushes its memtables: part of the load
    return data, spent + perf_counter() - t0


def steady(store: Store, data: Data, snapshots: int = STEADY_SNAPSHOTS) -> dict[str, float]:
    times = []
    for _ in range(snapshots):
        picked = data.rng.sample(range(len(data.ids)), min(STEADY_BATCH, len(data.ids)))
        for i in picked:
            data.dues[i] = data.new_due()
        times.append(data.snapshot(store, picked) * 1000)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95)],
        "max_ms": times[-1],
    }


def rss_kb() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile"):
            fields[name] = int(rest.split()[0])
    return fields


def reads(store: Store, keys: list[str]) -> dict[str, float]:
    before, times, missing = rss_kb(), [], 0
    for key in keys:
        t0 = perf_counter_ns()
        missing += store.get(key) is None
        times.append(perf_counter_ns() - t0)
    after = rss_kb()
    assert missing == 0, f"{missing} keys missing"
    times.sort()
    return {
        "mean_us": sum(times) / len(times) / 1000,
        "p99_us": times[int(len(times) * 0.99)] / 1000,
        **{f"{k}_growth_mb": (after[k] - before[k]) / 1024 for k in before},
    }


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def evict(path: Path) -> None:
    """Drops the store's files from the OS page cache, so the next reads come from disk."""
    for p in path.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def sqlite_trial(folder: Path, n: int) -> dict[str, Any]:
    """Rowid or WITHOUT ROWID: a short run of each (load, steady snapshots, reads); the faster wins."""
    out: dict[str, Any] = {}
    for without in (False, True):
        path = folder / f"trial_{without}"
        opener: Opener = lambda p, d, w=without: SqliteStore(p, d, w)  # noqa: E731
        data, load_s = load(opener, path, n, durable=False)
        store = opener(path, False)
        plan = " ".join(str(r) for r in store.db.execute("EXPLAIN QUERY PLAN " + _DUE_SQL, (BASE_MS,)))
        assert "cases_due" in plan, plan
        snap = steady(store, data, 50)
        read = reads(store, data.rng.choices(data.ids, k=20_000))
        t0 = perf_counter()
        store.due(BASE_MS + SPAN_MS // 100)
        due_ms = (perf_counter() - t0) * 1000
        store.close()
        out["without_rowid" if without else "rowid"] = {
            "load_cases_s": n / load_s,
            "steady_median_ms": snap["median_ms"],
            "read_mean_us": read["mean_us"],
            "due_1pct_ms": due_ms,
            "bytes_per_case": disk_bytes(path) / n,
            "score_s": load_s + snap["median_ms"] / 20 + read["mean_us"] / 50,  # load + 50 snaps + 20k reads
        }
        shutil.rmtree(path)
    out["chosen"] = min(("rowid", "without_rowid"), key=lambda k: out[k]["score_s"])
    return out


def bench_engine(name: str, n: int, folder: Path) -> dict[str, Any]:
    """Every measurement for one engine; meant to run in a fresh process."""
    res: dict[str, Any] = {}
    opener = ENGINES[name]
    if name == "sqlite":
        res["trial"] = sqlite_trial(folder, min(n, 100_000))
        without = res["trial"]["chosen"] == "without_rowid"
        opener = lambda p, d: SqliteStore(p, d, without)  # noqa: E731
    path = folder / name
    _, seconds = load(opener, path, n, durable=False)
    res["load_fast_cases_s"] = n / seconds
    shutil.rmtree(path)
    data, seconds = load(opener, path, n, durable=True)
    res["load_durable_cases_s"] = n / seconds
    res["bytes_per_case_after_load"] = disk_bytes(path) / n
    for durable in (True, False):
        store = opener(path, durable)
        res[f"steady_{'durable' if durable else 'fast'}"] = steady(store, data)
        store.close()
    res["bytes_per_case_after_steady"] = disk_bytes(path) / n
    opens = []
    for _ in range(5):
        t0 = perf_counter()
        store = opener(path, True)
        assert store.meta() is not None and store.meta()[0] == data.offset  # type: ignore[index]
        opens.append((perf_counter() - t0) * 1000)
        store.close()
    res["open_meta_ms"] = statistics.median(opens)
    store = opener(path, True)
    res["reads_reopened"] = reads(store, data.rng.choices(data.ids, k=READS))
    store.close()
    evict(path)
    store = opener(path, True)
    res["reads_from_disk"] = reads(store, data.rng.choices(data.ids, k=READS))
    ordered = sorted(d for d in data.dues if d is not None)
    t_ms = ordered[min(DUE_WANTED, len(ordered)) - 1]
    times = []
    for _ in range(20):
        t0 = perf_counter()
        found = store.due(t_ms)
        times.append((perf_counter() - t0) * 1000)
    assert len(found) == bisect.bisect_right(ordered, t_ms), (len(found), t_ms)
    res["due_query"] = {"median_ms": statistics.median(times), "first_ms": times[0], "found": len(found)}
    store.close()
    if name == "rocksdb":
        options = next(path.glob("OPTIONS-*")).read_text()
        res["rocksdb_version"] = options.split("rocksdb_version=")[1].split()[0]
    shutil.rmtree(folder)
    return res


def run_store_bench(n_cases: int = 1_000_000, folder: Path | None = None) -> dict[str, Any]:
    """Measures the three engines on the same seeded data, one after another, each in its own process."""
    root = Path(tempfile.mkdtemp(prefix="bench_store_", dir=folder))
    out: dict[str, Any] = {
        "n_cases": n_cases,
        "versions": {
            "sqlite": sqlite3.sqlite_version,
            "rocksdict": importlib.metadata.version("rocksdict"),
            "py-lmdb": lmdb.__version__,
            "lmdb": ".".join(map(str, lmdb.version())),
        },
        "engines": {},
    }
    try:
        for name in ENGINES:
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                out["engines"][name] = pool.submit(bench_engine, name, n_cases, root / name).result()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rocks = out["engines"].get("rocksdb", {})
    if "rocksdb_version" in rocks:
        out["versions"]["rocksdb"] = rocks.pop("rocksdb_version")
    return out


ROWS: list[tuple[str, Callable[[dict[str, Any]], float], str]] = [
    ("a. bulk load, fast commits (cases/s)", lambda r: r["load_fast_cases_s"], ",.0f"),
    ("a. bulk load, durable commits (cases/s)", lambda r: r["load_durable_cases_s"], ",.0f"),
    ("b. snapshot of 2,000, durable, median (ms)", lambda r: r["steady_durable"]["median_ms"], ".1f"),
    ("b. snapshot of 2,000, durable, p95 (ms)", lambda r: r["steady_durable"]["p95_ms"], ".1f"),
    ("b. snapshot of 2,000, fast, median (ms)", lambda r: r["steady_fast"]["median_ms"], ".1f"),
    ("b. snapshot of 2,000, fast, p95 (ms)", lambda r: r["steady_fast"]["p95_ms"], ".1f"),
    ("c. point read after reopen, mean (µs)", lambda r: r["reads_reopened"]["mean_us"], ".1f"),
    ("c. point read after reopen, p99 (µs)", lambda r: r["reads_reopened"]["p99_us"], ".1f"),
    ("c. point read from disk, mean (µs)", lambda r: r["reads_from_disk"]["mean_us"], ".1f"),
    ("c. point read from disk, p99 (µs)", lambda r: r["reads_from_disk"]["p99_us"], ".1f"),
    ("d. due query, ~1,000 due, median (ms)", lambda r: r["due_query"]["median_ms"], ".2f"),
    ("d. due query, first run (ms)", lambda r: r["due_query"]["first_ms"], ".2f"),
    ("d. cases found", lambda r: r["due_query"]["found"], ",.0f"),
    ("e. disk after load (bytes/case)", lambda r: r["bytes_per_case_after_load"], ",.0f"),
    ("e. disk after 400k updates (bytes/case)", lambda r: r["bytes_per_case_after_steady"], ",.0f"),
    ("e. VmRSS growth, 100k reads (MB)", lambda r: r["reads_reopened"]["VmRSS_growth_mb"], ".1f"),
    ("e.   of which file-backed (MB)", lambda r: r["reads_reopened"]["RssFile_growth_mb"], ".1f"),
    ("e. VmRSS growth, 100k reads from disk (MB)", lambda r: r["reads_from_disk"]["VmRSS_growth_mb"], ".1f"),
    ("f. open + read meta, median of 5 (ms)", lambda r: r["open_meta_ms"], ".2f"),
]


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_cases", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    res = run_store_bench(args.n_cases, args.folder)
    console, engines = Console(), res["engines"]
    table = Table(title=f"Case store, {res['n_cases']:,} cases", show_lines=False)
    table.add_column("measure")
    for name in engines:
        table.add_column(name, justify="right")
    for label, get, fmt in ROWS:
        table.add_row(label, *(format(get(r), fmt) for r in engines.values()))
    console.print(table)
    trial = Table(title="SQLite: rowid vs WITHOUT ROWID (short trial, fast commits)")
    trial.add_column("variant")
    cols = ("load_cases_s", "steady_median_ms", "read_mean_us", "due_1pct_ms", "bytes_per_case")
    for col in cols:
        trial.add_column(col, justify="right")
    for variant in ("rowid", "without_rowid"):
        t = engines["sqlite"]["trial"][variant]
        trial.add_row(variant, *(f"{t[c]:,.1f}" for c in cols))
    console.print(trial)
    console.print(f"chosen: {engines['sqlite']['trial']['chosen']}; versions: {res['versions']}")


if __name__ == "__main__":
    main()
