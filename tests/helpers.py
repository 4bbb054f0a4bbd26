"""Helpers for tests that talk to the real broker: wait on conditions, never on fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fengqiao.infra.broker import open_reader


async def collect(
    bootstrap: str, topic: str, match: Callable[[Any], bool], want: int = 1, timeout: float = 60.0
) -> list[Any]:
    """Read ``topic`` from the start until ``want`` records match (or the timeout passes)."""
    consumer = await open_reader(bootstrap, [topic])
    found: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found.extend(m for m in records if match(m))
    finally:
        await consumer.stop()
    return found


def header(msg: Any, name: str) -> str | None:
    for k, v in msg.headers or ():
        if k == name:
            return v.decode()
    return None


def release_event(etype: str, case_id: str, t: Any, source: str, **fields: Any) -> tuple[Any, dict[str, Any]]:
    """An agency's event of the release workflow at instant ``t``: (envelope, record), every instant = t."""
    from fengqiao.scenario import stamp_instants
    from fengqiao.schemas.catalogue import load
    from fengqiao.schemas.envelope import Envelope
    from fengqiao.schemas.samples import sample_event

    ev = load()[etype]
    record = sample_event(ev, case_id)
    stamp_instants(ev.expanded, record, t)
    record.update(fields)
    return Envelope.new(etype, case_id, source=source, time=t), record


def run_cli(data_dir: Any, *args: str, stdin: str | None = None, timeout: float = 120) -> Any:
    """``fengqiao ARGS`` in a subprocess, as a user runs it next to a hub whose data folder is given."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "FENGQIAO_DATA_DIR": str(data_dir),
        "FENGQIAO_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "fengqiao.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
