"""The webhook sink's counters: deliveries by agency and outcome, and retries (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from test_webhook_sink import Cases, assigned

from fengqiao.connectors.sdk import ConnectorContext, RecordError
from fengqiao.connectors.webhooks.harness import WebhookHarness
from fengqiao.connectors.webhooks.sink import WebhookSink


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_deliveries_failures_and_retries_are_counted(tmp_path: Path) -> None:
    harness = WebhookHarness()
    await harness.open()
    config = WebhookSink.parse_config(harness.config())
    sink = WebhookSink(config, ConnectorContext("webhook", tmp_path, None), case_lookup=Cases())  # type: ignore[arg-type]
    await sink.start()
    name = "fengqiao_webhook_deliveries_total"
    before = {
        "ok": count(name, agency="qs-jb", outcome="delivered"),
        "failed": count(name, agency="qs-jo-1", outcome="failed"),
        "retried": count("fengqiao_webhook_retries_total", agency="qs-jo-1"),
    }
    try:
        harness.fail_agency("qs-jo-1")
        with pytest.raises(RecordError):
            await sink.write(assigned("C-M1", "qs-jo-1", "qs-jb"))
    finally:
        await sink.stop()
        await harness.close()
    assert count(name, agency="qs-jb", outcome="delivered") == before["ok"] + 1
    assert count(name, agency="qs-jo-1", outcome="failed") == before["failed"] + 1
    assert count("fengqiao_webhook_retries_total", agency="qs-jo-1") == before["retried"] + 3
