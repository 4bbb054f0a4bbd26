"""The ledger's tests again, on PostgreSQL (production's store): every case of `tests/unit/test_ledger.py`.

Each test gets its own schema (dropped afterwards) on the server at 127.0.0.1:5432, database ``test``,
trust auth as ``postgres`` or ``root``; ``FENGQIAO_TEST_PG_URL`` names another server. Skipped with the
reason when no server answers.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import pg_server
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fengqiao.streams.ledger import Ledger

pytestmark = pytest.mark.integration


URL, WHY = pg_server()
if URL is None:
    pytest.skip(WHY, allow_module_level=True)


def _unit_cases() -> Any:
    path = Path(__file__).parents[1] / "unit" / "test_ledger.py"
    spec = importlib.util.spec_from_file_location("ledger_cases_for_postgres", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_cases = _unit_cases()
globals().update({name: f for name, f in vars(_cases).items() if name.startswith("test_")})
led = _cases.led  # the three-chain fixture, built on this module's make_ledger
suite_cls = _cases.suite_cls  # each test under both suites, sha256-ed25519 and sm3-sm2


@pytest.fixture
def make_ledger(suite_cls: Any) -> Iterator[Any]:
    """``make_ledger(suite=...)``: ledgers in a fresh schema, on the search_path (raw SQL needs no prefix)."""
    assert URL is not None
    schema = f"fq_ledger_{uuid.uuid4().hex[:12]}"
    admin = create_engine(URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(URL)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    made: list[Ledger] = []

    def make(suite: Any = "default") -> Ledger:
        s = suite_cls.generate() if suite == "default" else suite
        ledger = Ledger(url, s, schema=schema)
        made.append(ledger)
        return ledger

    try:
        yield make
    finally:
        for ledger in made:
            ledger.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_two_records_at_one_offset_once_the_constraint_is_gone(make_ledger: Any) -> None:
    """Only PostgreSQL lets an intruder drop the unique constraint: a second row at one offset is named."""
    ledger = make_ledger()
    ledger.append(_cases.chain("fq.release", 0, range(5)))
    _cases.sql(ledger, "ALTER TABLE ledger_records DROP CONSTRAINT uq_ledger_records_position")
    _cases.forge(
        ledger, _cases.rec("fq.release", 0, 3, value=b"forged"), prev=_cases.row(ledger, "fq.release", 0, 2)
    )
    _cases.assert_problem(ledger.verify(), "inserted", "fq.release", 0, 3)
