"""The agencies' side of the demo: their systems POST to the HTTP gateway and take webhooks.

Each agency of the scenario gets an API key; its events go to ``POST /v1/events`` as its system
would send them. A local receiver (signature-checking, one path per agency) takes what the
webhook sink delivers: the handoffs, alerts and case updates addressed to each agency.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from fengqiao.connectors.gateway import HttpGateway
from fengqiao.connectors.gateway.keys import KeyStore
from fengqiao.connectors.runtime import HubLink, context_for, run_connector
from fengqiao.connectors.webhooks.harness import WebhookHarness
from fengqiao.connectors.webhooks.sink import WebhookSink
from fengqiao.hub import Hub
from fengqiao.scenario import AGENCIES


class AgencySystems:
    """``async with AgencySystems(hub) as systems: await systems.post(event)``."""

    def __init__(self, hub: Hub) -> None:
        assert hub.gateway_url and hub.codec is not None, "the demo hub runs the gateway"
        self.hub = hub
        self.gateway = hub.gateway_url
        store = KeyStore(HttpGateway.keys_path(hub.settings))
        self.keys: dict[str, str] = {}
        for ref in AGENCIES.values():
            self.keys[ref["agency_id"]] = store.add(ref["agency_id"])[1]
        self.keys["by-jo-1"] = store.add("by-jo-1")[1]  # an office of the other county, to be refused
        store.close()
        self.receiver = WebhookHarness(agencies=tuple(self.keys))
        self._http = httpx.AsyncClient(timeout=30)
        self._stop = asyncio.Event()
        self._sink: asyncio.Future[Any] | None = None
        self._link: HubLink | None = None

    async def __aenter__(self) -> AgencySystems:
        await self.receiver.open()
        hub, s = self.hub, self.hub.settings
        assert hub.codec is not None
        self._link = HubLink.build(
            hub.bootstrap, hub.codec, s.ledger_url, hub.endpoints.workers, s.deployment
        )
        config = WebhookSink.parse_config(self.receiver.config())
        started = asyncio.Event()
        ctx = context_for("webhook", s, self._link)
        self._sink = asyncio.ensure_future(
            run_connector(WebhookSink, config, ctx, self._stop, started=started)
        )
        await asyncio.wait(
            {self._sink, asyncio.ensure_future(started.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        if self._sink.done():
            self._sink.result()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._sink is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._sink, 30)
        await self._http.aclose()
        await self.receiver.close()
        if self._link is not None:
            self._link.close()

    async def post(self, event: dict[str, Any], as_agency: str | None = None) -> httpx.Response:
        """POST one CloudEvent with the key of the agency it comes from (or of ``as_agency``)."""
        key = self.keys[as_agency or event["source"]]
        return await self._http.post(
            f"{self.gateway}/v1/events", json=event, headers={"Authorization": f"Bearer {key}"}
        )

    async def get(self, path: str, as_agency: str) -> httpx.Response:
        """GET a gateway path with an agency's key (what its system reads)."""
        key = self.keys[as_agency]
        return await self._http.get(f"{self.gateway}{path}", headers={"Authorization": f"Bearer {key}"})

    async def settled(self, want_type: str, timeout: float = 60.0) -> bool:
        """Wait until the receiver has taken a delivery of ``want_type`` and deliveries stop coming."""
        deadline = asyncio.get_running_loop().time() + timeout
        last = -1
        while asyncio.get_running_loop().time() < deadline:
            n = len(self.receiver.log)
            if n == last and any(r.type == want_type for r in self.receiver.log):
                return True
            last = n
            await asyncio.sleep(0.5)  # until one look adds nothing: deliveries have no "done" signal
        return False

    def table(self, console: Console) -> None:
        by_agency: dict[str, Counter[str]] = {}
        for r in self.receiver.log:
            by_agency.setdefault(r.agency, Counter())[r.type] += 1
        names = {ref["agency_id"]: ref["name"] for ref in AGENCIES.values()}
        t = Table(title="推送到各机构 Webhook deliveries (signed, verified by the receiver)")
        for col in ("机构 agency", "条数 deliveries", "内容 what", "签名 signature"):
            t.add_column(col)
        for agency, kinds in sorted(by_agency.items()):
            updates = kinds.pop("CaseUpdated", 0)  # the handoffs and alerts first, then the updates' count
            what = ", ".join([f"{k}×{n}" for k, n in sorted(kinds.items())] + [f"CaseUpdated×{updates}"])
            kinds["CaseUpdated"] = updates
            t.add_row(
                f"{names.get(agency, agency)} ({agency})", str(sum(kinds.values())), what, "✓ 有效 valid"
            )
        console.print(t)
        if self.receiver.bad_signatures:
            console.print(f"[red]{len(self.receiver.bad_signatures)} deliveries had a bad signature[/]")
