"""Schema migrations: one Alembic stream for the core, one independent stream per plugin.

Each stream keeps its own version table (``alembic_version`` for the core,
``alembic_version_<plugin id>`` for a plugin), so a plugin's schema is installed, upgraded and
dropped without the core's migrations knowing about it.
"""

from __future__ import annotations

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


def upgrade_core(engine: Engine) -> None:
    """Bring the core schema to its head revision."""
    with engine.begin() as connection:
        command.upgrade(
            _config(connection, CORE_MIGRATIONS / "versions", CORE_VERSION_TABLE), "heads"
        )


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
