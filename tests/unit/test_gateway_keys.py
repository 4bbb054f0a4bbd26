"""API keys: shown once, stored only hashed, refused by name when unknown or revoked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fengqiao.cli_gateway import gateway_app
from fengqiao.connectors.gateway.keys import KeyRefused, KeyStore, digest


def test_a_key_is_stored_only_as_its_hash(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.db")
    record, key = store.add("qs-jo-1")
    other = store.add("qs-jo-1")[1]
    assert key != other and key.startswith(f"fq_{record.key_id}_") and len(key) > 40
    assert store.verify(key).agency_id == "qs-jo-1"
    assert store.verify(f" {key}\n").key_id == record.key_id  # pasted with whitespace
    rows = sqlite3.connect(tmp_path / "keys.db").execute("SELECT * FROM api_keys").fetchall()
    stored = " ".join(str(v) for row in rows for v in row)
    secret = key.removeprefix(f"fq_{record.key_id}_")  # the secret itself may contain "_"
    assert key not in stored and secret not in stored
    assert digest(key) in stored


def test_unknown_and_revoked_keys_name_their_rule(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.db")
    record, key = store.add("qs-ps-1")
    with pytest.raises(KeyRefused) as e:
        store.verify("fq_00000000_guess")
    assert e.value.rule == "api-key-unknown"
    revoked = store.revoke(record.key_id)
    assert revoked is not None and revoked.revoked
    assert store.revoke(record.key_id) == revoked  # again: the first revocation stands
    assert store.revoke("nope") is None
    with pytest.raises(KeyRefused) as e:
        store.verify(key)
    assert e.value.rule == "api-key-revoked" and record.key_id in e.value.reason
    assert [k.key_id for k in store.list()] == [record.key_id]


def test_cli_prints_a_new_key_once_and_never_again(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(gateway_app, ["keys", "add", "qs-jo-1", "--data-dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("fq_") and "\n" not in key  # stdout holds the key alone: KEY=$(...)
    key_id = key.split("_")[1]
    listed = runner.invoke(gateway_app, ["keys", "list", "--data-dir", str(tmp_path)])
    assert key_id in listed.stdout and "qs-jo-1" in listed.stdout and key not in listed.stdout
    revoked = runner.invoke(gateway_app, ["keys", "revoke", key_id, "--data-dir", str(tmp_path)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    with pytest.raises(KeyRefused):
        KeyStore(tmp_path / "gateway" / "keys.db").verify(key)


def test_cli_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(gateway_app, ["keys", "add", "no-such-office", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "no-such-office" in r.output and "agencies.yaml" in r.output
    r = runner.invoke(gateway_app, ["keys", "revoke", "deadbeef", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "deadbeef" in r.output
