"""Alembic environment of the read model, driven from code (`store.migrate`): no alembic.ini.

The caller puts an open connection in ``config.attributes["connection"]``; on PostgreSQL its
search_path already names the read model's schema, so everything here is unqualified.
"""

from __future__ import annotations

from alembic import context

from fengqiao.connectors.readmodel.tables import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the read-model migrations with `fengqiao readmodel migrate --url URL`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters a table by copying it
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
