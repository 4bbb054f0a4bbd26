"""API keys: shown once, stored only hashed, refused by name when unknown, revoked or expired;
rotated with an overlap; last use listed; an older store migrated."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fengqiao.cli.gateway import gateway_app
from fengqiao.connectors.gateway.keys import KeyRefused, KeyStore, digest, parse_expiry


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


class Now:
    """A settable wall clock for the store (expiry, last use)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


def test_a_key_expires_and_is_refused_by_name(tmp_path: Path) -> None:
    now = Now()
    store = KeyStore(tmp_path / "keys.db", clock=now)
    record, key = store.add("qs-jo-1", expires_at=parse_expiry("90d", now()))
    assert record.expires_at == now() + timedelta(days=90)
    assert store.verify(key).key_id == record.key_id
    now.at += timedelta(days=90)
    with pytest.raises(KeyRefused) as e:
        store.verify(key)
    assert e.value.rule == "api-key-expired" and record.key_id in e.value.reason
    assert "2027-03-07 08:00" in e.value.reason
    assert store.list()[0].status(now()) == "expired"


def test_expiry_is_a_span_a_local_date_or_an_instant() -> None:
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert parse_expiry("90d", now) == now + timedelta(days=90)
    assert parse_expiry("2w", now) == now + timedelta(weeks=2)
    assert parse_expiry("12h", now) == now + timedelta(hours=12)
    # A date: the key works through that day, Beijing time (24:00 +08:00 = 16:00 UTC).
    assert parse_expiry("2027-03-31", now) == datetime(2027, 3, 31, 16, 0, tzinfo=UTC)
    assert parse_expiry("2027-03-31T18:00+08:00", now) == datetime(2027, 3, 31, 10, 0, tzinfo=UTC)
    for bad in ("90", "0d", "９０d", "soon", "2027-03-31T18:00", "-5d"):
        with pytest.raises(ValueError):
            parse_expiry(bad, now)


def test_rotation_overlaps_then_the_old_key_expires(tmp_path: Path) -> None:
    now = Now()
    store = KeyStore(tmp_path / "keys.db", clock=now)
    old, old_key = store.add("qs-ps-1")
    rotated = store.rotate(old.key_id, timedelta(days=7), expires_at=now() + timedelta(days=90))
    assert rotated is not None
    before, new, new_key = rotated
    assert before.expires_at == now() + timedelta(days=7) and new.agency_id == "qs-ps-1"
    # During the overlap both keys of the agency work.
    assert {store.verify(old_key).key_id, store.verify(new_key).key_id} == {old.key_id, new.key_id}
    now.at += timedelta(days=7)
    with pytest.raises(KeyRefused, match="api-key-expired"):
        store.verify(old_key)
    assert store.verify(new_key).agency_id == "qs-ps-1"
    # Rotating never lengthens a key's life: an earlier expiry stands.
    short, _ = store.add("qs-ps-1", expires_at=now() + timedelta(hours=1))
    again = store.rotate(short.key_id, timedelta(days=30))
    assert again is not None and again[0].expires_at == now() + timedelta(hours=1)
    assert store.rotate("nope", timedelta(days=1)) is None


def test_last_use_is_listed_and_written_at_most_once_a_minute(tmp_path: Path) -> None:
    now = Now()
    store = KeyStore(tmp_path / "keys.db", clock=now)
    record, key = store.add("qs-jo-1")
    assert store.get(record.key_id).last_used_at is None  # type: ignore[union-attr]
    first = now()
    store.verify(key)
    now.at += timedelta(seconds=59)
    store.verify(key)  # within the minute: no write
    reader = KeyStore(tmp_path / "keys.db")  # another process, e.g. `keys list`
    assert reader.list()[0].last_used_at == first
    now.at += timedelta(seconds=1)
    store.verify(key)
    assert reader.list()[0].last_used_at == first + timedelta(seconds=60)
    with pytest.raises(KeyRefused):
        store.verify("fq_00000000_guess")  # a failure is no use
    assert reader.list()[0].last_used_at == first + timedelta(seconds=60)


def test_a_key_store_of_an_older_hub_is_migrated_on_open(tmp_path: Path) -> None:
    path = tmp_path / "keys.db"
    old = sqlite3.connect(path)
    old.execute(  # the table as the first release made it: no expiry, no last use
        "CREATE TABLE api_keys (key_id TEXT PRIMARY KEY, agency_id TEXT NOT NULL, "
        "sha256 TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT)"
    )
    key = "fq_0badc0de_" + "s" * 43
    old.execute(
        "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
        ("0badc0de", "qs-jo-1", digest(key), "2026-01-05T02:00:00+00:00"),
    )
    old.commit()
    old.close()
    store = KeyStore(path)
    found = store.verify(key)
    assert found.key_id == "0badc0de" and found.expires_at is None and found.revoked_at is None
    assert store.list()[0].last_used_at is not None
    record, new_key = store.add("qs-jo-1", expires_at=store.now() + timedelta(days=1))
    assert store.verify(new_key).expires_at == record.expires_at
    store.close()
    KeyStore(path).close()  # opening again: nothing left to add
    columns = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(api_keys)")]
    assert columns[-2:] == ["expires_at", "last_used_at"]


def test_cli_adds_with_expiry_rotates_and_lists_state_and_last_use(tmp_path: Path) -> None:
    runner = CliRunner()
    d = ["--data-dir", str(tmp_path)]
    made = runner.invoke(gateway_app, ["keys", "add", "qs-jo-1", "--expires", "90d", *d])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    old_id = key.split("_")[1]
    store = KeyStore(tmp_path / "gateway" / "keys.db")
    store.verify(key)
    rotated = runner.invoke(gateway_app, ["keys", "rotate", old_id, "--overlap", "2d", *d])
    assert rotated.exit_code == 0, rotated.output
    new_key = rotated.stdout.strip()
    assert new_key.startswith("fq_") and new_key != key and "\n" not in new_key
    assert store.verify(key).agency_id == store.verify(new_key).agency_id == "qs-jo-1"
    listed = runner.invoke(gateway_app, ["keys", "list", *d], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    assert old_id in listed.stdout and new_key.split("_")[1] in listed.stdout
    assert listed.stdout.count("有效") == 2  # both work during the overlap
    assert listed.stdout.count(f"{store.now():%Y-%m-%d}") >= 4  # created and last used, each key
    unused = runner.invoke(gateway_app, ["keys", "add", "qs-ps-1", *d])
    assert unused.exit_code == 0
    assert "未使用" in runner.invoke(gateway_app, ["keys", "list", *d]).stdout
    assert key not in listed.stdout and new_key not in listed.stdout
    for bad in (
        ["keys", "add", "qs-jo-1", "--expires", "soon"],
        ["keys", "add", "qs-jo-1", "--expires", "2020-01-01"],
    ):
        r = runner.invoke(gateway_app, [*bad, *d])
        assert r.exit_code == 2 and "--expires" in r.output, r.output
    r = runner.invoke(gateway_app, ["keys", "rotate", "deadbeef", *d])
    assert r.exit_code == 2 and "deadbeef" in r.output
