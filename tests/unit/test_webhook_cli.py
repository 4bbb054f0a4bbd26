"""`fengqiao webhooks list-failed|redeliver`: what they show, and how they refuse bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fengqiao.cli.webhooks import webhooks_app
from fengqiao.connectors.webhooks.state import DeliveryLog

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    log = DeliveryLog(tmp_path / "connectors" / "webhook")
    log.record_failure("qs-jo-1", "e-1", "XS-1", "HandoffAssigned", 8, "HTTP 503: down", "http://x/h", b"{}")
    log.record_failure("qs-jb", "e-2", "XS-1", "CaseUpdated", 1, "HTTP 410: gone", "http://y/h", b"{}")
    log.mark_delivered("qs-jb", "e-2", "XS-1", "CaseUpdated", 2, "redeliver")
    log.close()
    return tmp_path


def test_list_failed_shows_the_open_failures(data_dir: Path) -> None:
    r = runner.invoke(webhooks_app, ["list-failed", "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "qs-jo-1" in r.output and "HTTP 503: down" in r.output and "e-2" not in r.output
    r = runner.invoke(
        webhooks_app, ["list-failed", "--resolved", "--data-dir", str(data_dir)], env={"COLUMNS": "200"}
    )
    assert "e-2" in r.output
    r = runner.invoke(webhooks_app, ["list-failed", "--agency", "qs-ps-1", "--data-dir", str(data_dir)])
    assert r.exit_code == 0 and "no failed deliveries" in r.output


def test_redeliver_asks_what_to_send_and_names_what_is_wrong(data_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "webhook.yaml"
    cfg.write_text("endpoints:\n  - {agency: qs-jo-1, url: 'ftp://x', secret: 'x'}\n")
    r = runner.invoke(webhooks_app, ["redeliver", "--config", str(cfg), "--data-dir", str(data_dir)])
    assert r.exit_code == 2 and "--event ID, --agency AGENCY, or --all" in r.output
    r = runner.invoke(webhooks_app, ["redeliver", "--all", "--config", str(cfg), "--data-dir", str(data_dir)])
    said = " ".join(r.output.split())  # the console wraps long lines
    assert r.exit_code == 2 and "endpoints.0.url" in said and "http:// or https://" in said
    r = runner.invoke(webhooks_app, ["list-failed", "--name", "nope", "--data-dir", str(data_dir)])
    assert r.exit_code == 2 and "no webhook deliveries recorded" in r.output
