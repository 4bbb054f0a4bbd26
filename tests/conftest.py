"""Test fixtures: one real hub (embedded Tansu broker over TCP, registry, a worker) per test session."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fengqiao.hub import Hub
from fengqiao.settings import Settings

# Every hub a test starts, in-process or a `fengqiao up` subprocess, takes a free gateway port.
os.environ.setdefault("FENGQIAO_GATEWAY_PORT", "0")


class BackgroundHub:
    """Runs a `Hub` on an event loop in a thread, so the in-process registry keeps serving between tests."""

    def __init__(self, settings: Settings, workers: int = 1) -> None:
        self.settings = settings
        self.hub = Hub(settings, workers=workers, worker_log_dir=settings.data_dir / "logs")
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="hub", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with self.hub:
                self._ready.set()
                await self._stop.wait()
        except BaseException as e:
            self._error = e
            self._ready.set()

    def start(self) -> Hub:
        self._thread.start()
        self._ready.wait(180)
        if self._error:
            raise self._error
        return self.hub

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


@pytest.fixture(scope="session")
def hub_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = Path(tmp_path_factory.mktemp("hub"))
    # The hub's clock is a file the scenario tests move; until one writes it, it is the system's.
    return Settings(
        data_dir=data,
        partitions=4,
        log_level="WARNING",
        clock=f"file:{data / 'clock'}",
        tick_s=0.2,
        gateway_port=0,  # any free port: test sessions may run side by side
    )


@pytest.fixture(scope="session")
def hub(hub_settings: Settings) -> Iterator[Hub]:
    bg = BackgroundHub(hub_settings)
    try:
        yield bg.start()
    finally:
        bg.stop()
