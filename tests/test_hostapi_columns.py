"""``hostapi.columns.UTCDateTime``: a time kept in an extension's own table reads back as the
same aware UTC instant on SQLite (which stores no time zone) and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import StatementError

from core.host import Host
from hostapi.columns import UTCDateTime

TOKYO = timezone(timedelta(hours=9))


@pytest.fixture
def reminders(host: Host) -> Iterator[Table]:
    table = Table(
        "hostapi_columns_test_reminder",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("due_at", UTCDateTime()),
    )
    table.create(host.engine)
    try:
        yield table
    finally:
        table.drop(host.engine)


def test_a_time_reads_back_as_the_same_instant_in_utc(host: Host, reminders: Table) -> None:
    written = datetime(2026, 12, 7, 9, 30, tzinfo=TOKYO)
    with host.engine.begin() as connection:
        connection.execute(insert(reminders), [{"id": 1, "due_at": written}])
        read = connection.scalar(select(reminders.c.due_at))

    assert read == written
    assert read.tzinfo == UTC
    assert read.hour == 0 and read.minute == 30


def test_a_naive_time_is_refused_when_written(host: Host, reminders: Table) -> None:
    with host.engine.begin() as connection, pytest.raises(StatementError, match="naive"):
        connection.execute(insert(reminders), [{"id": 1, "due_at": datetime(2026, 12, 7, 9)}])
    with host.engine.connect() as connection:
        assert connection.scalar(select(reminders.c.id)) is None


def test_the_column_says_it_holds_datetimes() -> None:
    assert UTCDateTime().python_type is datetime
