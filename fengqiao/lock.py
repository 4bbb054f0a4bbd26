"""One hub per data folder: an exclusive `flock` on `hub.lock` in the folder, held for the hub's life.

A second hub on the same folder would start its own broker and archiver on the same ledger; the lock
refuses it before it touches anything. `flock` and not a pid file: the kernel releases the lock when
the holder's file is closed, on a normal stop as when the process dies, even by `kill -9`, so a crash
never leaves a stale lock behind. The lock belongs to the open file description: a second `open` in
the same process conflicts too, and the descriptor is not inherited by the hub's workers or broker.

The holder writes its pid into the lock file, then what a refused hub should name (broker, registry,
gateway, workers) once it knows them. The file is never truncated on open, only rewritten by its
holder, so reading it changes nothing of the running hub's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

LOCK_NAME = "hub.lock"


class DataFolderBusy(RuntimeError):
    """Another open file (another hub, most likely in another process) holds the folder's lock."""

    def __init__(self, folder: Path, holder: dict[str, Any]) -> None:
        self.folder = folder
        self.holder = holder  # what the holder wrote into the lock file; {} if it had not yet
        super().__init__(f"{folder / LOCK_NAME} is locked by pid {holder.get('pid', 'unknown')}")


class DataFolderLock:
    """``acquire()`` or `DataFolderBusy`; ``record(...)`` what a refused hub should be told; ``release()``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = None
        self._info: dict[str, Any] = {}

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait_for_holder: float = 2.0) -> DataFolderLock:
        """Take the lock without waiting, or raise `DataFolderBusy` with what its holder wrote.

        A holder that has just taken the lock may not have written its pid yet: its record is awaited
        up to ``wait_for_holder`` seconds, so the refusal can name it.
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this lock")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)  # no O_TRUNC: not ours yet
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = _read(fd)
                deadline = time.monotonic() + wait_for_holder
                while "pid" not in holder and time.monotonic() < deadline:
                    time.sleep(0.05)
                    holder = _read(fd)
            finally:
                os.close(fd)
            raise DataFolderBusy(self.folder, holder) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._info = {}
        self.record(state="starting", since=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        return self

    def record(self, **info: Any) -> None:
        """Merge ``info`` into what the lock file says (always with the holder's pid) and write it."""
        if self._fd is None:
            raise RuntimeError(f"{self.path} is not held")
        self._info = {**self._info, **info, "pid": os.getpid()}
        self._write(self._fd)

    def release(self) -> None:
        """Give the lock up (closing the file releases it). The file stays, saying "stopped": what it
        says counts only while it is locked (after a `kill -9` it still says what the dead hub wrote)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                self._info = {"pid": os.getpid(), "state": "stopped"}
                self._write(fd)
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write(self, fd: int) -> None:
        data = (json.dumps(self._info, indent=2) + "\n").encode()
        # Written over the old text, then cut to length: a reader in between finds the new JSON
        # first (`_read` ignores what follows it), never an empty file.
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))

    def __enter__(self) -> DataFolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> dict[str, Any]:
    """The holder's record, or {} while there is none yet (or it is not readable)."""
    try:
        text = os.pread(fd, 1 << 16, 0).decode("utf-8", "replace").strip()
        info, _ = json.JSONDecoder().raw_decode(text)
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}
