"""`fengqiao connectors test` passes for every built-in connector (the kit, on the session hub)."""

from __future__ import annotations

import pytest

from fengqiao.connectors.kit import run_suite
from fengqiao.connectors.runtime import discover

pytestmark = pytest.mark.integration
BUILT_IN = ("http-gateway", "spreadsheet", "sql-read-model", "webhook")


def test_every_built_in_connector_is_installed() -> None:
    found, broken = discover()
    assert not broken, broken
    assert set(BUILT_IN) <= set(found)


@pytest.mark.parametrize("name", BUILT_IN)
async def test_the_built_in_connector_passes_the_kit(name, hub, hub_settings, tmp_path) -> None:
    cls = discover()[0][name]
    results = await run_suite(cls, hub_settings, tmp_path)
    failed = [f"{c.name}: {c.detail}" for c in results if not c.ok]
    assert results and not failed, "\n".join(failed)
