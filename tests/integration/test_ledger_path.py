"""The ledger behind the running hub: accepted means archived, replay equals live, tampering is named."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import run_cli

from fengqiao.cli.common import open_codec as _codec
from fengqiao.hub import Hub
from fengqiao.scenario import demo_events
from fengqiao.settings import Settings
from fengqiao.streams.crypto import load_or_create_key
from fengqiao.streams.ledger import Ledger
from fengqiao.streams.replay import ledger_records, replay

pytestmark = pytest.mark.integration


def _cli(settings: Settings, *args: str, stdin: str | None = None, data_dir: Path | None = None) -> Any:
    return run_cli(data_dir or settings.data_dir, *args, stdin=stdin)


def _events(prefix: str) -> list[dict]:
    out = []
    for e in demo_events(1):
        if e["subject"].startswith("XS-2026-0001"):
            e = json.loads(json.dumps(e))
            e["subject"] = e["data"]["case_id"] = f"{prefix}-1"
            e["id"] = f"{prefix}-{uuid.uuid4().hex[:8]}"
            out.append(e)
    return out


def test_an_accepted_event_is_already_in_the_ledger(hub: Hub, hub_settings: Settings) -> None:
    events = _events("LED")
    r = _cli(
        hub_settings, "publish", "-", stdin="".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
    )
    assert r.returncode == 0, r.stderr
    accepted = r.stdout.split()
    assert accepted == [e["id"] for e in events]
    with Ledger(hub_settings.ledger_url) as ledger:  # no waiting: "accepted" was said after the ledger had it
        assert all(ledger.find_event(i) is not None for i in accepted)


def test_replayed_state_equals_live_state(hub: Hub, hub_settings: Settings) -> None:
    _cli(
        hub_settings,
        "publish",
        "-",
        stdin="".join(json.dumps(e, ensure_ascii=False) + "\n" for e in _events("RPL")),
    )
    codec = _codec(hub_settings)
    deadline = time.monotonic() + 120  # generous: a loaded machine is slow, not wrong
    while True:
        live = {c["case_id"]: c for c in httpx.get(f"{hub.endpoints.workers[0]}/cases/", timeout=30).json()}
        with Ledger(hub_settings.ledger_url) as ledger:
            replayed = replay(ledger_records(ledger, codec.catalogue), codec)
        if replayed == live or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # the archiver trails the workers by a moment; compare again
    assert "RPL-1" in live and len(live) >= 2
    different = sorted(k for k in live.keys() | replayed.keys() if live.get(k) != replayed.get(k))
    detail = {
        k: [f for f in live.get(k, {}) if live.get(k, {}).get(f) != replayed.get(k, {}).get(f)]
        for k in different
    }
    assert different == [], detail


def _copy_ledger(src: Settings, dst: Path) -> None:
    """A consistent copy of the live SQLite ledger (and the key), for tampering with."""
    dst.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src.data_dir / "ledger.db") as a, sqlite3.connect(dst / "ledger.db") as b:
        a.backup(b)
    (dst / "ledger-key.pem").write_bytes(src.key_file.read_bytes())
    (dst / "registry.db").write_bytes((src.data_dir / "registry.db").read_bytes())


def test_audit_verify_passes_then_names_an_altered_record(
    hub: Hub, hub_settings: Settings, tmp_path: Path
) -> None:
    suite = load_or_create_key(hub_settings.key_file, hub_settings.ledger_suite)
    with Ledger(hub_settings.ledger_url, suite) as ledger:
        ledger.checkpoint()
    copy = tmp_path / "audit"
    _copy_ledger(hub_settings, copy)
    ok = _cli(hub_settings, "audit", "verify", data_dir=copy)
    assert ok.returncode == 0 and "PASS" in ok.stdout, ok.stdout + ok.stderr
    with sqlite3.connect(copy / "ledger.db") as db:
        # The deployment's suite (FENGQIAO_CRYPTO_SUITE=gm runs this on SM3/SM2) is the recorded one.
        (recorded,) = db.execute("SELECT value FROM ledger_meta WHERE name = 'suite'").fetchone()
        assert recorded == hub_settings.ledger_suite
        topic, partition, offset, value = db.execute(
            'SELECT topic, partition, "offset", value FROM ledger_records WHERE value IS NOT NULL '
            "ORDER BY id LIMIT 1 OFFSET 3"
        ).fetchone()
        tampered = bytes(value[:-1]) + bytes([value[-1] ^ 1])
        db.execute(
            'UPDATE ledger_records SET value = ? WHERE topic = ? AND partition = ? AND "offset" = ?',
            (tampered, topic, partition, offset),
        )
    bad = _cli(hub_settings, "audit", "verify", data_dir=copy)
    assert bad.returncode == 1
    assert f"{topic}" in bad.stderr and f"offset {offset}" in bad.stderr, bad.stderr


def test_audit_case_renders_the_handoffs_for_an_auditor(
    hub: Hub, hub_settings: Settings, tmp_path: Path
) -> None:
    _cli(
        hub_settings,
        "publish",
        "-",
        stdin="".join(json.dumps(e, ensure_ascii=False) + "\n" for e in _events("AUD")),
    )
    page = tmp_path / "case.html"
    deadline = time.monotonic() + 120  # generous: a loaded machine is slow, not wrong
    while True:
        r = _cli(hub_settings, "audit", "case", "AUD-1", "--out", str(page))
        if (r.returncode == 0 and "release.report" in page.read_text()) or time.monotonic() > deadline:
            break
        time.sleep(0.2)  # until the archiver has the hub's decisions too
    assert r.returncode == 0, r.stderr
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in html
    for text in ("release.acknowledge", "release.report", "青山镇司法所", "按时完成"):
        assert text in html, text
    csv_out = _cli(hub_settings, "audit", "case", "AUD-1", "--format", "csv")
    assert csv_out.returncode == 0 and "ReleaseNoticeIssued" in csv_out.stdout


def test_dead_letters_can_be_listed_shown_and_replayed_fixed(
    hub: Hub, hub_settings: Settings, tmp_path: Path
) -> None:
    [good] = _events("DLR")[:1]
    bad = json.loads(json.dumps(good))
    bad["id"] = f"{good['id']}-raw"
    assert hub.codec is not None
    from fengqiao.connectors.cloudevents_json import parse
    from fengqiao.streams import topics
    from fengqiao.streams.publisher import Publisher

    acc = parse(hub.codec, bad)

    async def send_with_wrong_key() -> None:
        async with Publisher(hub.bootstrap, hub.codec) as pub:  # the key disagrees with ce_subject
            await pub.send_raw(
                topics.workflow_topic("release"),
                hub.codec.encode(acc.envelope.type, acc.record),
                b"WRONG-KEY",
                acc.envelope.to_headers(),
            )

    import asyncio

    asyncio.run(send_with_wrong_key())
    deadline = time.monotonic() + 120  # generous: a loaded machine is slow, not wrong
    while True:
        listed = _cli(hub_settings, "deadletters", "list")
        if (
            "WRONG-KEY" in listed.stdout
            or "case id disagrees" in listed.stdout
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    assert "case id disagrees" in listed.stdout, listed.stdout + listed.stderr
    with Ledger(hub_settings.ledger_url) as ledger:
        dead = [r for r in ledger.read(topics=[topics.DEAD_LETTERS]) if r.key == b"WRONG-KEY"]
    dead_id = dead[-1].event_id
    shown = _cli(hub_settings, "deadletters", "show", dead_id)
    assert shown.returncode == 0 and "case id disagrees" in shown.stdout
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(good, ensure_ascii=False))
    again = _cli(hub_settings, "deadletters", "replay", dead_id, "--fixed", str(fixed))
    assert again.returncode == 0, again.stderr
    with Ledger(hub_settings.ledger_url) as ledger:
        republished = ledger.find_event(good["id"])
    assert republished is not None and republished.causation_id == dead_id
