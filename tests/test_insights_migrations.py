"""Customer Insights' migration stream builds the tables its models describe."""

from __future__ import annotations

from sqlalchemy import inspect

from core.host import Host
from core.models import Department
from plugins.customer_insights.models import Base
from tests.insights_helpers import Desk

pytest_plugins = ["tests.insights_fixtures"]


def test_installing_creates_every_index_the_models_declare(
    host: Host, desk: Desk, support: Department
) -> None:
    desk.install([support.id], backfilled=False)

    schema = inspect(host.engine)
    for table in Base.metadata.sorted_tables:
        built = {
            index["name"]: tuple(index["column_names"]) for index in schema.get_indexes(table.name)
        }
        declared = {
            index.name: tuple(column.name for column in index.columns) for index in table.indexes
        }
        assert declared.items() <= built.items(), table.name
