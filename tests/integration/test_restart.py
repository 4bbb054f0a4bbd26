"""Stopping and starting `fengqiao up` on the embedded broker keeps every case (issue 4).

The embedded broker forgets everything when it stops; the ledger does not. On start the hub puts
the ledger back on the topics, and the workers, catching up, read the hub's earlier decisions back
from the ledger instead of deciding them again.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from conftest import BackgroundHub
from helpers import run_cli
from prometheus_client.parser import text_string_to_metric_families

from fengqiao.settings import Settings

pytestmark = pytest.mark.integration


def _cases(hub) -> dict[str, dict]:
    return {c["case_id"]: c for c in httpx.get(f"{hub.endpoints.workers[0]}/cases/", timeout=30).json()}


def _handoff_gauges(hub) -> dict[tuple[str, ...], float]:
    """The worker's open and overdue handoff gauges, nonzero ones, by name, workflow and agency."""
    text = httpx.get(f"{hub.endpoints.workers[0]}/metrics/", timeout=30).text
    return {
        (s.name, s.labels["workflow"], s.labels["agency"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("fengqiao_handoffs_") and s.value
    }


def _open_handoffs(cases: dict[str, dict]) -> float:
    late = ("overdue", "escalated")
    states = [h["state"] for c in cases.values() for h in c["handoffs"].values()]
    return sum(s in ("assigned", "acknowledged", *late) for s in states)


def _settled(hub, want: int, timeout: float = 60.0) -> dict[str, dict]:
    """The cases, once the worker holds ``want`` of them and two looks in a row agree."""
    deadline = time.monotonic() + timeout
    last: dict[str, dict] = {}
    while time.monotonic() < deadline:
        now = _cases(hub)
        if len(now) >= want and now == last:
            return now
        last = now
        time.sleep(0.5)  # polling the worker's view until it stops changing
    pytest.fail(f"cases did not settle: {len(last)} of {want}")


def test_restarting_the_hub_keeps_every_case(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, log_level="WARNING", tick_s=0.2)
    first = BackgroundHub(settings)
    first.start()
    try:
        r = run_cli(tmp_path, "publish", "docs/examples/release.jsonl")
        assert r.returncode == 0, r.stderr
        before = _settled(first.hub, 3)
        gauges = _handoff_gauges(first.hub)
    finally:
        first.stop()
    assert any(a["type"] == "PickupMissed" for c in before.values() for a in c["alerts"])

    second = BackgroundHub(settings)
    second.start()
    try:
        assert second.hub.placeholders > 0, (
            "the fresh broker gets placeholders; workers rebuild from snapshots"
        )
        after = _settled(second.hub, 3)
        gauges_after = _handoff_gauges(second.hub)  # a partition from its snapshot is counted at assignment
        verify = run_cli(tmp_path, "audit", "verify")
    finally:
        second.stop()
    assert after == before
    opened = sum(v for k, v in gauges.items() if k[0] == "fengqiao_handoffs_open")
    assert opened == _open_handoffs(before) > 0, gauges
    assert gauges_after == gauges
    assert verify.returncode == 0, verify.stdout + verify.stderr
