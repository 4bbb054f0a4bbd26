"""Two workers split the partitions (DESIGN: workers scale out by partition): each case is held by
exactly one of them, applied once, and any worker sends a reader on to the one holding it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from conftest import BackgroundHub
from helpers import release_event, run_cli

from fengqiao.settings import Settings
from fengqiao.streams.publisher import Publisher

pytestmark = pytest.mark.integration
CASES = [f"XS-2026-W{n:03d}" for n in range(16)]


def _holders(workers: list[str], case_id: str) -> dict[str, int]:
    return {w: httpx.get(f"{w}/cases/{case_id}/", timeout=30).status_code for w in workers}


def test_two_workers_split_the_cases_and_send_readers_to_the_holder(tmp_path: Path) -> None:
    bg = BackgroundHub(Settings(data_dir=tmp_path, log_level="WARNING", partitions=4, tick_s=0.2), workers=2)
    hub = bg.start()
    try:
        workers = hub.endpoints.workers
        assert len(workers) == 2

        async def publish() -> None:
            assert hub.codec is not None
            async with Publisher(hub.bootstrap, hub.codec, hub.ledger) as p:
                for case_id in CASES:
                    await p.publish(
                        *release_event("ReleaseNoticeIssued", case_id, datetime.now(UTC), "zj-prison-2")
                    )

        asyncio.run(publish())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen = {c: _holders(workers, c) for c in CASES}
            if all(sorted(codes.values()) == [200, 421] for codes in seen.values()):
                break
            time.sleep(0.2)  # polling until both workers have applied what was published
        for case_id, codes in seen.items():
            assert sorted(codes.values()) == [200, 421], f"{case_id}: {codes}"
        held = {w: [c for c in CASES if seen[c][w] == 200] for w in workers}
        assert all(held.values()), f"one worker holds every case: {held}"
        ready = [httpx.get(f"{w}/ready/", timeout=30).json() for w in workers]
        assert sorted(r["assigned"] for r in ready) == [10, 10]  # 5 workflow topics x 4 partitions, halved
        # Each case applied once, on the worker holding it; `case show` finds it whichever worker it asks.
        for w, cases in held.items():
            for c in cases:
                case = httpx.get(f"{w}/cases/{c}/", timeout=30).json()
                assert [e["type"] for e in case["events"]].count("ReleaseNoticeIssued") == 1
        shown = run_cli(tmp_path, "case", "show", CASES[-1], "--json")
        assert shown.returncode == 0, shown.stderr
    finally:
        bg.stop()


def test_a_worker_taking_over_rebuilds_the_cases_from_the_log(tmp_path: Path) -> None:
    """A worker that takes partitions whose offsets the group has committed (a restart on a real
    cluster, a partition moving between workers) folds the log up to there: same cases, nothing lost."""
    bg = BackgroundHub(Settings(data_dir=tmp_path, log_level="WARNING", partitions=4, tick_s=0.2))
    hub = bg.start()
    try:
        cases = CASES[:6]

        async def publish() -> None:
            assert hub.codec is not None
            async with Publisher(hub.bootstrap, hub.codec, hub.ledger) as p:
                for case_id in cases:
                    await p.publish(
                        *release_event("ReleaseNoticeIssued", case_id, datetime.now(UTC), "zj-prison-2")
                    )

        def held(worker: str) -> dict[str, dict]:
            return {c["case_id"]: c for c in httpx.get(f"{worker}/cases/", timeout=30).json()}

        def settled(worker: str) -> dict[str, dict]:
            deadline, last = time.monotonic() + 60, {}
            while time.monotonic() < deadline:
                now = held(worker)
                if len(now) == len(cases) and now == last:
                    return now
                last = now
                time.sleep(0.5)  # polling the worker until its view stops changing
            pytest.fail(f"the worker holds {len(last)} of {len(cases)} cases")

        asyncio.run(publish())
        before = settled(hub.workers[0].web)
        old = hub.workers[0].proc
        old.terminate()  # it commits the group's offsets as it stops
        old.wait(30)
        hub.workers[0] = hub._spawn_worker(0)
        asyncio.run(hub._wait_workers_ready())
        after = settled(hub.workers[0].web)
        assert after == before
        assert httpx.get(f"{hub.workers[0].web}/ready/", timeout=30).json()["caught_up"]
    finally:
        bg.stop()
