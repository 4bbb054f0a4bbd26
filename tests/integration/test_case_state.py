"""Case state that lasts without the topic (issue 14): each partition's cases are in a store on disk
with a snapshot at a known offset, the ledger vouches for a snapshot, and a worker without one rebuilds
from the ledger — so a topic that no longer holds a case's early records loses no case and no deadline.

Each test runs its own hub on the real embedded broker over TCP, stops it, changes what the next worker
finds (its store removed, a snapshot tampered with), and starts the hub again on the same folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import BackgroundHub
from helpers import run_cli

from fengqiao.infra.broker import open_reader
from fengqiao.settings import Settings
from fengqiao.streams.clock import FileClock

pytestmark = pytest.mark.integration
START = datetime(2026, 11, 20, tzinfo=UTC)


def _cases(hub) -> dict[str, dict]:
    return {c["case_id"]: c for c in httpx.get(f"{hub.endpoints.workers[0]}/cases/", timeout=30).json()}


def _wait(what: str, check, timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)  # polling the worker's view
    pytest.fail(f"{what}: not within {timeout:.0f} s (last: {last!r})"[:2000])


def _settled(hub, want: int) -> dict[str, dict]:
    seen: list[dict] = [{}]

    def same_twice() -> dict | None:
        now = _cases(hub)
        ok = len(now) >= want and now == seen[0]
        seen[0] = now
        return now if ok else None

    return _wait(f"{want} cases settled", same_twice)


def _first_hub(tmp_path: Path) -> tuple[Settings, dict[str, dict]]:
    settings = Settings(data_dir=tmp_path, log_level="INFO", tick_s=0.2, clock=f"file:{tmp_path / 'clock'}")
    FileClock(tmp_path / "clock").set(START)
    first = BackgroundHub(settings)
    first.start()
    try:
        r = run_cli(tmp_path, "publish", "docs/examples/release.jsonl")
        assert r.returncode == 0, r.stderr
        before = _settled(first.hub, 3)
        # The last snapshot is written once the ledger holds what the last records produced.
        _wait("a snapshot of every event", lambda: _snapshot_offsets(tmp_path) and _snapshots_cover(tmp_path))
    finally:
        first.stop()
    return settings, before


def _stores(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "cases").glob("*/*.db"))


def _snapshot_offsets(data_dir: Path) -> dict[str, int]:
    found = {}
    for db in _stores(data_dir):
        con = sqlite3.connect(db)
        row = con.execute("SELECT v FROM meta WHERE k = 'next_offset'").fetchone()
        con.close()
        if row:
            found[db.name] = int(row[0])
    return found


def _snapshots_cover(data_dir: Path) -> bool:
    """Every release partition's snapshot includes every record the ledger has of it."""
    con = sqlite3.connect(data_dir / "ledger.db")
    heads = dict(
        (f"{t}.{p}.db", o + 1)
        for t, p, o in con.execute(
            "SELECT topic, partition, \"offset\" FROM ledger_heads WHERE topic = 'fengqiao.release'"
        )
    )
    con.close()
    offsets = _snapshot_offsets(data_dir)
    return bool(heads) and all(offsets.get(name) == n for name, n in heads.items())


def _worker_log(data_dir: Path) -> list[dict]:
    lines = []
    for line in (data_dir / "logs" / "worker-0.log").read_text(errors="replace").splitlines():
        start = line.find('{"')  # Faust's terminal codes may stand before a JSON line
        if start >= 0:
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line[start:]))
    return lines


def _pending(cases: dict[str, dict]) -> list[tuple[str, str, str]]:
    return [
        (c["case_id"], h["id"], h["deadline"]["due"])
        for c in cases.values()
        for h in c["handoffs"].values()
        if h["state"] in ("assigned", "acknowledged") and h.get("deadline") and not h.get("overdue_at")
    ]


def test_a_worker_without_the_early_records_on_the_topic_still_has_every_case_and_its_deadlines(
    tmp_path: Path,
) -> None:
    settings, before = _first_hub(tmp_path)
    pending = _pending(before)
    assert pending, "the example leaves deadlines still to come"
    for db in _stores(tmp_path):  # a worker on a machine that has no snapshot: only the ledger
        db.unlink()

    second = BackgroundHub(settings)
    second.start()
    try:
        hub = second.hub
        assert hub.rehydrated == 0 and hub.placeholders > 0, "the fresh broker carries none of the records"
        after = _settled(hub, 3)
        assert after == before, "every case, complete, rebuilt from the ledger"

        async def topic_values() -> list:
            reader = await open_reader(hub.bootstrap, ["fengqiao.release"], fetch_wait_ms=50)
            try:
                got = await reader.getmany(timeout_ms=3000, max_records=10_000)
                return [m.value for ms in got.values() for m in ms]
            finally:
                await reader.stop()

        values = asyncio.run(topic_values())
        assert values and all(v is None for v in values), "the topic holds placeholders, not the cases"

        latest = max(datetime.fromisoformat(due.replace("Z", "+00:00")) for _, _, due in pending)
        FileClock(tmp_path / "clock").set(latest + timedelta(days=1))

        def all_overdue() -> bool:
            cases = _cases(hub)
            return all(cases[cid]["handoffs"][hid].get("overdue_at") for cid, hid, _ in pending)

        _wait("every pending deadline fired after the takeover", all_overdue)
        refused = [e for e in _worker_log(tmp_path) if e.get("event") == "snapshot.refused"]
        assert not refused, "no snapshot was there to refuse"
    finally:
        second.stop()


def test_a_snapshot_the_ledger_does_not_vouch_for_is_refused_and_the_cases_rebuilt(tmp_path: Path) -> None:
    settings, before = _first_hub(tmp_path)
    tampered = []
    for db in _stores(tmp_path):
        con = sqlite3.connect(db)
        if con.execute("SELECT v FROM meta WHERE k = 'next_offset'").fetchone()[0]:
            con.execute("UPDATE meta SET v = ? WHERE k = 'ledger_hash'", (b"\0" * 32,))
            # and a case changed behind the snapshot's back: a trusted snapshot would show it
            con.execute("UPDATE cases SET body = (SELECT body FROM cases LIMIT 1)")
            con.commit()
            tampered.append(db.name)
        con.close()
    assert tampered

    second = BackgroundHub(settings)
    second.start()
    try:
        after = _settled(second.hub, 3)
    finally:
        second.stop()
    assert after == before
    refused = {
        f"{e['topic']}.{e['partition']}.db": e["reason"]
        for e in _worker_log(tmp_path)
        if e.get("event") == "snapshot.refused"
    }
    assert set(refused) == set(tampered)
    assert all("another hash" in r for r in refused.values())


def test_a_trusted_snapshot_is_loaded_and_only_the_tail_is_folded(tmp_path: Path) -> None:
    settings, before = _first_hub(tmp_path)
    offsets = _snapshot_offsets(tmp_path)
    second = BackgroundHub(settings)
    second.start()
    try:
        after = _settled(second.hub, 3)
    finally:
        second.stop()
    assert after == before
    events = _worker_log(tmp_path)
    loaded = {
        f"{e['topic']}.{e['partition']}.db": e["next_offset"]
        for e in events
        if e.get("event") == "snapshot.loaded"
    }
    assert not [e for e in events if e.get("event") == "snapshot.refused"]
    for name, n in offsets.items():
        assert loaded.get(name) == n, f"{name}: loaded from its snapshot at {n}"
