"""Alembic environment shared by the core stream and every plugin stream.

``core.migrate`` passes the connection, target metadata and version table through
``config.attributes``; streams are independent: each keeps its own version table.
"""

from __future__ import annotations

from alembic import context

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=config.attributes.get("target_metadata"),
    version_table=config.attributes.get("version_table", "alembic_version"),
    render_as_batch=connection.dialect.name == "sqlite",
    # SQLite DDL is transactional once core.db turns pysqlite's own handling off.
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
