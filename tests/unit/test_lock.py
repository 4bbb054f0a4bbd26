"""One hub per data folder: the folder's flock (fengqiao/lock.py) and the hub's refusal (no broker needed)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fengqiao.hub import Hub, HubAlreadyRunning
from fengqiao.lock import LOCK_NAME, DataFolderBusy, DataFolderLock
from fengqiao.settings import Settings


def _holder_script(folder: Path) -> str:
    return textwrap.dedent(f"""
        import time
        from pathlib import Path
        from fengqiao.lock import DataFolderLock
        lock = DataFolderLock(Path({str(folder)!r})).acquire()
        lock.record(bootstrap="127.0.0.1:40123", gateway="http://127.0.0.1:8400")
        print("locked", flush=True)
        time.sleep(600)
    """)


def _wait_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"the child printed nothing in {timeout:.0f} s"
    return proc.stdout.readline().strip()


def _acquired_within(folder: Path, timeout: float = 10.0) -> DataFolderLock:
    """The lock, as soon as it is free (the kernel releases a dead holder's lock when it reaps its files)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return DataFolderLock(folder).acquire(wait_for_holder=0)
        except DataFolderBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_two_open_files_in_one_process_conflict(tmp_path: Path) -> None:
    first = DataFolderLock(tmp_path).acquire()
    try:
        first.record(bootstrap="127.0.0.1:1234")
        with pytest.raises(DataFolderBusy) as busy:
            DataFolderLock(tmp_path).acquire()
        assert busy.value.holder["pid"] == os.getpid()
        assert busy.value.holder["bootstrap"] == "127.0.0.1:1234"
        assert first.held
    finally:
        first.release()
    with DataFolderLock(tmp_path) as again:  # released: the next one takes it
        assert again.held
    assert not again.held


def test_a_refused_acquire_changes_nothing_in_the_lock_file(tmp_path: Path) -> None:
    with DataFolderLock(tmp_path) as held:
        held.record(state="ready", bootstrap="127.0.0.1:1234", workers=["http://127.0.0.1:6066"])
        path = tmp_path / LOCK_NAME
        before, mtime = path.read_bytes(), path.stat().st_mtime_ns
        with pytest.raises(DataFolderBusy):
            DataFolderLock(tmp_path).acquire()
        assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
        assert json.loads(before)["workers"] == ["http://127.0.0.1:6066"]


def test_a_shorter_record_leaves_no_old_text_behind(tmp_path: Path) -> None:
    with DataFolderLock(tmp_path) as held:
        held.record(workers=[f"http://127.0.0.1:{6000 + i}" for i in range(20)])
        held.record(workers=[])
        assert json.loads((tmp_path / LOCK_NAME).read_text())["workers"] == []


def test_a_child_killed_with_sigkill_releases_the_lock(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _holder_script(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert _wait_line(child) == "locked"
        with pytest.raises(DataFolderBusy) as busy:
            DataFolderLock(tmp_path).acquire()
        assert busy.value.holder["pid"] == child.pid
        assert busy.value.holder["bootstrap"] == "127.0.0.1:40123"
        child.send_signal(signal.SIGKILL)  # no finally, no atexit: only the kernel can release it
        child.wait(30)
        lock = _acquired_within(tmp_path)
        lock.release()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_the_lock_is_not_inherited_by_child_processes(tmp_path: Path) -> None:
    """The hub's workers and broker are its children: they must not keep the folder locked after it."""
    with DataFolderLock(tmp_path):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], close_fds=False)
        try:
            fds = Path(f"/proc/{child.pid}/fd")
            held = [fd for fd in fds.iterdir() if fd.resolve() == (tmp_path / LOCK_NAME).resolve()]
        finally:
            child.kill()
            child.wait()
    assert held == []


def test_a_second_hub_is_refused_before_it_starts_anything(tmp_path: Path) -> None:
    """In the same process too (same pid): it must not take the first hub's runtime file for its own."""
    settings = Settings(data_dir=tmp_path, log_level="WARNING")
    runtime = {"pid": os.getpid(), "bootstrap": "127.0.0.1:40123", "registry": "http://127.0.0.1:40124"}
    settings.runtime_file.write_text(json.dumps(runtime))
    before = sorted(p.name for p in tmp_path.iterdir())
    with DataFolderLock(tmp_path) as first:
        first.record(
            state="ready",
            bootstrap="127.0.0.1:40123",
            registry="http://127.0.0.1:40124",
            gateway="http://127.0.0.1:8400",
            workers=["http://127.0.0.1:6066"],
        )
        second = Hub(settings)

        async def go() -> None:
            async with second:
                pass

        with pytest.raises(HubAlreadyRunning) as refused:
            asyncio.run(go())
        assert second.broker is None and second.ledger is None and second.workers == []
        assert json.loads(settings.runtime_file.read_text()) == runtime
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted({*before, LOCK_NAME})  # no ledger
        assert first.held
    assert str(refused.value) == (
        f"another hub is running on this data folder ({tmp_path}): pid {os.getpid()}, "
        "broker 127.0.0.1:40123, registry http://127.0.0.1:40124, gateway http://127.0.0.1:8400, "
        "workers http://127.0.0.1:6066; stop it first or use another data folder (FENGQIAO_DATA_DIR)"
    )


def test_the_refusal_says_when_the_other_hub_is_still_starting(tmp_path: Path) -> None:
    message = str(HubAlreadyRunning(tmp_path, {"pid": 42, "state": "starting", "bootstrap": "127.0.0.1:9"}))
    assert "pid 42 (starting), broker 127.0.0.1:9;" in message
    assert "pid unknown (starting);" in str(HubAlreadyRunning(tmp_path, {}))


def test_a_released_lock_file_says_stopped(tmp_path: Path) -> None:
    with DataFolderLock(tmp_path) as held:
        held.record(state="ready", bootstrap="127.0.0.1:1234")
    assert json.loads((tmp_path / LOCK_NAME).read_text()) == {"pid": os.getpid(), "state": "stopped"}


def test_a_second_demo_on_the_same_folder_is_refused_and_wipes_nothing(tmp_path: Path) -> None:
    """The demo clears its folder on start: only once it holds the folder's lock."""
    from rich.console import Console

    from fengqiao.demo import run_demo

    demo_dir = tmp_path / "demo"
    with DataFolderLock(demo_dir) as first:
        first.record(state="ready", bootstrap="127.0.0.1:40123")
        (demo_dir / "ledger.db").write_bytes(b"the running demo's ledger")
        with pytest.raises(HubAlreadyRunning, match=r"pid \d+, broker 127\.0\.0\.1:40123"):
            asyncio.run(run_demo(Settings(data_dir=tmp_path), Console(file=io.StringIO())))
        assert (demo_dir / "ledger.db").read_bytes() == b"the running demo's ledger"
