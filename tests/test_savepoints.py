"""Savepoints on PostgreSQL go to the server with the statement after them (``core.savepoints``),
and behave exactly as savepoints sent one by one: what a rolled-back savepoint wrote is gone,
a released one's writes stay, a failing statement inside one leaves the transaction usable
after rolling back to it, and one nothing ran inside never reaches the server."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from core.db import make_engine
from core.host import Host


@pytest.fixture
def engine(host: Host) -> Iterator[Engine]:
    """An engine of the test database, with a table of its own (PostgreSQL only)."""
    if host.engine.dialect.name != "postgresql":
        pytest.skip("savepoints wait for the next statement on PostgreSQL only")
    engine = make_engine(host.engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS savepoint_probe (id int PRIMARY KEY, note text)"
        )
        connection.exec_driver_sql("TRUNCATE savepoint_probe")
    yield engine
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE savepoint_probe")
    engine.dispose()


def _insert(connection: Connection, row_id: int) -> None:
    connection.execute(text("INSERT INTO savepoint_probe VALUES (:id, 'x')"), {"id": row_id})


def _ids(connection: Connection) -> list[int]:
    return list(connection.scalars(text("SELECT id FROM savepoint_probe ORDER BY id")))


@contextmanager
def _wire(connection: Connection) -> Iterator[list[str]]:
    """The messages the driver exchanges with the server meanwhile (libpq's trace), one line
    each: after the block, ``F`` lines were sent, ``B`` lines received."""
    driver = connection.connection.dbapi_connection
    lines: list[str] = []
    with tempfile.TemporaryFile() as trace:
        driver.pgconn.trace(trace.fileno())  # type: ignore[union-attr]
        try:
            yield lines
        finally:
            driver.pgconn.untrace()  # type: ignore[union-attr]
            trace.seek(0)
            lines.extend(trace.read().decode().splitlines())


def _round_trips(lines: list[str]) -> int:
    """How many times the driver waited for the server: one ReadyForQuery each."""
    return sum("\tB\t" in line and "ReadyForQuery" in line for line in lines)


def test_a_rolled_back_savepoint_undoes_its_writes_and_a_released_one_keeps_them(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        _insert(connection, 1)
        kept = connection.begin_nested()
        _insert(connection, 2)
        kept.commit()
        undone = connection.begin_nested()
        _insert(connection, 3)
        undone.rollback()
        _insert(connection, 4)

    with engine.connect() as connection:
        assert _ids(connection) == [1, 2, 4]


def test_a_failing_statement_inside_a_savepoint_leaves_the_transaction_usable(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        _insert(connection, 1)
        nested = connection.begin_nested()
        with pytest.raises(IntegrityError):
            _insert(connection, 1)  # the duplicate goes to the server with the SAVEPOINT
        nested.rollback()
        _insert(connection, 2)

    with engine.connect() as connection:
        assert _ids(connection) == [1, 2]


def test_nested_savepoints_roll_back_from_the_inside_out(engine: Engine) -> None:
    with engine.begin() as connection:
        outer = connection.begin_nested()
        _insert(connection, 1)
        inner = connection.begin_nested()
        _insert(connection, 2)
        inner.commit()  # released: its RELEASE waits for the next statement
        outer.rollback()  # undoes the inner savepoint's writes too
        _insert(connection, 3)

    with engine.connect() as connection:
        assert _ids(connection) == [3]


def test_a_savepoint_goes_with_the_statement_after_it_and_its_release_with_the_next(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        _insert(connection, 1)
        with _wire(connection) as sent:
            nested = connection.begin_nested()
            _insert(connection, 2)
            nested.commit()
            _insert(connection, 3)

    assert _round_trips(sent) == 2
    assert sum("SAVEPOINT" in line and "\tF\t" in line for line in sent) == 2
    with engine.connect() as connection:
        assert _ids(connection) == [1, 2, 3]


def test_a_savepoint_nothing_ran_in_never_reaches_the_server(engine: Engine) -> None:
    with engine.begin() as connection:
        _insert(connection, 1)
        with _wire(connection) as sent:
            for _ in range(3):
                connection.begin_nested().commit()
            connection.begin_nested().rollback()

    assert sent == []


def test_a_statement_streaming_its_rows_runs_after_the_savepoint_before_it(engine: Engine) -> None:
    with engine.begin() as connection:
        _insert(connection, 1)
        nested = connection.begin_nested()
        streamed = connection.execute(
            text("SELECT id FROM savepoint_probe").execution_options(stream_results=True)
        )
        assert list(streamed.scalars()) == [1]
        _insert(connection, 2)
        nested.rollback()

    with engine.connect() as connection:
        assert _ids(connection) == [1]


def test_a_transaction_ending_with_releases_waiting_commits_everything(engine: Engine) -> None:
    with engine.begin() as connection:
        first = connection.begin_nested()
        _insert(connection, 1)
        second = connection.begin_nested()
        _insert(connection, 2)
        second.commit()
        first.commit()  # both RELEASEs still wait: COMMIT ends the savepoints itself

    with engine.connect() as connection:
        assert _ids(connection) == [1, 2]


def test_statements_without_parameters_may_hold_several_after_a_savepoint(
    engine: Engine,
) -> None:
    with engine.begin() as connection:
        nested = connection.begin_nested()
        connection.exec_driver_sql(
            "INSERT INTO savepoint_probe VALUES (1, 'a');"
            " INSERT INTO savepoint_probe VALUES (2, 'b')"
        )
        nested.commit()

    with engine.connect() as connection:
        assert _ids(connection) == [1, 2]
