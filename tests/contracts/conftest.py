"""What the contract tests share: a PostgreSQL server to run the PostgreSQL implementations on.

The server at 127.0.0.1:5432, database ``test``, trust auth as ``postgres`` or ``root`` (as
`tests/integration/test_ledger_postgres.py`); ``FENGQIAO_TEST_PG_URL`` names another. Each test gets
its own schema, dropped afterwards, so parallel runs do not meet; the PostgreSQL cases are skipped with
the reason when no server answers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from functools import cache

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@cache
def pg_server() -> tuple[str | None, str]:
    """(URL of a PostgreSQL that answers, "") or (None, why not); asked once per run."""
    candidates = (
        [os.environ["FENGQIAO_TEST_PG_URL"]]
        if os.environ.get("FENGQIAO_TEST_PG_URL")
        else [f"postgresql+psycopg://{user}@127.0.0.1:5432/test" for user in ("postgres", "root")]
    )
    why = []
    for url in candidates:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.execute(text("select 1"))
            return url, ""
        except Exception as e:  # no server, no database, no role: all mean "skip"
            why.append(
                f"{make_url(url).render_as_string(hide_password=True)}: {type(e).__name__}: {e}".strip()
            )
        finally:
            engine.dispose()
    return None, "no PostgreSQL answers: " + "; ".join(why)


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
