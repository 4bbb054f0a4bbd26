"""The metrics endpoints of a running hub: the gateway's /metrics and each worker's /metrics/.

An agency's event through the gateway is counted there, then by the worker that applies it, with the
decision the hub makes on it and the handoff it opens. Counters belong to the session's hub, which
other tests use too: the test compares against a scrape taken before its own event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_gateway import CE, Agencies, notice

from fengqiao.hub import Hub
from fengqiao.settings import Settings

pytestmark = pytest.mark.integration
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    r = await http.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, lb), v in samples.items() if n == name and set(labels.items()) <= set(lb))


async def workers(http: httpx.AsyncClient, hub: Hub) -> Samples:
    """Every worker's samples, summed (the case may be on any worker's partition)."""
    out: Samples = {}
    for w in hub.workers:
        for key, v in (await scrape(http, f"{w.web}/metrics/")).items():
            out[key] = out.get(key, 0) + v
    return out


async def until(what: str, cond: Callable[[], Awaitable[bool]], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not await cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.2)


async def test_an_event_is_counted_at_the_gateway_and_the_worker(hub: Hub, hub_settings: Settings) -> None:
    assert hub.gateway_url and hub.workers
    agencies = Agencies(hub_settings)
    async with httpx.AsyncClient(base_url=hub.gateway_url, timeout=60) as http:
        gw_before = await scrape(http, "/metrics")
        w_before = await workers(http, hub)
        event = notice(f"METRICS-{uuid.uuid4().hex[:8]}")
        assert (await http.post("/v1/events", json=event, headers=CE)).status_code == 401
        r = await http.post("/v1/events", json=event, headers={**agencies.auth("zj-prison-2"), **CE})
        assert r.status_code == 202, r.text
        gw = await scrape(http, "/metrics")
        accepted = "fengqiao_gateway_events_accepted_total"
        assert total(gw, accepted) >= total(gw_before, accepted) + 1
        refused = "fengqiao_gateway_refusals_total"
        assert (
            total(gw, refused, rule="api-key-required")
            >= total(gw_before, refused, rule="api-key-required") + 1
        )
        assert total(gw, "fengqiao_ledger_append_seconds_count") > 0  # the archiver stored the event

        events, decisions = "fengqiao_worker_events_total", "fengqiao_worker_decisions_total"
        applied = {"workflow": "release", "origin": "agency"}

        async def counted() -> bool:
            now = await workers(http, hub)
            return total(now, events, **applied) > total(w_before, events, **applied) and total(
                now, decisions
            ) > total(w_before, decisions)

        await until("the worker to count the event and a decision", counted)
        now = await workers(http, hub)
        assert total(now, "fengqiao_handoffs_open", workflow="release") >= 1
        assert any(name == "fengqiao_consumer_lag" for name, _ in now)
