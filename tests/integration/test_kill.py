"""Kill tests (issue 4): `kill -9` a worker or the embedded broker at a random instant under load,
restart the hub on the same data folder, and count: every acknowledged event is in the ledger and
applied to its case exactly once.

"Acknowledged" is what `Publisher.publish` returned for: the broker had it and the ledger had stored
it. Events whose publish failed because of the kill are simply not counted (the publisher would
retry them with the same id); they may or may not be on the log, and either is correct.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import BackgroundHub
from helpers import release_event

from fengqiao.settings import Settings
from fengqiao.streams.crypto import load_or_create_key
from fengqiao.streams.ledger import Ledger
from fengqiao.streams.publisher import Publisher

pytestmark = pytest.mark.integration

ROUNDS = [("worker", 0), ("broker", 1), ("worker", 2), ("broker", 3)]


def _events(round_no: int, n: int) -> list[tuple]:
    t = datetime(2026, 10, 1, 2, 0, tzinfo=UTC) + timedelta(days=round_no)
    out = []
    for i in range(n):
        case_id = f"KILL-{round_no}-{i:03d}"
        out.append(
            release_event(
                "ReleaseNoticeIssued",
                case_id,
                t,
                "zj-prison-2",
                key_person=i % 2 == 0,
                residence={"code": "339901001001", "name": None},
                expected_release_date=(t + timedelta(days=60)).date(),
            )
        )
        if i % 3 == 0:
            out.append(release_event("ReleaseNoticeAcknowledged", case_id, t + timedelta(hours=2), "qs-jo-1"))
    return out


async def _publish_until_killed(bg: BackgroundHub, events: list[tuple], acked: list[str]) -> int:
    hub = bg.hub
    assert hub.codec is not None
    ledger = Ledger(bg.settings.ledger_url)
    sent = 0
    try:
        async with Publisher(
            hub.bootstrap,
            hub.codec,
            ledger,
            confirm_timeout=5.0,
            request_timeout_ms=3000,
            retry_backoff_ms=100,
        ) as pub:
            for env, record in events:
                try:
                    await asyncio.wait_for(pub.publish(env, record), 8)
                except Exception:  # the kill: this one and the rest are not acknowledged
                    break
                acked.append(env.id)
                sent += 1
    finally:
        ledger.close()
    return sent


def _kill_later(pid: int, after: float) -> threading.Timer:
    timer = threading.Timer(after, lambda: os.kill(pid, signal.SIGKILL))
    timer.start()
    return timer


def _caught_up(bg: BackgroundHub, acked: list[str], timeout: float = 300.0) -> dict[str, dict]:
    """Wait until every acknowledged event shows on a case (the workers rebuilt and caught up).

    The bound is generous: on a loaded machine the restart folds every round's records again."""
    want = set(acked)
    started = time.monotonic()
    while True:
        try:
            cases = httpx.get(f"{bg.hub.endpoints.workers[0]}/cases/", timeout=60).json()
        except httpx.HTTPError:  # a worker the hub is restarting on a loaded machine: ask again
            cases = []
        seen = {e["id"] for c in cases for e in c["events"]}
        if want <= seen or time.monotonic() - started > timeout:
            try:
                ready = httpx.get(f"{bg.hub.endpoints.workers[0]}/ready/", timeout=60).text
            except httpx.HTTPError as e:
                ready = repr(e)
            took = time.monotonic() - started
            print(f"after {took:.1f} s: {len(want & seen)} of {len(want)} seen; worker {ready}")
            return {c["case_id"]: c for c in cases}
        time.sleep(0.5)  # polling the worker's view until it holds every acknowledged event


@pytest.mark.timeout(900)  # five hub starts and four kills, then up to 300 s for the last catch-up
def test_kill_9_of_a_worker_or_the_broker_loses_nothing_acknowledged(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, log_level="WARNING", checkpoint_every=200)
    acked: list[str] = []
    case_of: dict[str, str] = {}
    rng = random.Random(20261123)
    kills = Counter()
    for what, round_no in ROUNDS:
        bg = BackgroundHub(settings)
        bg.start()
        try:
            pid = bg.hub.workers[0].proc.pid if what == "worker" else bg.hub.broker.proc.pid  # type: ignore[union-attr]
            timer = _kill_later(pid, rng.uniform(0.3, 2.0))
            events = _events(round_no, 120)
            case_of.update((env.id, env.subject) for env, _ in events)
            sent = asyncio.run(_publish_until_killed(bg, events, acked))
            timer.join()
            kills[what] += 1
            print(f"round {round_no}: killed the {what} after {sent} acknowledged events")
        finally:
            bg.stop()
    final = BackgroundHub(settings)
    final.start()
    try:
        cases = _caught_up(final, acked)
    finally:
        final.stop()
    applied = Counter(e["id"] for c in cases.values() for e in c["events"])
    with Ledger(settings.ledger_url, load_or_create_key(settings.key_file)) as ledger:
        missing_from_ledger = [i for i in acked if ledger.find_event(i) is None]
        verified = ledger.verify()
    lost = [i for i in acked if applied[i] == 0]
    if lost:  # say where they went: which round, and whether the ledger or the dead letters hold them
        rounds = Counter(case_of[i].split("-")[1] for i in lost)
        print(f"lost by round: {dict(rounds)}; first lost: {lost[0]} of case {case_of[lost[0]]}")
    twice = [i for i, n in applied.items() if n > 1]
    print(
        f"kill test: {sum(kills.values())} kills ({dict(kills)}), {len(acked)} acknowledged events; "
        f"lost {len(lost)}, applied twice {len(twice)}, missing from the ledger {len(missing_from_ledger)}"
    )
    assert len(acked) > 0 and sum(kills.values()) == len(ROUNDS)
    assert missing_from_ledger == [] and lost == [] and twice == []
    assert verified.ok, str(verified)  # the kills left the hash chains and checkpoints intact
