"""One hub per data folder: a second `fengqiao up` on a folder a hub holds is refused and touches nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from helpers import run_cli

from fengqiao.lock import LOCK_NAME

pytestmark = pytest.mark.integration


UP = [sys.executable, "-m", "fengqiao.cli", "up"]  # as a user starts it


def _env(data_dir: Path) -> dict[str, str]:
    # FENGQIAO_GATEWAY_PORT=0 (tests/conftest.py) is inherited: any free gateway port.
    return {
        **os.environ,
        "FENGQIAO_DATA_DIR": str(data_dir),
        "FENGQIAO_LOG_LEVEL": "WARNING",
        "COLUMNS": "300",
    }


def _wait_ready(up: subprocess.Popen[str], data_dir: Path, timeout: float = 90.0) -> tuple[dict, dict]:
    """The runtime file and the lock file of a hub that says it is ready."""
    runtime, lock = data_dir / "runtime.json", data_dir / LOCK_NAME
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and up.poll() is None:
        try:
            held = json.loads(lock.read_text())
            if held.get("state") == "ready":
                return json.loads(runtime.read_text()), held
        except (OSError, ValueError):  # not there yet, or caught between two writes
            pass
        time.sleep(0.1)
    up.kill()
    raise AssertionError(up.communicate()[1] if up.poll() is not None else f"not up in {timeout:.0f} s")


def test_a_second_up_on_the_same_folder_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    first = subprocess.Popen(
        UP, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        running, held = _wait_ready(first, tmp_path)
        assert running["pid"] == held["pid"] == first.pid
        assert held["bootstrap"] == running["bootstrap"] and held["gateway"] == running["gateway"]
        runtime_before = (tmp_path / "runtime.json").read_bytes()
        lock_before = (tmp_path / LOCK_NAME).read_bytes()

        t0 = time.monotonic()
        second = subprocess.run(UP, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
        said = " ".join((second.stdout + second.stderr).split())  # as one line: the console wraps at 140

        assert second.returncode != 0, said
        assert "another hub is running on this data folder" in said
        assert f"pid {first.pid}" in said
        assert running["bootstrap"] in said and running["gateway"] in said and running["registry"] in said
        assert "FENGQIAO_DATA_DIR" in said
        assert "Traceback" not in said and "hub is up" not in said
        assert took < 90, f"the refusal took {took:.1f} s"  # it must not wait for the hub; bound generous

        # Nothing of the first hub's was touched, and it still answers.
        assert (tmp_path / "runtime.json").read_bytes() == runtime_before
        assert (tmp_path / LOCK_NAME).read_bytes() == lock_before
        assert first.poll() is None
        for worker in running["workers"]:
            assert httpx.get(f"{worker}/ready/", timeout=30).status_code == 200
        # `case show` still finds the first hub through its runtime file: "no such case", not "no hub".
        shown = run_cli(tmp_path, "case", "show", "XS-0000-NONE", timeout=60)
        assert shown.returncode == 1 and "no case" in shown.stderr, shown.stderr

        first.send_signal(signal.SIGINT)
        assert first.wait(60) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert not (tmp_path / "runtime.json").exists()  # the first hub removes its own on stop
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == {"pid": first.pid, "state": "stopped"}
