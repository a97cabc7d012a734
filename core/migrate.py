"""Schema migrations: one Alembic stream for the core, one independent stream per plugin.

Each stream keeps its own version table (``alembic_version`` for the core,
``alembic_version_<plugin id>`` for a plugin), so a plugin's schema is installed, upgraded and
dropped without the core's migrations knowing about it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

CORE_MIGRATIONS = Path(__file__).with_name("migrations")
CORE_VERSION_TABLE = "alembic_version"


def _config(connection: Connection, versions: Path, version_table: str) -> Config:
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(CORE_MIGRATIONS))
    config.set_main_option("version_locations", str(versions))
    config.attributes["connection"] = connection
    config.attributes["version_table"] = version_table
    return config


def plugin_version_table(plugin_id: str) -> str:
    """The version table of a plugin's stream."""
    return f"alembic_version_{plugin_id}"


def upgrade_core(engine: Engine, revision: str = "heads") -> None:
    """Bring the core schema to ``revision`` (its head by default) in one transaction."""
    with (
        engine.connect() as connection,
        _sqlite_foreign_keys_off(connection),
        connection.begin(),
    ):
        command.upgrade(
            _config(connection, CORE_MIGRATIONS / "versions", CORE_VERSION_TABLE), revision
        )
        _refuse_broken_foreign_keys(connection)


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """On SQLite, foreign key enforcement off while migrations rebuild tables.

    Rebuilding a table drops the old copy, and with enforcement on that drop first deletes
    every row, cascading to (or nulling) the rows of other tables that point at them. SQLite's
    documented procedure for altering a table turns enforcement off outside the transaction
    and runs ``PRAGMA foreign_key_check`` before committing, as :func:`upgrade_core` does.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    # The pragma is a no-op inside a transaction: set it on the driver's connection first.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def _refuse_broken_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"the migration left rows pointing at missing rows: {broken[:5]}")


def upgrade_plugin(connection: Connection, plugin_id: str, versions: Path) -> None:
    """Apply a plugin's stream to its head inside the caller's transaction."""
    command.upgrade(_config(connection, versions, plugin_version_table(plugin_id)), "heads")


def downgrade_plugin(connection: Connection, plugin_id: str, versions: Path) -> None:
    """Remove a plugin's tables by taking its stream back to base, then drop its version table."""
    command.downgrade(_config(connection, versions, plugin_version_table(plugin_id)), "base")
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {plugin_version_table(plugin_id)}")


def is_current(engine: Engine) -> bool:
    """True when the database's core schema is at the head revision (``/readyz``)."""
    script = ScriptDirectory.from_config(_script_config())
    heads = set(script.get_heads())
    with engine.connect() as connection:
        current = set(
            MigrationContext.configure(
                connection, opts={"version_table": CORE_VERSION_TABLE}
            ).get_current_heads()
        )
    return current == heads


def _script_config() -> Config:
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(CORE_MIGRATIONS))
    config.set_main_option("version_locations", str(CORE_MIGRATIONS / "versions"))
    return config
