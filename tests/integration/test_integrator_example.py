"""docs/integrators.md's worked example, the 明镜 prison records source, passes the conformance kit."""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path

import pytest

from fengqiao.connectors.kit import run_suite

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "prison-records"


@pytest.fixture
def prison_records():
    sys.path.insert(0, str(EXAMPLE))
    try:
        yield importlib.import_module("prison_records")
    finally:
        sys.path.remove(str(EXAMPLE))


def test_the_package_declares_its_entry_point(prison_records) -> None:
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    target = meta["project"]["entry-points"]["fengqiao.connectors"]["prison-records"]
    module, _, name = target.partition(":")
    assert getattr(importlib.import_module(module), name) is prison_records.PrisonRecordsSource


async def test_the_example_passes_the_conformance_kit(hub, hub_settings, tmp_path, prison_records) -> None:
    results = await run_suite(prison_records.PrisonRecordsSource, hub_settings, tmp_path)
    assert [(c.name, c.ok) for c in results] == [
        (n, True) for n in ("start-stop", "durable-before-answer", "redelivery", "dead-letter", "restart")
    ], "\n".join(f"{c.name}: {c.detail}" for c in results)
    refusal = next(c for c in results if c.name == "dead-letter")
    assert "id_number" in refusal.detail
