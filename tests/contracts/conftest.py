"""What the contract tests share: a PostgreSQL server to run the PostgreSQL implementations on.

The server at 127.0.0.1:5432, database ``test``, trust auth as ``postgres`` or ``root`` (as
`tests/integration/test_ledger_postgres.py`); ``FENGQIAO_TEST_PG_URL`` names another. Each test gets
its own schema, dropped afterwards, so parallel runs do not meet; the PostgreSQL cases are skipped with
the reason when no server answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from helpers import pg_server
from sqlalchemy import create_engine, text


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """(server URL, a fresh schema on it), the schema dropped afterwards; skips without a server."""
    url, why = pg_server()
    if url is None:
        pytest.skip(why)
    schema = f"fq_contract_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
