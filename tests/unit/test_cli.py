"""The command line: help, argument errors, and messages a new user can act on (no broker needed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fengqiao.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["up"],
        ["demo"],
        ["publish"],
        ["tail"],
        ["case", "show"],
        ["schemas", "docs"],
        ["schemas", "check"],
        ["bench"],
        ["worker"],
        ["connectors", "list"],
        ["connectors", "run"],
        ["connectors", "test"],
        ["gateway", "keys", "add"],
        ["gateway", "openapi"],
        ["webhooks", "redeliver"],
        ["readmodel", "rebuild"],
        ["templates"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    r = runner.invoke(app, [*command, "--help"])
    assert r.exit_code == 0 and "Usage" in r.output


def test_publish_needs_a_file_argument() -> None:
    r = runner.invoke(app, ["publish"])
    assert r.exit_code == 2 and "Missing argument" in r.output


def test_publish_of_a_missing_file_says_so(tmp_path: Path) -> None:
    r = runner.invoke(
        app, ["publish", str(tmp_path / "nope.jsonl")], env={"FENGQIAO_DATA_DIR": str(tmp_path)}
    )
    assert r.exit_code == 2 and "cannot read" in r.output


def test_a_bad_broker_url_is_refused(tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        ["case", "show", "X", "--broker", "http://k:9092"],
        env={"FENGQIAO_DATA_DIR": str(tmp_path), "FENGQIAO_REGISTRY": "http://r"},
    )
    assert r.exit_code == 2 and "scheme must be kafka://" in r.output


def test_schemas_docs_writes_the_catalogue(tmp_path: Path) -> None:
    out = tmp_path / "events.md"
    r = runner.invoke(app, ["schemas", "docs", "--out", str(out)])
    assert r.exit_code == 0 and "ReleaseNoticeIssued" in out.read_text()


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_schemas_check_fails_on_a_removed_field_and_passes_on_an_added_default(tmp_path: Path) -> None:
    """Issue 2's acceptance, through the command itself, on a throwaway git history."""
    avro = tmp_path / "schemas" / "avro"
    src = Path(__file__).resolve().parents[2] / "schemas" / "avro"
    (avro / "common").mkdir(parents=True)
    (avro / "release").mkdir()
    for f in (src / "common").glob("*.avsc"):
        (avro / "common" / f.name).write_text(f.read_text())
    event = (src / "release" / "ReleaseNoticeIssued.avsc").read_text()
    target = avro / "release" / "ReleaseNoticeIssued.avsc"
    target.write_text(event)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "v1")
    ok = runner.invoke(app, ["schemas", "check", "--repo", str(tmp_path)])
    assert ok.exit_code == 0, ok.output

    removed = event.replace(
        '    {"name": "offence_category", "type": "string",',
        '    {"name": "x_unused", "type": "null", "default": null,',
        1,
    )
    assert removed != event
    target.write_text(removed)
    bad = runner.invoke(app, ["schemas", "check", "--repo", str(tmp_path)])
    assert bad.exit_code == 1 and "offence_category" in bad.output and "no default" in bad.output

    added = event.replace(
        '    {"name": "case_id"',
        '    {"name": "note", "type": ["null", "string"], "default": null},\n    {"name": "case_id"',
        1,
    )
    added = event.replace(
        '{"name": "key_person_reasons"',
        '{"name": "note", "type": ["null", "string"], "default": null},\n    {"name": "key_person_reasons"',
        1,
    )
    assert added != event
    target.write_text(added)
    good = runner.invoke(app, ["schemas", "check", "--repo", str(tmp_path)])
    assert good.exit_code == 0, good.output


def test_bench_replay_prints_replay_and_raw_read_rates() -> None:
    import json

    r = runner.invoke(app, ["bench", "--replay", "--events", "300", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["records"] >= 300 and result["cases"] > 10
    assert result["replay"]["events_per_s"] > 0 and result["raw"]["records_per_s"] > 0
    rates = result["replay"]["events_per_s"] / result["raw"]["records_per_s"]
    assert result["ratio"] == pytest.approx(rates, 0.01)


def test_connectors_list_shows_every_built_in_connector() -> None:
    r = runner.invoke(app, ["connectors", "list", "--json"])
    assert r.exit_code == 0, r.output
    names = {row["name"]: row["kind"] for row in json.loads(r.output)}
    assert names == {
        "http-gateway": "source",
        "spreadsheet": "source",
        "sql-read-model": "sink",
        "webhook": "sink",
    }


def test_a_connector_config_is_refused_field_by_field(tmp_path: Path) -> None:
    cfg = tmp_path / "webhook.yaml"
    cfg.write_text("endpoints:\n  - agency: qs-jo-1\n    url: ftp://x\n    secret: short\nbogus: 1\n")
    r = runner.invoke(app, ["connectors", "run", "webhook", "--config", str(cfg)])
    assert r.exit_code == 2
    assert "bogus" in r.output and "endpoints.0.url" in r.output


def test_an_unknown_connector_is_named_with_the_installed_ones() -> None:
    r = runner.invoke(app, ["connectors", "run", "nope"])
    assert r.exit_code == 2 and "no connector named 'nope'" in r.output and "webhook" in r.output
