"""Customer Insights' migration stream builds the tables its models describe."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect

from core.migrate import upgrade_plugin
from plugins import customer_insights
from plugins.customer_insights.models import Base


def test_the_migration_stream_creates_every_index_the_models_declare(tmp_path: Path) -> None:
    # A database of its own: the suite's shared one may hold the tables of an earlier test.
    engine = create_engine(f"sqlite:///{tmp_path / 'insights.db'}")
    versions = Path(customer_insights.deskhost_migrations())
    with engine.begin() as connection:
        upgrade_plugin(connection, "customer_insights", versions)

    schema = inspect(engine)
    for table in Base.metadata.sorted_tables:
        built = {
            index["name"]: tuple(index["column_names"]) for index in schema.get_indexes(table.name)
        }
        declared = {
            index.name: tuple(column.name for column in index.columns) for index in table.indexes
        }
        assert declared.items() <= built.items(), table.name
    engine.dispose()
