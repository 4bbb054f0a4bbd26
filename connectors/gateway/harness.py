"""The gateway's conformance harness: plays the agency systems that POST to it.

It makes an API key for each agency whose events it is fed (the ``source`` of each event, or
``agency``), finds the gateway through the URL file the gateway writes when it binds (the kit runs
it on port 0), and keeps the body of every refusal. A gateway being restarted (connection refused,
or a 503) is waited out, as an agency system would: nothing fed is lost.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from ..conformance import SourceHarness
from .keys import KeyStore
from .url_file import read_url

WAIT_S = 60.0  # for the gateway to (re)start and take one event


class GatewayHarness(SourceHarness):
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url_file = self.workdir / "gateway.url"
        self._store: KeyStore | None = None
        self._keys: dict[str, str] = {}
        self._refusals: list[str] = []
        self._http: httpx.AsyncClient | None = None

    def config(self) -> dict[str, Any]:
        return {
            "port": 0,
            "url_file": str(self.url_file),
            "keys_db": str(self.workdir / "keys.db"),
            "answers_db": str(self.workdir / "answers.db"),
            "rate_per_s": 10_000.0,
            "burst": 10_000,
        }

    async def open(self) -> None:
        self._http = httpx.AsyncClient(timeout=30.0)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def key(self, agency: str) -> str:
        """An API key of ``agency`` (made on first use)."""
        if agency not in self._keys:
            if self._store is None:
                self._store = KeyStore(self.workdir / "keys.db")
            self._keys[agency] = self._store.add(agency)[1]
        return self._keys[agency]

    async def feed(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            await self.post(event)

    async def feed_invalid(self, event: dict[str, Any]) -> None:
        await self.post(event)

    async def refusals(self) -> list[str]:
        return list(self._refusals)

    async def post(self, event: dict[str, Any]) -> httpx.Response:
        """POST one event until the gateway gives a final answer (202 or a refusal) and return it."""
        if self._http is None:
            await self.open()
        assert self._http is not None
        source = event.get("source")
        agency = source if isinstance(source, str) and source else self.agency
        headers = {"Authorization": f"Bearer {self.key(agency)}"}
        deadline = time.monotonic() + WAIT_S
        while True:
            url = read_url(self.url_file)
            wait = 0.1
            if url is not None:
                try:
                    r = await self._http.post(
                        f"{url}/v1/events",
                        json=event,
                        headers={**headers, "Content-Type": "application/cloudevents+json"},
                    )
                except httpx.TransportError:
                    pass  # stopped or restarting: its URL file is rewritten when it binds again
                else:
                    if r.status_code not in (429, 503):
                        if r.status_code != 202:
                            self._refusals.append(r.text)
                        return r
                    wait = float(r.headers.get("Retry-After", "1"))
            if time.monotonic() + wait > deadline:
                raise TimeoutError(f"the gateway did not take event {event.get('id')} in {WAIT_S:.0f}s")
            await asyncio.sleep(wait)
