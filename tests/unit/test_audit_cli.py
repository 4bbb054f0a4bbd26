"""`fengqiao audit verify` on a ledger someone tampered with: each kind of change is detected and named,
under either suite (``sha256-ed25519`` or the 国密 ``sm3-sm2``), the one the ledger records."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fengqiao.cli import app
from fengqiao.scenario.simulate import bench_codec, build_ledger
from fengqiao.streams.crypto import export_public_key, load_or_create_key
from fengqiao.streams.ledger import Ledger

runner = CliRunner()


@pytest.fixture(params=["sha256-ed25519", "sm3-sm2"])
def ledger_dir(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A hub's data folder (key, ledger) and its exported public key, under each suite (国密 included)."""
    suite = load_or_create_key(tmp_path / "ledger-key.pem", request.param)
    with Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", suite) as ledger:
        build_ledger(ledger, bench_codec(), 200, lambda m: None)
        ledger.checkpoint()
    export_public_key(suite, tmp_path / "hub-public.pem")
    return tmp_path


def _verify(d: Path) -> tuple[int, str]:
    r = runner.invoke(
        app, ["audit", "verify", "--data-dir", str(d), "--public-key", str(d / "hub-public.pem")]
    )
    return r.exit_code, r.output


def _chain(db: sqlite3.Connection) -> tuple[str, int]:
    """The longest chain (topic, partition): the tampering happens in its middle."""
    return db.execute(
        "SELECT topic, partition FROM ledger_records GROUP BY topic, partition ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()


def _middle(db: sqlite3.Connection) -> tuple[int, int, int]:
    """(id, partition, offset) of a record in the middle of the longest chain."""
    topic, partition = _chain(db)
    return db.execute(
        'SELECT id, partition, "offset" FROM ledger_records WHERE topic = ? AND partition = ? '
        'ORDER BY "offset" LIMIT 1 OFFSET 10',
        (topic, partition),
    ).fetchone()


def _alter(db: sqlite3.Connection) -> str:
    rid, _, o = _middle(db)
    db.execute("UPDATE ledger_records SET value = CAST(value || X'00' AS BLOB) WHERE id = ?", (rid,))
    return f"offset {o}"


def _remove(db: sqlite3.Connection) -> str:
    rid, _, o = _middle(db)
    db.execute("DELETE FROM ledger_records WHERE id = ?", (rid,))
    return f"offset {o}"


def _insert(db: sqlite3.Connection) -> str:
    rid, p, o = _middle(db)
    topic = _chain(db)[0]
    db.execute(
        'UPDATE ledger_records SET "offset" = "offset" + 1000000 WHERE topic = ? AND partition = ? '
        'AND "offset" > ?',
        (topic, p, o),
    )  # make room after the record, keep the chain's links
    cols = [c[1] for c in db.execute("PRAGMA table_info(ledger_records)") if c[1] != "id"]
    names = ", ".join(f'"{c}"' for c in cols)
    values = names.replace('"offset"', '"offset" + 1')  # a copy of the record, one place further on
    db.execute(
        f"INSERT INTO ledger_records ({names}) SELECT {values} FROM ledger_records WHERE id = ?", (rid,)
    )
    db.execute(
        'UPDATE ledger_records SET "offset" = "offset" - 1000000 + 1 WHERE topic = ? AND partition = ? '
        'AND "offset" > 1000000',
        (topic, p),
    )
    return f"offset {o + 1}"


def _swap(db: sqlite3.Connection) -> str:
    rid, p, o = _middle(db)
    a = db.execute("SELECT value FROM ledger_records WHERE id = ?", (rid,)).fetchone()[0]
    other = db.execute(
        'SELECT id, value FROM ledger_records WHERE topic = ? AND partition = ? AND "offset" = ?',
        (_chain(db)[0], p, o + 1),
    ).fetchone()
    db.execute("UPDATE ledger_records SET value = ? WHERE id = ?", (other[1], rid))
    db.execute("UPDATE ledger_records SET value = ? WHERE id = ?", (a, other[0]))
    return f"offset {o}"


def _forge_checkpoint(db: sqlite3.Connection) -> str:
    sig = db.execute("SELECT signature FROM ledger_checkpoints ORDER BY id DESC LIMIT 1").fetchone()[0]
    db.execute(
        "UPDATE ledger_checkpoints SET signature = ? WHERE id = (SELECT MAX(id) FROM ledger_checkpoints)",
        (bytes([sig[0] ^ 1]) + bytes(sig[1:]),),
    )
    return "checkpoint"


def test_an_untouched_ledger_passes(ledger_dir: Path) -> None:
    code, output = _verify(ledger_dir)
    assert code == 0 and output.startswith("PASS"), output


def test_an_auditors_copy_without_the_private_key_passes_with_the_public_key(ledger_dir: Path) -> None:
    """The auditor's folder has the ledger and the exported public key only: the suite comes from the
    ledger's own record, whichever it is."""
    (ledger_dir / "ledger-key.pem").unlink()
    code, output = _verify(ledger_dir)
    assert code == 0 and output.startswith("PASS"), output
    with sqlite3.connect(ledger_dir / "ledger.db") as db:
        _forge_checkpoint(db)
    code, output = _verify(ledger_dir)
    assert code == 1 and "forged" in output, output


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        (_alter, "altered"),
        (_remove, "removed"),
        (_insert, "inserted"),
        (_swap, "reordered"),
        (_forge_checkpoint, "forged"),
    ],
)
def test_tampering_is_detected_and_named(
    ledger_dir: Path, tamper: Callable[[sqlite3.Connection], str], kind: str
) -> None:
    with sqlite3.connect(ledger_dir / "ledger.db") as db:
        topic, partition = _chain(db)
        where = tamper(db)
    code, output = _verify(ledger_dir)
    assert code == 1, output
    assert kind in output and where in output, output
    if where != "checkpoint":
        assert f"{topic}/{partition}" in output, output
