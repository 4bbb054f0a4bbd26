"""The gateway's GET /metrics: Prometheus text, with no key, counting what the gateway answered.

The counters are the process's own (the default registry), so the test compares a scrape before and
after rather than absolute values. The gateway is test_gateway_api's (`gw`), with its fakes.
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from test_gateway_api import CE, NOTICE, Gateway, gw  # noqa: F401 (gw: the fixture)


async def samples(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


async def test_metrics_count_an_accepted_and_a_refused_event(gw: Gateway) -> None:  # noqa: F811
    accepted = ("fengqiao_gateway_events_accepted_total", ())
    no_key = ("fengqiao_gateway_refusals_total", (("rule", "api-key-required"),))
    before = await samples(gw.http)
    assert (await gw.http.post("/v1/events", json=NOTICE, headers=CE)).status_code == 401
    assert (await gw.http.post("/v1/events", json=NOTICE, headers=gw.auth("zj-prison-2"))).status_code == 202
    after = await samples(gw.http)
    assert after[accepted] == before.get(accepted, 0) + 1
    assert after[no_key] == before.get(no_key, 0) + 1
    # The ledger's append latency is declared in the same process (the hub runs the archiver).
    assert ("fengqiao_ledger_append_seconds_count", ()) in after
