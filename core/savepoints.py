"""Savepoints on PostgreSQL without round trips of their own.

Every extension hook that runs inside a change gets a savepoint, so that its failure undoes
only its own writes (``core.plugins.manager``). On PostgreSQL a ``SAVEPOINT`` and its
``RELEASE`` each cost a round trip to the server: about a third of what keeping Customer
Insights' figures adds to a reply. Neither needs its answer at once, so here they wait and go
to the server in one pipeline with the next statement:

- ``SAVEPOINT`` waits for the next statement; a savepoint released or rolled back before any
  statement ran inside it never reaches the server at all;
- ``RELEASE`` waits for the next statement, and is dropped at ``COMMIT`` or ``ROLLBACK``,
  which end every savepoint anyway;
- ``ROLLBACK TO SAVEPOINT`` runs at once, with whatever waits before it.

An error of a waiting command is raised by the statement it went with, as the server reports
it; the savepoints stand as they would have. A server-side cursor cannot run in a pipeline: the
commands waiting go first, in a pipeline of their own.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.engine import Connection, Engine

#: The commands waiting on each connection of the driver, in order.
_waiting: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def defer_savepoints(engine: Engine) -> None:
    """Make ``engine``'s savepoints wait for the statement after them (a psycopg engine whose
    libpq has pipelines; any other is left as it is)."""
    dialect = engine.dialect
    if dialect.driver != "psycopg" or not psycopg.Pipeline.is_supported():
        return
    quote = dialect.identifier_preparer.quote
    execute, execute_no_params = dialect.do_execute, dialect.do_execute_no_params
    executemany, commit, rollback = dialect.do_executemany, dialect.do_commit, dialect.do_rollback

    def do_savepoint(connection: Connection, name: str) -> None:
        _commands(connection).append(f"SAVEPOINT {quote(name)}")

    def do_release_savepoint(connection: Connection, name: str) -> None:
        waiting = _commands(connection)
        if waiting and waiting[-1] == f"SAVEPOINT {quote(name)}":
            waiting.pop()  # nothing ran inside it: the server never needs to hear of it
        else:
            waiting.append(f"RELEASE SAVEPOINT {quote(name)}")

    def do_rollback_to_savepoint(connection: Connection, name: str) -> None:
        waiting = _commands(connection)
        if waiting and waiting[-1] == f"SAVEPOINT {quote(name)}":
            waiting.pop()
            return
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            _with_waiting(cursor, lambda: cursor.execute(f"ROLLBACK TO SAVEPOINT {quote(name)}"))
        finally:
            cursor.close()

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        _with_waiting(cursor, lambda: execute(cursor, statement, parameters, context))

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        _with_waiting(cursor, lambda: execute_no_params(cursor, statement, context))

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        _with_waiting(cursor, lambda: executemany(cursor, statement, parameters, context))

    def do_commit(dbapi_connection: Any) -> None:
        _waiting.pop(_driver_connection(dbapi_connection), None)
        commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        _waiting.pop(_driver_connection(dbapi_connection), None)
        rollback(dbapi_connection)

    overrides: dict[str, Callable[..., None]] = {
        "do_savepoint": do_savepoint,
        "do_release_savepoint": do_release_savepoint,
        "do_rollback_to_savepoint": do_rollback_to_savepoint,
        "do_execute": do_execute,
        "do_execute_no_params": do_execute_no_params,
        "do_executemany": do_executemany,
        "do_commit": do_commit,
        "do_rollback": do_rollback,
    }
    for name, override in overrides.items():
        setattr(dialect, name, override)


def _commands(connection: Connection) -> list[str]:
    return _waiting.setdefault(_driver_connection(connection.connection), [])


def _driver_connection(connection: Any) -> Any:
    """The driver's own connection (SQLAlchemy hands some methods a proxy of it)."""
    return getattr(connection, "dbapi_connection", connection)


def _with_waiting(cursor: Any, run: Callable[[], None]) -> None:
    """``run`` the statement on ``cursor``, in one pipeline after the commands waiting."""
    connection = cursor.connection
    waiting = _waiting.pop(connection, None)
    if not waiting:
        run()
        return
    helper = connection.cursor()
    try:
        if getattr(cursor, "name", None):  # a server-side cursor: not in a pipeline
            with connection.pipeline():
                for command in waiting:
                    helper.execute(command)
            run()
            return
        with connection.pipeline():
            for command in waiting:
                helper.execute(command)
            run()
    finally:
        helper.close()
