"""The gateway's OpenAPI document is checked in (docs/openapi.json) and must match the code."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fengqiao.cli.gateway import gateway_app
from fengqiao.connectors.gateway.api import openapi_spec

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_checked_in_openapi_matches_the_code() -> None:
    assert json.loads(CHECKED_IN.read_text(encoding="utf-8")) == openapi_spec(), (
        "docs/openapi.json is stale: regenerate it with `fengqiao gateway openapi > docs/openapi.json`"
    )


def test_cli_prints_the_document() -> None:
    r = CliRunner().invoke(gateway_app, ["openapi"])
    assert r.exit_code == 0, r.output
    spec = json.loads(r.stdout)
    assert set(spec["paths"]) == {"/v1/events", "/v1/cases/{case_id}", "/v1/tasks", "/v1/health"}
    # Every refusal is documented with the one error shape; the request body is a CloudEvent or a batch.
    post = spec["paths"]["/v1/events"]["post"]
    for status in ("400", "401", "403", "409", "413", "415", "429", "503"):
        assert post["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert set(post["requestBody"]["content"]) == {
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
        "application/json",
    }
    assert "data" in spec["components"]["schemas"]["CloudEvent"]["required"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])
